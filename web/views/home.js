// Home ("my day"): where everyone lands after signing in. One read,
// GET /api/v1/me/today, gives each role its own parts; every item links to the
// page where the work is done. Admins see what they administer, no clinical
// content; clients see their next session, questionnaires and plan.

import { request } from '../api.js';
import * as rt from '../realtime.js';
import {
  h, heading, page, section, badge, formatDate, formatDateTime, uid,
} from '../ui.js';
import { meetingItem } from './sessions.js';

const ALERT_LABELS = {
  phq9_item9: 'PHQ-9 item 9: thoughts of self-harm',
  first_employer_contact_overdue: 'First employer contact overdue',
  support_review_overdue: 'In-work support review overdue',
  plan_action_overdue: 'Plan action overdue',
  sustainment_check_due: 'Sustainment check due',
};

const DUE_LABELS = {
  first_employer_contact_overdue: 'First employer contact',
  support_review_overdue: 'In-work support review',
  plan_action_overdue: 'Plan action',
  sustainment_check_due: 'Sustainment check',
};

function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

function empty(text) {
  return h('p', { class: 'empty-state' }, text);
}

function list(items, label) {
  return h('ul', { class: 'home-list', 'aria-label': label }, items);
}

function meetingsPart(day, ctx, { title, emptyText, showKind = true }) {
  const error = h('p', { class: 'field__error', role: 'alert' });
  const now = Date.now();
  const items = (day.meetings || []).map((m) => meetingItem(m, now, ctx, error, { showKind }));
  const titleId = uid('home-meetings');
  return h('section', { class: 'section home-part', 'aria-labelledby': titleId },
    h('h2', { id: titleId }, title),
    error,
    items.length ? h('ul', { class: 'session-list', 'aria-labelledby': titleId }, items) : empty(emptyText));
}

function alertsPart(alerts) {
  const urgent = alerts.filter((a) => a.urgent);
  const shown = [...urgent, ...alerts.filter((a) => !a.urgent)];
  return section('Alerts',
    shown.length
      ? list(shown.map((a) => h('li', { class: ['home-item', a.urgent ? 'home-item--urgent' : null] },
        a.urgent ? badge('Urgent', 'urgent') : null, ' ',
        h('strong', {}, ALERT_LABELS[a.kind] || a.kind),
        a.client_name ? ` – ${a.client_name}` : '',
        h('span', { class: 'muted' }, ` (raised ${formatDateTime(a.raised_at)})`))), 'Open alerts')
      : empty('No alerts need your attention.'),
    shown.length ? h('p', {}, h('a', { href: '#/alerts' }, `Review and acknowledge them (${shown.length} open)`)) : null);
}

function unreadPart(unread) {
  return section('Unread messages',
    unread.length
      ? list(unread.map((c) => h('li', { class: 'home-item' },
        h('a', { href: `#/messages/${encodeURIComponent(c.conversation_id)}` }, c.title),
        ` – ${plural(c.unread, 'unread message', 'unread messages')}`)), 'Conversations with unread messages')
      : empty('You are up to date with your messages.'));
}

function dueWorkPart(work) {
  return section('Journey work due',
    work.length
      ? list(work.map((w) => h('li', { class: 'home-item' },
        w.overdue ? badge('Overdue', 'overdue') : badge('Due today', 'due'), ' ',
        h('a', { href: `#/clients/${encodeURIComponent(w.client_id)}/journey` },
          `${DUE_LABELS[w.kind] || w.kind}: ${w.client_name}`),
        h('span', { class: 'muted' }, ` (due ${formatDate(w.due_on)})`))), 'Journey work due')
      : empty('Nothing is due on your clients’ journeys.'));
}

function checkInText(prompt) {
  return prompt.due
    ? h('p', {}, 'Your wellbeing check-in is due. ', h('a', { href: '#/wellbeing' }, 'Check in now'))
    : h('p', {}, `Your next check-in is due ${formatDate(prompt.next_due_at)}. `,
      h('a', { href: '#/wellbeing' }, 'Check in early'));
}

// The service's scheduled prompt (`wellbeing.check_in_due`) turns the part to "due" while the
// page is open, as it would read on the next visit.
function checkInPart(prompt, ctx) {
  const body = h('div', {}, checkInText(prompt));
  const stop = rt.on('wellbeing.check_in_due', () => body.replaceChildren(checkInText({ due: true })));
  ctx.signal.addEventListener('abort', stop, { once: true });
  return section('Your wellbeing', body);
}

