// "How are you?": a member of staff's own wellbeing check-in, their answers
// over time, and their supervision (notes and the actions agreed).
//
// Individual answers are seen only by the person and their supervisor; the
// page says so before anyone writes a word.

import { request } from '../api.js';
import { lineChart } from '../charts.js';
import { isUpcoming, meetingItem } from './sessions.js';
import { teamJoinsArea } from './team-joins.js';
import {
  h, uid, heading, page, lead, section, notice, emptyState, errorArea, problemMessage,
  submitButton, formatDate, badge,
} from '../ui.js';

/** The four measures, with what 1 and 5 mean (the server's fixed 1-5 scale). */
export const MEASURES = [
  { key: 'mood', label: 'Mood', question: 'How has your mood been?', low: 'Very low', high: 'Very good' },
  { key: 'workload', label: 'Workload', question: 'How is your workload?', low: 'Very light', high: 'Unmanageable' },
  { key: 'stress', label: 'Stress', question: 'How stressed do you feel?', low: 'Not at all', high: 'Severely' },
  { key: 'support', label: 'Support', question: 'How supported do you feel?', low: 'Unsupported', high: 'Well supported' },
];

function scaleQuestion(measure) {
  const name = uid(measure.key);
  const inputs = [];
  const errorEl = h('p', { class: 'field__error', hidden: true });
  const choices = [1, 2, 3, 4, 5].map((value) => {
    const id = uid('choice');
    const input = h('input', { id, type: 'radio', name, value: String(value), class: 'choice__input' });
    inputs.push(input);
    const text = value === 1 ? `1 – ${measure.low}` : value === 5 ? `5 – ${measure.high}` : String(value);
    return h('div', { class: 'choice' }, input, h('label', { for: id, class: 'choice__label' }, text));
  });
  const fieldset = h('fieldset', { class: 'measure-item checkin-item', dataset: { measure: measure.key } },
    h('legend', { class: 'measure-item__legend' }, h('span', { class: 'measure-item__text' }, measure.question)),
    errorEl,
    h('div', { class: 'choices choices--scale' }, choices));
  return {
    measure,
    fieldset,
    value() {
      const checked = inputs.find((input) => input.checked);
      return checked ? Number(checked.value) : null;
    },
    setError(message) {
      errorEl.replaceChildren(h('span', { class: 'visually-hidden' }, 'Error: '), message);
      errorEl.hidden = false;
      fieldset.classList.add('measure-item--error');
    },
    clearError() {
      errorEl.replaceChildren();
      errorEl.hidden = true;
      fieldset.classList.remove('measure-item--error');
    },
  };
}

function promptNotice(prompt) {
  if (!prompt) return null;
  if (prompt.due) {
    return notice(prompt.last_check_in_at
      ? `A check-in is due (every ${prompt.cadence_days} days; your last was on ${formatDate(prompt.last_check_in_at)}).`
      : 'You have not checked in yet. It takes a minute.', 'info');
  }
  return notice(`Thank you for checking in. The next check-in is due on ${formatDate(prompt.next_due_at)}.`, 'success');
}

function checkInForm(ctx, onSaved) {
  const questions = MEASURES.map(scaleQuestion);
  const talkId = uid('talk');
  const talk = h('input', { id: talkId, type: 'checkbox', name: 'wants_to_talk', class: 'checkbox__input' });
  const textId = uid('text');
  const text = h('textarea', {
    id: textId, name: 'text', class: 'input textarea', rows: '3', maxlength: '2000', 'aria-describedby': `${textId}-hint`,
  });
  const errors = errorArea();
  const submit = submitButton('Send my check-in', { busyText: 'Sending…' });
  const form = h('form', { class: 'form checkin-form', novalidate: true, 'aria-label': 'Wellbeing check-in' },
    errors.element,
    questions.map((q) => q.fieldset),
    h('div', { class: 'field' },
      h('div', { class: 'checkbox' },
        talk,
        h('label', { for: talkId, class: 'checkbox__label' }, 'I’d like to talk to my supervisor')),
      h('p', { class: 'field__hint' }, 'Your supervisor is told at once and will get in touch.')),
    h('div', { class: 'field' },
      h('label', { for: textId, class: 'field__label' }, 'Anything you want to add (optional)'),
      h('p', { id: `${textId}-hint`, class: 'field__hint' }, 'Seen only by you and your supervisor.'),
      text),
    h('div', { class: 'form__actions' }, submit.element));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (submit.busy) return;
    errors.clear();
    let missing = 0;
    for (const q of questions) {
      q.clearError();
      if (q.value() === null) {
        q.setError(`Choose a number from 1 to 5 for ${q.measure.label.toLowerCase()}`);
        missing += 1;
      }
    }
    if (missing) {
      errors.show(missing === 1 ? 'One question has no answer.' : `${missing} questions have no answer.`);
      return;
    }
    const body = Object.fromEntries(questions.map((q) => [q.measure.key, q.value()]));
    body.wants_to_talk = talk.checked;
    const words = text.value.trim();
    if (words) body.text = words;
    submit.setBusy(true);
    try {
      const saved = await request('/api/v1/wellbeing/check-ins', { method: 'POST', body, signal: ctx.signal });
      onSaved(saved);
    } catch (error) {
      if (error.name === 'AbortError') return;
      errors.show(problemMessage(error));
    } finally {
      submit.setBusy(false);
    }
  });
  return form;
}

