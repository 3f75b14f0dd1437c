// The supervisor's dashboard: "I'd like to talk" requests (live), the people
// they supervise (supervision due or overdue, check-ins, actions), recording a
// supervision session, and a team's view — wellbeing trends that never show one
// person, caseloads against the limits, overdue work, open alerts, who is
// online, and the IPS-25 fidelity reviews over time.

import { request } from '../api.js';
import { barChart, lineChart } from '../charts.js';
import * as rt from '../realtime.js';
import {
  h, uid, heading, page, lead, section, notice, emptyState, errorArea, problemMessage,
  submitButton, formatDate, formatDateTime, badge, dataTable, roleLabel, textField,
} from '../ui.js';
import { MEASURES, recordPeople, recordTitle } from './wellbeing.js';
import { isUpcoming, meetingItem, whenFields } from './sessions.js';
import { teamJoinsArea } from './team-joins.js';

const BAND_LABELS = { exemplary: 'Exemplary', good: 'Good', fair: 'Fair', not_ips: 'Not IPS' };

export function bandBadge(band) {
  return badge(BAND_LABELS[band] || band, `fidelity-${band}`);
}

/* -------------------------------------------------------- talk requests -- */

function talkRequests(ctx, initial) {
  const requests = new Map(initial.map((r) => [r.check_in_id, r]));
  const list = h('ul', { class: 'talk-requests', 'aria-live': 'polite' });
  const draw = () => {
    const open = [...requests.values()].filter((r) => !r.acknowledged_at)
      .sort((a, b) => String(a.at).localeCompare(String(b.at)));
    if (!open.length) {
      list.replaceChildren(h('li', { class: 'empty-state' }, 'No one has asked to talk.'));
      return;
    }
    list.replaceChildren(...open.map((r) => {
      const button = h('button', {
        type: 'button',
        class: 'button button--small',
        onClick: async () => {
          button.disabled = true;
          try {
            const done = await request(`/api/v1/wellbeing/talk-requests/${r.check_in_id}/acknowledge`, {
              method: 'POST', signal: ctx.signal,
            });
            requests.set(r.check_in_id, done);
            draw();
          } catch (error) {
            if (error.name !== 'AbortError') button.replaceWith(notice(problemMessage(error), 'error'));
          }
        },
      }, 'I’ll get in touch');
      return h('li', { class: 'talk-request', dataset: { checkInId: r.check_in_id } },
        h('strong', {}, r.display_name), ` would like to talk (asked ${formatDateTime(r.at)}). `,
        button);
    }));
  };
  draw();
  const stop = rt.on('wellbeing.talk_requested', (frame) => {
    requests.set(frame.check_in_id, { ...frame, acknowledged_at: null });
    draw();
  });
  ctx.signal.addEventListener('abort', stop, { once: true });
  return list;
}

/* ------------------------------------------------------------ supervisees -- */

function superviseesTable(items) {
  return dataTable({
    caption: 'The people you supervise',
    captionHidden: true,
    className: 'table--supervisees',
    items,
    emptyText: 'No one is assigned to you for supervision.',
    columns: [
      {
        header: 'Name',
        rowHeader: true,
        cell: (s) => h('span', {},
          h('a', { href: `#/supervision/people/${s.user_id}` }, s.display_name), h('br'),
          h('span', { class: 'muted' }, roleLabel(s.role))),
      },
      {
        header: 'Supervision',
        cell: (s) => h('span', {},
          s.supervision_overdue ? badge('Overdue', 'outcome-bad') : badge('On time', 'outcome-ok'), ' ',
          `due ${formatDate(s.supervision_due_on)}`,
          h('br'),
          h('span', { class: 'muted' }, s.last_supervision_on ? `last ${formatDate(s.last_supervision_on)}` : 'none yet')),
      },
      {
        header: 'Check-in',
        cell: (s) => h('span', {},
          s.check_in_due ? badge('Due', 'neutral') : badge('Up to date', 'outcome-ok'),
          h('br'),
          h('span', { class: 'muted' }, s.last_check_in_at ? `last ${formatDate(s.last_check_in_at)}` : 'never')),
      },
      {
        header: 'Actions',
        cell: (s) => (s.open_actions
          ? `${s.open_actions} open${s.overdue_actions ? `, ${s.overdue_actions} overdue` : ''}`
          : h('span', { class: 'muted' }, 'None open')),
      },
      {
        header: 'Cadence',
        cell: (s) => h('span', {},
          `check-in every ${s.cadence.check_in_days} days, supervision every ${s.cadence.supervision_days} days `,
          h('a', { href: `#/supervision/people/${s.user_id}` },
            'Change', h('span', { class: 'visually-hidden' }, ` for ${s.display_name}`))),
      },
    ],
  });
}

