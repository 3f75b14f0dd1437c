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

/**
 * The notes in full, replacing what was there (an empty box clears them). The save names the
 * version read (If-Match, the record's ETag); a 412 means they were saved elsewhere meanwhile
 * (another tab, another device) and shows both versions, as the plan editor does: nothing is
 * overwritten silently, and the supervisor re-applies theirs or takes the saved ones.
 * @param {import('../app.js').ViewContext} ctx
 * @param {{ record: any, etag: string }} current  the record as read and its ETag (kept up to date)
 * @param {(saved: any) => void} onSaved
 */
function notesForm(ctx, current, onSaved) {
  const id = uid('notes');
  const hintId = `${id}-hint`;
  const notes = h('textarea', {
    id, name: 'notes', class: 'input textarea', rows: '8', 'aria-describedby': hintId,
  });
  notes.value = current.record.notes || '';
  const conflictArea = h('div', {});
  const typed = () => (notes.value.trim() ? notes.value : null);
  const save = () => request(`/api/v1/supervision/records/${current.record.id}`, {
    method: 'PATCH', body: { notes: typed() }, headers: { 'If-Match': current.etag }, withHeaders: true, signal: ctx.signal,
  });
  const saved = ({ data, headers }) => {
    current.etag = headers.get('ETag') || `"${data.version}"`;
    conflictArea.replaceChildren();
    onSaved(data);
    return `The notes are saved (${formatDateTime(data.updated_at)}).`;
  };

  /** Their notes beside ours, and the choice; null when the 412 carries no current version. */
  function showConflict(failure) {
    const theirs = failure.problem && failure.problem.current;
    if (!theirs) return false;
    const theirEtag = (failure.headers && failure.headers.get('ETag')) || `"${theirs.version}"`;
    const titleId = uid('conflict');
    const reapply = h('button', { type: 'button', class: 'button' }, 'Re-apply my change');
    const useTheirs = h('button', { type: 'button', class: 'button button--secondary' }, 'Use theirs');
    const status = h('div', {});
    const column = (label, text, mine) => h('div', { class: `plan-compare__col${mine ? ' plan-compare__col--mine' : ''}` },
      h('p', { class: 'plan-compare__label' }, label),
      text ? h('p', { class: 'supervision-record__notes' }, text) : h('p', { class: 'muted' }, 'No notes.'));
    const panel = h('section', { class: 'plan-conflict', 'aria-labelledby': titleId, tabindex: '-1' },
      h('h2', { id: titleId }, 'The notes were saved elsewhere while you were editing'),
      h('p', {}, `Version ${theirs.version} was saved since you opened them. Nothing has been overwritten: your notes are still here, not yet saved.`),
      h('div', { class: 'plan-compare__cols' }, column('The saved notes', theirs.notes, false), column('Your notes', typed(), true)),
      h('div', { class: 'button-row plan-conflict__actions' }, reapply, useTheirs),
      h('p', { class: 'field__hint' }, '“Re-apply my change” saves your notes over the saved ones. “Use theirs” drops your unsaved notes.'),
      status);
    reapply.addEventListener('click', async () => {
      current.etag = theirEtag;
      reapply.disabled = true;
      try {
        const message = saved(await save());
        formStatus.replaceChildren(notice(message, 'success'));
      } catch (error) {
        if (error && error.name === 'AbortError') return;
        reapply.disabled = false;
        if (!(error && error.status === 412 && showConflict(error))) status.replaceChildren(notice(problemMessage(error), 'error'));
      }
    });
    useTheirs.addEventListener('click', () => {
      current.etag = theirEtag;
      notes.value = theirs.notes || '';
      conflictArea.replaceChildren();
      onSaved({ ...current.record, notes: theirs.notes, version: theirs.version });
      formStatus.replaceChildren(notice(`Showing version ${theirs.version} of the notes. Your changes were discarded.`, 'info'));
      notes.focus();
    });
    conflictArea.replaceChildren(panel);
    panel.focus();
    panel.scrollIntoView({ block: 'start' });
    return true;
  }

  const formStatus = h('div', {});
  const form = actionForm({
    ctx,
    label: 'Correct the notes',
    children: [h('div', { class: 'field' },
      h('label', { for: id, class: 'field__label' }, 'Notes'),
      h('p', { id: hintId, class: 'field__hint' },
        'Seen only by you and those who attended. Saving replaces the notes in full; an empty box clears them.'),
      notes)],
    buttonText: 'Save the notes',
    busyText: 'Saving…',
    action: async () => {
      formStatus.replaceChildren();
      try {
        return await save();
      } catch (failure) {
        if (failure && failure.status === 412 && showConflict(failure)) return null;
        throw failure;
      }
    },
    done: (result) => (result ? saved(result) : null),
  });
  return h('div', {}, conflictArea, formStatus, form.element);
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
  const read = await request(`/api/v1/supervision/records/${id}`, { signal: ctx.signal, withHeaders: true });
  let record = read.data;
  // The version the notes form saves over (If-Match); a later read or save moves it on.
  const current = { record, etag: read.headers.get('ETag') || `"${record.version}"` };
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
      current.record = record;
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
      holder ? fold('Correct the notes', notesForm(ctx, current, (saved) => { record = saved; current.record = saved; draw(); })) : null),
    section('Actions agreed', actionsArea,
      holder ? fold('Add an action', addActionForm(ctx, record, reload)) : null),
  );
}