function savedNotice(saved) {
  if (!saved) return null;
  if (saved.wants_to_talk) {
    return notice(saved.supervisors_notified
      ? 'Thank you. Your supervisor has been told you’d like to talk.'
      : 'Thank you. You have no supervisor assigned yet, so no one could be told; please speak to your team lead.',
    saved.supervisors_notified ? 'success' : 'warning', { role: 'alert' });
  }
  return notice('Thank you. Your check-in is saved.', 'success');
}

/** Their own answers over time, oldest first (at most the last 26). */
export function checkInChart(items, { title, signal }) {
  const ordered = [...items].sort((a, b) => String(a.at).localeCompare(String(b.at))).slice(-26);
  if (!ordered.length) return emptyState('No check-ins yet.');
  return lineChart({
    title,
    labels: ordered.map((c) => formatDate(c.at)),
    series: MEASURES.map((m) => ({ name: m.label, values: ordered.map((c) => c[m.key]) })),
    yMin: 1,
    yMax: 5,
    note: 'Each measure is on a scale of 1 to 5.',
    signal,
  });
}

/** One agreed action: its owner marks it done (so may the record's supervisor, on the record). */
export function actionItem(action, me, ctx, refresh, { supervisor = false } = {}) {
  const status = action.done_at
    ? badge('Done', 'outcome-ok')
    : action.overdue ? badge('Overdue', 'outcome-bad') : badge('Open', 'neutral');
  let button = null;
  if (!action.done_at && (action.owner_id === me || supervisor)) {
    button = h('button', {
      type: 'button',
      class: 'button button--small button--secondary',
      onClick: async () => {
        button.disabled = true;
        try {
          await request(`/api/v1/supervision/actions/${action.id}`, {
            method: 'PATCH', body: { done: true }, signal: ctx.signal,
          });
          refresh();
        } catch (error) {
          if (error.name !== 'AbortError') button.replaceWith(notice(problemMessage(error), 'error'));
        }
      },
    }, 'Mark done');
  }
  return h('li', { class: 'supervision-action' },
    h('span', { class: 'supervision-action__text' }, action.text),
    ' ',
    h('span', { class: 'muted' }, `${action.owner_name || 'Someone'}${action.due_on ? `, due ${formatDate(action.due_on)}` : ''}`),
    ' ', status, ' ', button);
}

/** What a supervision record is called: its kind and the day it was held. */
export function recordTitle(record) {
  const kind = record.kind === 'group' ? 'Group reflective practice' : 'One-to-one supervision';
  return `${kind}, ${formatDate(record.held_on)}`;
}

/** Who held the session and who attended it, in a sentence. */
export function recordPeople(record) {
  const people = record.attendees.map((a) => a.display_name || 'Someone').join(', ');
  return `With ${record.supervisor_name || 'the supervisor'}; attended by ${people}.`;
}

/** One supervision record as a card: who, when, the notes, the actions; its title opens it. */
export function recordCard(record, me, ctx, refresh) {
  return h('article', { class: 'card supervision-record', dataset: { recordId: record.id } },
    h('h3', { class: 'card__title' }, h('a', { href: `#/supervision/records/${record.id}` }, recordTitle(record))),
    h('p', { class: 'muted' }, recordPeople(record)),
    record.notes ? h('p', { class: 'supervision-record__notes' }, record.notes) : h('p', { class: 'muted' }, 'No notes.'),
    record.actions.length
      ? h('ul', { class: 'supervision-actions' }, record.actions.map((a) => actionItem(a, me, ctx, refresh)))
      : null);
}

/* ----------------------------------------------------- my supervisor -- */