/* ------------------------------------------------ sessions recorded -- */

/** The sessions this supervisor recorded (latest first), each opening in its own view. */
function recordedList(records, me) {
  const mine = records.filter((r) => r.supervisor_id === me);
  if (!mine.length) return emptyState('No supervision recorded yet.');
  return h('ul', { class: 'supervision-recorded', 'aria-label': 'Sessions you recorded' }, mine.map((r) => {
    const open = r.actions.filter((a) => !a.done_at).length;
    return h('li', { dataset: { recordId: r.id } },
      h('a', { href: `#/supervision/records/${r.id}` }, recordTitle(r)), ' ',
      h('span', { class: 'muted' }, `${recordPeople(r)} ${open ? `${open} action${open === 1 ? '' : 's'} open.` : 'No actions open.'}`));
  }));
}

/* ------------------------------------------------- recording a session -- */

function recordForm(ctx, supervisees, onSaved) {
  const errors = errorArea();
  const kindName = uid('kind');
  const kinds = [['one_to_one', 'One-to-one'], ['group', 'Group reflective practice']].map(([value, text], i) => {
    const id = uid('kind');
    return h('div', { class: 'checkbox' },
      h('input', { id, type: 'radio', name: kindName, value, class: 'checkbox__input', checked: i === 0 }),
      h('label', { for: id, class: 'checkbox__label' }, text));
  });
  const heldOn = textField({ label: 'Held on', name: 'held_on', type: 'date', value: new Date().toISOString().slice(0, 10) });
  const people = supervisees.map((s) => {
    const id = uid('who');
    const input = h('input', { id, type: 'checkbox', value: s.user_id, class: 'checkbox__input' });
    return { input, element: h('div', { class: 'checkbox' }, input, h('label', { for: id, class: 'checkbox__label' }, s.display_name)) };
  });
  const notesId = uid('notes');
  const notes = h('textarea', { id: notesId, class: 'input textarea', rows: '4' });
  const actionId = uid('action');
  const action = h('input', { id: actionId, class: 'input', type: 'text', maxlength: '1000' });
  const dueId = uid('due');
  const due = h('input', { id: dueId, class: 'input', type: 'date' });
  const submit = submitButton('Save the session', { busyText: 'Saving…' });
  const form = h('form', { class: 'form supervision-form', novalidate: true, 'aria-label': 'Record a supervision session' },
    errors.element,
    h('fieldset', { class: 'fieldset' }, h('legend', {}, 'Kind of session'), kinds),
    heldOn.element,
    h('fieldset', { class: 'fieldset' }, h('legend', {}, 'Who attended'), people.map((p) => p.element)),
    h('div', { class: 'field' },
      h('label', { for: notesId, class: 'field__label' }, 'Notes (seen only by you and those who attended)'), notes),
    h('div', { class: 'field' },
      h('label', { for: actionId, class: 'field__label' }, 'An action agreed (optional; owned by the first person ticked)'), action),
    h('div', { class: 'field' }, h('label', { for: dueId, class: 'field__label' }, 'Action due on (optional)'), due),
    h('div', { class: 'form__actions' }, submit.element));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (submit.busy) return;
    errors.clear();
    const chosen = people.filter((p) => p.input.checked).map((p) => p.input.value);
    const kind = form.querySelector(`input[name="${kindName}"]:checked`).value;
    if (!chosen.length) {
      errors.show('Tick who attended.');
      return;
    }
    const body = { kind, held_on: heldOn.input.value, supervisee_ids: chosen };
    if (notes.value.trim()) body.notes = notes.value.trim();
    if (action.value.trim()) {
      body.actions = [{ text: action.value.trim(), owner_id: chosen[0], due_on: due.value || null }];
    }
    submit.setBusy(true);
    try {
      await request('/api/v1/supervision/records', { method: 'POST', body, signal: ctx.signal });
      form.reset();
      heldOn.input.value = new Date().toISOString().slice(0, 10);
      onSaved();
    } catch (error) {
      if (error.name !== 'AbortError') errors.show(error);
    } finally {
      submit.setBusy(false);
    }
  });
  return form;
}

