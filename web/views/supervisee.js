// One person a supervisor supervises: their check-ins over time, each answer with
// what they added, and how often they are prompted to check in and are due for
// supervision (the cadence, which their supervisor sets here).
//
// The server shows a person's check-ins only to them and their current supervisors;
// anyone else, another supervisor too, is refused, and the router shows the refusal
// in the server's words. Reached from the Supervision page's list of supervisees.

import { request } from '../api.js';
import {
  h, heading, page, lead, section, formatDate, formatDateTime, roleLabel, textField, pagedTable,
} from '../ui.js';
import { actionForm } from './admin-kit.js';
import { checkInChart, MEASURES } from './wellbeing.js';

const HISTORY_PAGE = 26;

function talkCell(c) {
  if (!c.wants_to_talk) return 'No';
  return c.talk_acknowledged_at
    ? `Yes; ${c.talk_acknowledged_by_name || 'a supervisor'} replied ${formatDateTime(c.talk_acknowledged_at)}`
    : 'Yes; not replied to yet';
}

function historyTable(ctx, id, initial) {
  return pagedTable({
    caption: 'Every check-in',
    noun: ['check-in', 'check-ins'],
    emptyText: 'No check-ins yet.',
    initial,
    limit: HISTORY_PAGE,
    load: ({ offset, limit, signal }) => request(`/api/v1/wellbeing/people/${id}/check-ins`, { query: { limit, offset }, signal }),
    columns: [
      { header: 'When', rowHeader: true, cell: (c) => formatDateTime(c.at) },
      ...MEASURES.map((m) => ({ header: m.label, cell: (c) => String(c[m.key]) })),
      { header: 'Asked to talk', cell: talkCell },
      { header: 'What they added', cell: (c) => c.text || h('span', { class: 'muted' }, 'Nothing') },
    ],
  }).element;
}

function cadenceText(cadence) {
  const how = cadence.is_default
    ? 'the service’s default'
    : `set ${formatDate(cadence.set_at)}`;
  return `Check-in every ${cadence.check_in_days} days; supervision every ${cadence.supervision_days} days (${how}).`;
}

function cadenceForm(ctx, person, onSaved) {
  const hint = 'A whole number of days, 1 to 365.';
  const checkIn = textField({
    label: 'Prompt to check in every (days)', name: 'check_in_days', type: 'number', inputmode: 'numeric', extraClass: 'input--number',
    hint, value: String(person.cadence.check_in_days),
  });
  const supervision = textField({
    label: 'Supervision due every (days)', name: 'supervision_days', type: 'number', inputmode: 'numeric', extraClass: 'input--number',
    hint, value: String(person.cadence.supervision_days),
  });
  for (const field of [checkIn, supervision]) {
    field.input.setAttribute('min', '1');
    field.input.setAttribute('max', '365');
  }
  // Sent as typed: a number the server refuses is explained in its own words.
  const days = (input) => (input.value.trim() && Number.isFinite(Number(input.value)) ? Number(input.value) : input.value);
  return actionForm({
    ctx,
    label: 'Set the cadence',
    children: [checkIn.element, supervision.element],
    buttonText: 'Save the cadence',
    busyText: 'Saving…',
    fields: { check_in_days: checkIn, supervision_days: supervision },
    action: () => request(`/api/v1/supervision/supervisees/${person.user_id}/cadence`, {
      method: 'PUT',
      body: { check_in_days: days(checkIn.input), supervision_days: days(supervision.input) },
      signal: ctx.signal,
    }),
    done: (saved) => {
      onSaved(saved);
      return `Saved. ${cadenceText(saved)}`;
    },
  }).element;
}

/** @param {import('../app.js').ViewContext} ctx */
export async function render(ctx) {
  const { id } = ctx.params;
  // The check-ins first: for anyone not this person's supervisor they are a refusal.
  const history = await request(`/api/v1/wellbeing/people/${id}/check-ins`, { query: { limit: HISTORY_PAGE }, signal: ctx.signal });
  const supervisees = await request('/api/v1/supervision/supervisees', { signal: ctx.signal });
  const person = supervisees.find((s) => s.user_id === id);
  const name = person ? person.display_name : 'Check-ins';

  const cadenceNow = h('p', { class: 'cadence-summary' });
  const drawCadence = () => { if (person) cadenceNow.textContent = cadenceText(person.cadence); };
  drawCadence();

  return page(
    h('nav', { class: 'breadcrumbs', 'aria-label': 'Breadcrumb' },
      h('ol', {}, h('li', {}, h('a', { href: '#/supervision' }, 'Supervision')), h('li', { 'aria-current': 'page' }, name))),
    h('div', { class: 'page-header' }, heading(name)),
    person
      ? lead(`${roleLabel(person.role)}, supervised by you since ${formatDate(person.supervised_since)}. `
        + 'Their answers are seen only by them and their supervisor.')
      : null,
    section('Check-ins over time', checkInChart(history.items || [], {
      title: `${name}: check-ins (latest ${HISTORY_PAGE})`, signal: ctx.signal,
    })),
    person
      ? section('Cadence', cadenceNow, cadenceForm(ctx, person, (saved) => { person.cadence = saved; drawCadence(); }))
      : null,
    section('Every check-in', historyTable(ctx, id, history)),
  );
}