// An admin only proposes a supervisor: the link opens my clients' records to
// them once I accept it here, so the proposal names them by email as well,
// for me to tell them from someone of the same name.
function supervisorArea(ctx, me, initial) {
  const area = h('div', { class: 'my-supervisor' });
  const draw = (links) => {
    const mine = links.filter((l) => l.supervisee_id === me);
    const active = mine.find((l) => l.status === 'active');
    const pending = mine.filter((l) => l.status === 'pending');
    const current = active
      ? h('p', {}, 'Your supervisor is ', h('strong', {}, active.supervisor_name),
        ` (${active.supervisor_email}), since ${formatDate(active.since)}.`)
      : h('p', {}, 'You have no supervisor at the moment.');
    const proposals = pending.map((l) => {
      const error = h('p', { class: 'field__error', role: 'alert' });
      const decide = (verb) => async (event) => {
        for (const b of item.querySelectorAll('button')) b.disabled = true;
        try {
          await request(`/api/v1/supervision/links/${l.id}/${verb}`, { method: 'POST', signal: ctx.signal });
          draw(await request('/api/v1/supervision/links', { signal: ctx.signal }));
        } catch (err) {
          if (err.name === 'AbortError') return;
          error.textContent = problemMessage(err);
          for (const b of item.querySelectorAll('button')) b.disabled = false;
          event.target.focus();
        }
      };
      const item = h('li', { class: 'supervisor-proposal', dataset: { linkId: l.id } },
        h('p', {}, 'Proposed as your supervisor: ', h('strong', {}, l.supervisor_name),
          ` (${l.supervisor_email}), on ${formatDate(l.since)}. `
          + 'Once you accept, they see your check-ins and the records of the clients you work with.'),
        h('div', { class: 'form__actions' },
          h('button', { type: 'button', class: 'button button--small', onClick: decide('accept') },
            `Accept ${l.supervisor_name} as my supervisor`),
          h('button', { type: 'button', class: 'button button--small button--secondary', onClick: decide('decline') },
            'Decline')),
        error);
      return item;
    });
    area.replaceChildren(current, ...(proposals.length
      ? [h('ul', { class: 'supervisor-proposals', 'aria-label': 'Proposed supervisors' }, proposals)]
      : []));
  };
  draw(initial);
  return area;
}

/** @param {import('../app.js').ViewContext} ctx */
export async function render(ctx) {
  const me = ctx.user && ctx.user.id;
  const [prompt, history, records, meetings, links] = await Promise.all([
    request('/api/v1/wellbeing/prompt', { signal: ctx.signal }),
    request('/api/v1/wellbeing/check-ins?limit=26', { signal: ctx.signal }),
    request('/api/v1/supervision/records?limit=20', { signal: ctx.signal }),
    request('/api/v1/meetings', { signal: ctx.signal }),
    request('/api/v1/supervision/links', { signal: ctx.signal }),
  ]);
  // A team without a supervisor has its clinical members confirm who joins it; supervisors do
  // it on their Supervision page.
  const joining = ctx.user && ctx.user.role !== 'supervisor'
    ? await request('/api/v1/teams/pending-members', { signal: ctx.signal }) : [];
  // Supervision calls arranged with me (only their host and invitees see them).
  const now = Date.now();
  const callsError = h('p', { class: 'field__error', role: 'alert' });
  const calls = meetings.filter((m) => m.kind === 'supervision' && isUpcoming(m, now));
  const callsArea = calls.length
    ? h('div', {}, callsError, h('ul', { class: 'session-list', 'aria-label': 'Supervision calls' },
      calls.map((m) => meetingItem(m, now, ctx, callsError))))
    : null;
  const promptArea = h('div', { class: 'checkin-prompt' }, promptNotice(prompt));
  const historyArea = h('div', {}, checkInChart(history.items || [], { title: 'My check-ins', signal: ctx.signal }));
  const recordsArea = h('div', { class: 'supervision-records' });

  const drawRecords = (page) => {
    const items = page.items || [];
    recordsArea.replaceChildren(...(items.length
      ? items.map((r) => recordCard(r, me, ctx, refreshRecords))
      : [emptyState('No supervision recorded yet.')]));
  };
  async function refreshRecords() {
    try {
      drawRecords(await request('/api/v1/supervision/records?limit=20', { signal: ctx.signal }));
    } catch (error) {
      if (error.name !== 'AbortError') recordsArea.replaceChildren(notice(problemMessage(error), 'error'));
    }
  }
  drawRecords(records);

  const form = checkInForm(ctx, async (saved) => {
    const [nextPrompt, nextHistory] = await Promise.all([
      request('/api/v1/wellbeing/prompt', { signal: ctx.signal }),
      request('/api/v1/wellbeing/check-ins?limit=26', { signal: ctx.signal }),
    ]);
    promptArea.replaceChildren(savedNotice(saved), promptNotice(nextPrompt));
    historyArea.replaceChildren(checkInChart(nextHistory.items || [], { title: 'My check-ins', signal: ctx.signal }));
    form.reset();
    promptArea.scrollIntoView({ block: 'nearest' });
  });

  return page(
    h('div', { class: 'page-header' }, heading('How are you?')),
    lead('A short check-in on how work is for you. Only you and your supervisor see your answers; '
      + 'the team’s figures are shown only as averages of three or more people.'),
    promptArea,
    section('Check in', form),
    section('My check-ins over time', historyArea),
    section('My supervisor', supervisorArea(ctx, me, links)),
    joining.length ? section('Waiting to join your team', teamJoinsArea(ctx, joining)) : null,
    section('My supervision', callsArea, recordsArea),
  );
}