/* --------------------------------------------- arranging supervision -- */

/**
 * Upcoming supervision calls (meetings of the kind "supervision", which only
 * their host and those invited see), and a form to arrange one with the
 * people one supervises, as a call on the team's behalf.
 */
function supervisionMeetings(ctx, teamId, supervisees) {
  const titleId = uid('supervision-calls');
  const status = h('div', { role: 'status' });
  const error = h('p', { class: 'field__error', role: 'alert' });
  const list = h('ul', { class: 'session-list', 'aria-labelledby': titleId });
  const empty = h('p', { class: 'muted', hidden: true }, 'No supervision arranged.');

  async function load() {
    const found = await request('/api/v1/meetings', { signal: ctx.signal });
    if (!ctx.isCurrent()) return;
    const now = Date.now();
    const items = found.filter((m) => m.kind === 'supervision' && isUpcoming(m, now));
    list.replaceChildren(...items.map((m) => meetingItem(m, now, ctx, error)));
    list.hidden = items.length === 0;
    empty.hidden = items.length > 0;
  }

  const errors = errorArea();
  const kindName = uid('call-kind');
  const kinds = [['one_to_one', 'One-to-one'], ['group', 'Group reflective practice']].map(([value, text], i) => {
    const id = uid('call-kind');
    return h('div', { class: 'checkbox' },
      h('input', { id, type: 'radio', name: kindName, value, class: 'checkbox__input', checked: i === 0 }),
      h('label', { for: id, class: 'checkbox__label' }, text));
  });
  const people = supervisees.map((s) => {
    const id = uid('call-who');
    const input = h('input', { id, type: 'checkbox', value: s.user_id, class: 'checkbox__input' });
    return { input, name: s.display_name, element: h('div', { class: 'checkbox' }, input, h('label', { for: id, class: 'checkbox__label' }, s.display_name)) };
  });
  const when = whenFields();
  const submit = submitButton('Arrange supervision', { busyText: 'Arranging…' });
  const form = h('form', { class: 'form sessions__form', novalidate: true, 'aria-label': 'Arrange supervision' },
    errors.element,
    h('fieldset', { class: 'fieldset' }, h('legend', {}, 'Kind of session'), kinds),
    h('fieldset', { class: 'fieldset' }, h('legend', {}, 'With'), people.map((p) => p.element)),
    when.element,
    h('div', { class: 'form__actions' }, submit.element));
  const details = h('details', { class: 'details sessions__schedule' }, h('summary', {}, 'Arrange supervision'), form);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (submit.busy) return;
    errors.clear();
    const chosen = people.filter((p) => p.input.checked);
    const kind = form.querySelector(`input[name="${kindName}"]:checked`).value;
    if (!chosen.length) {
      errors.show('Tick who the session is with.');
      return;
    }
    if (kind === 'one_to_one' && chosen.length !== 1) {
      errors.show('A one-to-one is with one person: tick one, or choose group reflective practice.');
      return;
    }
    const times = when.read();
    if (!times) return;
    submit.setBusy(true);
    try {
      const meeting = await request('/api/v1/meetings', {
        method: 'POST',
        signal: ctx.signal,
        body: {
          kind: 'supervision',
          title: kind === 'one_to_one' ? `Supervision with ${chosen[0].name}` : 'Group reflective practice',
          team_id: teamId,
          starts_at: times.startsAt.toISOString(),
          ends_at: times.endsAt.toISOString(),
          invitee_ids: chosen.map((p) => p.input.value),
        },
      });
      if (!ctx.isCurrent()) return;
      form.reset();
      when.reset();
      details.open = false;
      status.replaceChildren(notice(`Arranged: ${meeting.title}. Those invited get a calendar invitation.`, 'success'));
      await load();
    } catch (failure) {
      if (failure.name !== 'AbortError') errors.show(failure);
    } finally {
      submit.setBusy(false);
    }
  });

  list.hidden = true;
  load().catch((failure) => {
    if (failure.name !== 'AbortError' && ctx.isCurrent()) error.textContent = `Supervision calls could not be loaded. ${problemMessage(failure)}`;
  });
  return h('div', { class: 'supervision-calls' },
    h('p', { id: titleId, class: 'visually-hidden' }, 'Upcoming supervision'),
    status, error, list, empty,
    teamId && supervisees.length ? details : null);
}