function talkPart(requests) {
  return section('Asked to talk',
    requests.length
      ? list(requests.map((r) => h('li', { class: 'home-item' },
        h('strong', {}, r.display_name), ` would like to talk (asked ${formatDateTime(r.at)}).`)), 'Asked to talk')
      : empty('No one has asked to talk.'),
    h('p', {}, h('a', { href: '#/supervision' }, 'Reply to a request')));
}

function clientParts(day, ctx) {
  const mine = day.client;
  if (!mine) return [empty('We could not find your record. Please speak to your keyworker.')];
  const record = `#/clients/${encodeURIComponent(mine.client_id)}`;
  const next = mine.next_session;
  const inToday = next && (day.meetings || []).some((m) => m.id === next.id);
  return [
    meetingsPart(day, ctx, { title: 'Your sessions today', emptyText: 'You have no session today.', showKind: false }),
    next && !inToday
      ? section('Your next session', h('p', {}, `${next.title}: `,
        h('time', { datetime: next.starts_at }, formatDateTime(next.starts_at))))
      : null,
    section('Questionnaires to complete',
      mine.questionnaires_due.length
        ? list(mine.questionnaires_due.map((q) => h('li', { class: 'home-item' },
          h('a', { href: `${record}/measures/${encodeURIComponent(q.instrument)}` }, q.name),
          h('span', { class: 'muted' }, ` (by ${formatDate(q.expires_at)})`))), 'Questionnaires to complete')
        : empty('Your care team has not asked you to complete a questionnaire.')),
    section('Your plan and record',
      list([
        h('li', { class: 'home-item' }, h('a', { href: `${record}/plan` }, 'Your plan')),
        h('li', { class: 'home-item' }, h('a', { href: '#/my-record' }, 'Your record')),
      ], 'Your plan and record')),
    unreadPart(day.unread),
  ];
}

function adminParts(day, ctx) {
  const a = day.admin;
  return [
    section('Your organisation',
      h('dl', { class: 'summary-list' },
        h('div', { class: 'summary-list__row' }, h('dt', {}, 'Invitations waiting'), h('dd', {}, String(a.pending_invitations))),
        h('div', { class: 'summary-list__row' }, h('dt', {}, 'Active accounts'), h('dd', {}, String(a.active_accounts))),
        h('div', { class: 'summary-list__row' }, h('dt', {}, 'Deactivated accounts'), h('dd', {}, String(a.inactive_accounts))),
        h('div', { class: 'summary-list__row' }, h('dt', {}, 'Teams'), h('dd', {}, String(a.teams)))),
      list([
        h('li', { class: 'home-item' }, h('a', { href: '#/users' }, 'Manage accounts and invitations')),
        h('li', { class: 'home-item' }, h('a', { href: '#/teams' }, 'Set up a team')),
      ], 'Administration')),
    day.check_in ? checkInPart(day.check_in, ctx) : null,
    unreadPart(day.unread),
  ];
}

function staffParts(day, ctx) {
  return [
    day.alerts ? alertsPart(day.alerts) : null,
    meetingsPart(day, ctx, { title: 'Meetings and sessions today', emptyText: 'No meetings in the next day.' }),
    day.talk_requests ? talkPart(day.talk_requests) : null,
    unreadPart(day.unread),
    day.due_work ? dueWorkPart(day.due_work) : null,
    day.check_in ? checkInPart(day.check_in, ctx) : null,
  ];
}

/** @param {import('../app.js').ViewContext} ctx */
export async function render(ctx) {
  const day = await request('/api/v1/me/today', { signal: ctx.signal });
  let parts;
  if (day.admin) parts = adminParts(day, ctx);
  else if (day.client || ctx.user.role === 'client') parts = clientParts(day, ctx);
  else parts = staffParts(day, ctx);
  const name = String(ctx.user.display_name || '').trim().split(/\s+/)[0];
  return page(
    h('div', { class: 'page-header' },
      heading('Today'),
      h('p', { class: 'lead' }, name ? `Your day, ${name}.` : 'Your day.')),
    ...parts.filter(Boolean));
}
