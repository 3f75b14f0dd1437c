// One supervision record in a view of its own: who held it and who attended, the
// notes and the actions agreed. The server shows it only to the supervisor who holds
// it and to those who attended; only that supervisor corrects the notes and adds
// actions, so only they are offered the forms. Anyone else is told the server's
// refusal in its own words (the router shows a 403 or 404 as it comes).

import { request } from '../api.js';
import {
  h, uid, heading, page, section, emptyState, notice, problemMessage, formatDateTime, textField,
} from '../ui.js';
import { actionForm, selectField } from './admin-kit.js';
import { actionItem, recordPeople, recordTitle } from './wellbeing.js';

/** The notes in full, replacing what was there (an empty box clears them). */
function notesForm(ctx, record, onSaved) {
  const id = uid('notes');
  const hintId = `${id}-hint`;
  const notes = h('textarea', {
    id, name: 'notes', class: 'input textarea', rows: '8', 'aria-describedby': hintId,
  });
  notes.value = record.notes || '';
  return actionForm({
    ctx,
    label: 'Correct the notes',
    children: [h('div', { class: 'field' },
      h('label', { for: id, class: 'field__label' }, 'Notes'),
      h('p', { id: hintId, class: 'field__hint' },
        'Seen only by you and those who attended. Saving replaces the notes in full; an empty box clears them.'),
      notes)],
    buttonText: 'Save the notes',
    busyText: 'Saving…',
    action: () => request(`/api/v1/supervision/records/${record.id}`, {
      method: 'PATCH', body: { notes: notes.value.trim() ? notes.value : null }, signal: ctx.signal,
    }),
    done: (saved) => {
      onSaved(saved);
      return `The notes are saved (${formatDateTime(saved.updated_at)}).`;
    },
  }).element;
}

/** An action agreed, owned by someone who was there: an attendee or the supervisor. */
function addActionForm(ctx, record, onAdded) {
  const text = textField({ label: 'What was agreed', name: 'text' });
  text.input.setAttribute('maxlength', '1000');
  const owner = selectField({
    label: 'Who does it',
    name: 'owner_id',
    options: [
      ...record.attendees.map((a) => ({ value: a.user_id, text: a.display_name || 'Someone' })),
      { value: record.supervisor_id, text: `${record.supervisor_name || 'The supervisor'} (you)` },
    ],
  });
  const due = textField({ label: 'Due on (optional)', name: 'due_on', type: 'date', required: false, extraClass: 'input--date' });
  const form = actionForm({
    ctx,
    label: 'Add an action',
    children: [text.element, owner.element, due.element],
    buttonText: 'Add the action',
    busyText: 'Adding…',
    fields: { text, due_on: due },
    action: () => request(`/api/v1/supervision/records/${record.id}/actions`, {
      method: 'POST',
      body: { text: text.input.value.trim(), owner_id: owner.input.value, due_on: due.input.value || null },
      signal: ctx.signal,
    }),
    done: async (added) => {
      text.input.value = '';
      due.input.value = '';
      await onAdded();
      return `Added: ${added.text} (${added.owner_name || 'someone'}).`;
    },
  });
  return form.element;
}

/** A form kept folded away under its name until it is wanted. */
function fold(name, form) {
  return h('details', { class: 'details' }, h('summary', {}, name), form);
}

/** @param {import('../app.js').ViewContext} ctx */
export async function render(ctx) {
  const { id } = ctx.params;
  const me = ctx.user && ctx.user.id;
  let record = await request(`/api/v1/supervision/records/${id}`, { signal: ctx.signal });
  const holder = record.supervisor_id === me;

  const title = heading(recordTitle(record));
  const people = h('p', { class: 'muted' });
  const notesArea = h('div', {});
  const actionsArea = h('div', {});

  const draw = () => {
    title.textContent = recordTitle(record);
    people.textContent = `${recordPeople(record)} Last changed ${formatDateTime(record.updated_at)}.`;
    notesArea.replaceChildren(record.notes
      ? h('p', { class: 'supervision-record__notes' }, record.notes)
      : h('p', { class: 'muted' }, 'No notes.'));
    actionsArea.replaceChildren(record.actions.length
      ? h('ul', { class: 'supervision-actions', 'aria-label': 'Actions agreed' },
        record.actions.map((a) => actionItem(a, me, ctx, reload, { supervisor: holder })))
      : emptyState('No actions agreed.'));
  };
  async function reload() {
    try {
      record = await request(`/api/v1/supervision/records/${id}`, { signal: ctx.signal });
      if (ctx.isCurrent()) draw();
    } catch (error) {
      if (error.name !== 'AbortError') actionsArea.append(notice(problemMessage(error), 'error'));
    }
  }
  draw();

  const back = holder
    ? h('a', { href: '#/supervision' }, 'Supervision')
    : h('a', { href: '#/wellbeing' }, 'How are you?');
  return page(
    h('nav', { class: 'breadcrumbs', 'aria-label': 'Breadcrumb' },
      h('ol', {}, h('li', {}, back), h('li', { 'aria-current': 'page' }, recordTitle(record)))),
    h('div', { class: 'page-header' }, title, people),
    section('Notes', notesArea,
      holder ? fold('Correct the notes', notesForm(ctx, record, (saved) => { record = saved; draw(); })) : null),
    section('Actions agreed', actionsArea,
      holder ? fold('Add an action', addActionForm(ctx, record, reload)) : null),
  );
}