/* ----------------------------------------------------------- team view -- */

const dayMonth = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', timeZone: 'UTC' });

/** A week by its Monday, short ("16 Nov"); the table under the chart says the same. */
function weekLabel(week) {
  return dayMonth.format(new Date(`${week.starts_on}T00:00:00Z`));
}

export function wellbeingChart(overview, signal) {
  const weeks = overview.wellbeing || [];
  const shownWeeks = weeks.filter((w) => !w.suppressed).length;
  return h('div', { class: 'team-wellbeing' },
    lineChart({
      title: 'Team wellbeing, week by week (averages, 1–5)',
      labels: weeks.map(weekLabel),
      series: MEASURES.map((m) => ({ name: m.label, values: weeks.map((w) => (w.suppressed ? null : w[m.key])) })),
      yMin: 1,
      yMax: 5,
      note: `A week is left blank when fewer than ${overview.min_people} people checked in.`,
      signal,
    }),
    h('p', { class: 'muted' }, shownWeeks === weeks.length
      ? `Averages of each person’s latest check-in in the week; shown when ${overview.min_people} or more people answered.`
      : `${weeks.length - shownWeeks} of ${weeks.length} weeks are left blank: fewer than ${overview.min_people} people checked in, so an average could show one person’s answers.`));
}

export function caseloadChart(overview, signal) {
  const caseloads = overview.caseloads || [];
  if (!caseloads.length) return emptyState('No employment specialists on this team.');
  return barChart({
    title: 'Caseloads (open cases per employment specialist)',
    bars: caseloads.map((c) => ({ label: c.specialist_name, value: c.active_clients, limit: c.limit, text: `${c.active_clients} of ${c.limit}` })),
    unit: 'Open cases',
    limitLabel: 'Caseload limit',
    signal,
  });
}

function overdueList(overview) {
  const o = overview.overdue;
  const row = (term, value) => h('div', { class: 'summary-list__row' }, h('dt', {}, term), h('dd', {}, String(value)));
  return h('dl', { class: 'summary-list' },
    row('Open clients', o.open_clients),
    row('Plan actions overdue', o.plan_actions_overdue),
    row('In-work support reviews overdue', o.support_reviews_overdue),
    row('First employer contacts overdue', o.first_employer_contacts_overdue),
    row('Clients with overdue work', o.clients_with_overdue_work),
    row('Open alerts', overview.open_alerts_total));
}

function presenceList(overview) {
  if (!overview.presence_available) return notice('Who is online cannot be shown just now.', 'warning');
  const members = [...overview.presence].sort((a, b) => a.display_name.localeCompare(b.display_name));
  return h('ul', { class: 'team-presence' }, members.map((m) => h('li', { class: 'team-presence__member', dataset: { state: m.state } },
    h('span', { class: `presence-dot presence-dot--${m.state.replace('_', '-')}`, 'aria-hidden': 'true' }),
    `${m.display_name} (${roleLabel(m.role)}): ${rt.presenceLabel(m.state)}`)));
}

export function fidelityChart(reviews, signal) {
  const ordered = [...reviews].sort((a, b) => String(a.reviewed_on).localeCompare(String(b.reviewed_on)));
  if (!ordered.length) return emptyState('No fidelity review yet.');
  return lineChart({
    title: 'IPS-25 fidelity total by review (25–125)',
    labels: ordered.map((r) => formatDate(r.reviewed_on)),
    series: [{ name: 'Total', values: ordered.map((r) => r.total) }],
    yMin: 25,
    yMax: 125,
    yStep: 25,
    note: '115 or more is exemplary, 100 good, 74 fair; 73 or less is not IPS.',
    signal,
  });
}

async function teamView(ctx, teamId) {
  const [overview, reviews] = await Promise.all([
    request(`/api/v1/teams/${teamId}/overview`, { signal: ctx.signal }),
    request(`/api/v1/teams/${teamId}/fidelity-reviews`, { signal: ctx.signal }),
  ]);
  const latest = [...reviews].sort((a, b) => String(b.reviewed_on).localeCompare(String(a.reviewed_on)))[0];
  return h('div', { class: 'team-view', dataset: { teamId } },
    h('div', { class: 'dashboard-grid' },
      h('div', { class: 'card dashboard-card' }, wellbeingChart(overview, ctx.signal)),
      h('div', { class: 'card dashboard-card' }, caseloadChart(overview, ctx.signal)),
      h('div', { class: 'card dashboard-card' }, h('h3', { class: 'card__title' }, 'Overdue work'), overdueList(overview)),
      h('div', { class: 'card dashboard-card' }, h('h3', { class: 'card__title' }, 'The team now'), presenceList(overview)),
      h('div', { class: 'card dashboard-card' },
        fidelityChart(reviews, ctx.signal),
        latest ? h('p', {}, `Latest: ${latest.total} on ${formatDate(latest.reviewed_on)} `, bandBadge(latest.band)) : null,
        h('a', { class: 'button button--small', href: `#/teams/${teamId}/fidelity` }, 'New fidelity review'))));
}

/* ----------------------------------------------------------------- page -- */

/** @param {import('../app.js').ViewContext} ctx */
export async function render(ctx) {
  const me = ctx.user && ctx.user.id;
  const recordsPath = '/api/v1/supervision/records?limit=20';
  const [talk, supervisees, scopes, joining, records] = await Promise.all([
    request('/api/v1/wellbeing/talk-requests', { signal: ctx.signal }),
    request('/api/v1/supervision/supervisees', { signal: ctx.signal }),
    request('/api/v1/reports/scopes', { signal: ctx.signal }),
    request('/api/v1/teams/pending-members', { signal: ctx.signal }),
    request(recordsPath, { signal: ctx.signal }),
  ]);
  const teams = scopes.teams || [];
  const teamId = ctx.query.get('team') || (teams[0] && teams[0].id);
  const superviseesArea = h('div', {}, superviseesTable(supervisees));
  const recordedArea = h('div', {}, recordedList(records.items || [], me));
  const saved = h('div', {});
  const refreshSupervisees = async () => {
    const [fresh, freshRecords] = await Promise.all([
      request('/api/v1/supervision/supervisees', { signal: ctx.signal }),
      request(recordsPath, { signal: ctx.signal }),
    ]);
    superviseesArea.replaceChildren(superviseesTable(fresh));
    recordedArea.replaceChildren(recordedList(freshRecords.items || [], me));
    saved.replaceChildren(notice('The session is recorded.', 'success'));
  };

  const teamArea = h('div', {});
  if (teamId) {
    try {
      teamArea.append(await teamView(ctx, teamId));
    } catch (error) {
      if (error.name === 'AbortError') throw error;
      teamArea.append(notice(problemMessage(error), 'error'));
    }
  } else {
    teamArea.append(emptyState('You are not a member of a team.'));
  }
  const teamPicker = teams.length > 1
    ? h('nav', { class: 'team-picker', 'aria-label': 'Teams' }, teams.map((t) => h('a', {
      class: ['button', 'button--small', t.id === teamId ? '' : 'button--secondary'],
      href: `#/supervision?team=${t.id}`,
      'aria-current': t.id === teamId ? 'page' : undefined,
    }, t.name)))
    : null;
  const teamName = (teams.find((t) => t.id === teamId) || {}).name;

  return page(
    h('div', { class: 'page-header' }, heading('Supervision')),
    lead('The people you supervise and how your team is doing. Team figures are averages and counts; no one person’s answers are shown here.'),
    section('Asked to talk', talkRequests(ctx, talk)),
    section('Waiting to join your team', teamJoinsArea(ctx, joining)),
    section(teamName ? `Team: ${teamName}` : 'Team', teamPicker, teamArea),
    section('People you supervise', superviseesArea),
    section('Supervision calls', supervisionMeetings(ctx, teamId, supervisees)),
    section('Sessions you recorded', recordedArea),
    section('Record a supervision session', saved,
      supervisees.length ? recordForm(ctx, supervisees, refreshSupervisees) : emptyState('No one to record a session for.')),
  );
}
