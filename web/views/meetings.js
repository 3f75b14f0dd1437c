// Meetings for staff: the "Meetings" page (#/meetings) with every meeting a
// person hosts, is invited to or runs with colleagues, upcoming and past
// (with attendance), and a form to call a meeting of each of their teams;
// the "Case meetings" panel on a client's record (the care team pre-invited,
// the client optional); and "Start a call" in a team conversation or case
// thread. Only a meeting's host is offered Change and Cancel: the server
// refuses anyone else (docs/meetings.md), and any refusal shows its detail.

import * as api from '../api.js';
import * as chat from '../chat.js';
import {
  h, heading, page, uid, badge, problemMessage, roleLabel, dataTable, emptyState, formatDateTime,
  confirmingButton,
} from '../ui.js';
import { KIND_LABELS, meetingWhen } from './meeting/labels.js';
import { meetingForm, isUpcoming, calendarButton } from './sessions.js';
import { myTeams } from './messages.js';

const KIND_NOUNS = {
  case_meeting: 'Case meeting',
  client_session: 'Session',
  supervision: 'Meeting',
};

function meetingTitle(meeting) {
  return meeting.title || KIND_LABELS[meeting.kind] || 'Meeting';
}

function isNow(meeting, now) {
  return new Date(meeting.starts_at).getTime() <= now && now < new Date(meeting.ends_at).getTime();
}

/* ------------------------------------------------------------ the page -- */

/** @param {import('../app.js').ViewContext} ctx */
export async function render(ctx) {
  await chat.loadConversations({ signal: ctx.signal });
  const teams = await myTeams(ctx.user, ctx.signal);
  const status = h('div', { class: 'sessions__status', role: 'status', tabindex: '-1' });
  const list = meetingList(ctx, {
    level: 2,
    load: (signal) => api.request('/api/v1/meetings', { signal }),
    status,
  });
  const forms = teams.map((team) => arrangeForm(ctx, {
    kind: 'case_meeting',
    target: { team_id: team.id },
    summary: `Call a meeting of ${team.name}`,
    defaultTitle: `${team.name} meeting`,
    people: team.members
      .filter((m) => m.user_id !== ctx.user.id)
      .map((m) => ({ user_id: m.user_id, display_name: m.display_name, role: m.role, checked: true })),
    submitText: 'Call the meeting',
    onArranged: async (meeting, invited) => {
      status.replaceChildren(h('p', { class: 'notice notice--success' },
        `Team meeting called: ${meetingWhen(meeting)}. ${invitationNote(invited)}`));
      await list.reload({ focusStatus: true });
    },
  }));
  const teamTitle = uid('team-meeting');
  return page(
    h('div', { class: 'page-header' },
      heading('Meetings'),
      h('p', { class: 'lead' }, 'Case meetings, team meetings, sessions and calls you host, are invited to or run with your colleagues.')),
    status,
    h('section', { class: 'section', 'aria-labelledby': teamTitle },
      h('h2', { id: teamTitle }, 'Call a team meeting'),
      forms.length ? forms : emptyState('You are not on a team yet.')),
    list.element);
}

function invitationNote(invited) {
  if (!invited) return 'No one else was invited.';
  return `A calendar invitation was emailed to ${invited === 1 ? '1 person' : `${invited} people`}.`;
}

/* -------------------------------------------------- the client's panel -- */

/**
 * "Case meetings" on a client's record (staff): the client's case meetings,
 * upcoming and past, and "Call a case meeting" with the care team invited.
 */
export function caseMeetingPanel(client, ctx) {
  const titleId = uid('case-meetings');
  const name = client.display_name || 'the client';
  const status = h('div', { class: 'sessions__status', role: 'status', tabindex: '-1' });
  const list = meetingList(ctx, {
    level: 0,
    load: async (signal) => {
      const found = await api.request('/api/v1/meetings', { query: { client_id: client.id }, signal });
      return (Array.isArray(found) ? found : []).filter((m) => m.kind === 'case_meeting');
    },
    status,
    emptyUpcoming: 'No case meetings arranged.',
    candidates: async () => careTeamInvitees(client, ctx),
  });
  const people = careTeamInvitees(client, ctx);
  const form = arrangeForm(ctx, {
    kind: 'case_meeting',
    target: { client_id: client.id },
    summary: 'Call a case meeting',
    defaultTitle: `Case meeting: ${name}`,
    people,
    submitText: 'Call the case meeting',
    onArranged: async (meeting, invited) => {
      status.replaceChildren(h('p', { class: 'notice notice--success' },
        `Case meeting called: ${meetingWhen(meeting)}. ${invitationNote(invited)}`));
      await list.reload({ focusStatus: true });
    },
  });
  return h('section', { class: 'sessions case-meetings', 'aria-labelledby': titleId },
    h('p', { id: titleId, class: 'sessions__title' }, 'Case meetings'),
    h('p', { class: 'sessions__intro' },
      `The care team meets about ${name} by video. Invitations go by email with a calendar entry; the care team joins from here or from Meetings.`),
    status,
    form,
    list.element);
}

/**
 * Whom a case's meeting may invite: the client's current care team (invited
 * unless unticked), and the client (offered, not invited).
 */
function careTeamInvitees(client, ctx) {
  const people = (client.care_team || [])
    .filter((m) => !m.until && m.user_id && m.user_id !== ctx.user.id)
    .map((m) => ({ user_id: m.user_id, display_name: m.display_name, role: m.role_on_team, checked: true }));
  if (client.user_id) {
    const name = client.display_name || 'the client';
    people.push({ user_id: client.user_id, display_name: `${name} (the client)`, checked: false });
  }
  return people;
}

/**
 * Whom a meeting may invite, for its host changing it: a case's care team and
 * client, or a team's members in force.
 */
async function inviteCandidates(ctx, meeting, signal) {
  if (meeting.client_id) {
    const client = await api.request(`/api/v1/clients/${encodeURIComponent(meeting.client_id)}`, { signal });
    return careTeamInvitees(client, ctx);
  }
  const members = await api.request(`/api/v1/teams/${encodeURIComponent(meeting.team_id)}/members`, { signal });
  return (Array.isArray(members) ? members : [])
    .filter((m) => m.status !== 'pending' && m.user_id !== ctx.user.id)
    .map((m) => ({ user_id: m.user_id, display_name: m.display_name, role: m.role, checked: true }));
}

/* ------------------------------------------------ start a call (chat) -- */

/**
 * "Start a call" for a team conversation or case thread (staff): the call is
 * made by the server and the meeting room opens. A call already under way
 * from this conversation is offered to join instead of another.
 */
export function callBar(ctx, conversation) {
  const error = h('p', { class: 'field__error', role: 'alert' });
  const ongoing = h('p', { class: 'thread__call-ongoing', hidden: true });
  const start = h('button', { type: 'button', class: 'button button--small' }, 'Start a call');
  start.addEventListener('click', async () => {
    if (start.getAttribute('aria-disabled') === 'true') return;
    start.setAttribute('aria-disabled', 'true');
    start.textContent = 'Starting…';
    error.textContent = '';
    try {
      const meeting = await api.request(`/api/v1/conversations/${encodeURIComponent(conversation.id)}/call`, { method: 'POST' });
      if (!ctx.isCurrent()) return;
      ctx.navigate(`#/meetings/${encodeURIComponent(meeting.id)}`);
    } catch (failure) {
      if (!ctx.isCurrent()) return;
      error.textContent = `The call could not be started. ${problemMessage(failure)}`;
      start.removeAttribute('aria-disabled');
      start.textContent = 'Start a call';
    }
  });
  (async () => {
    try {
      const found = await api.request('/api/v1/meetings', { signal: ctx.signal });
      if (!ctx.isCurrent()) return;
      const now = Date.now();
      const live = (Array.isArray(found) ? found : [])
        .filter((m) => m.conversation_id === conversation.id && isUpcoming(m, now))
        .pop();
      if (!live) return;
      ongoing.replaceChildren('A call started from this conversation. ',
        h('a', { href: `#/meetings/${encodeURIComponent(live.id)}` }, 'Join the call'));
      ongoing.hidden = false;
    } catch {
      // Only the offer to join is missing; starting a call still works.
    }
  })();
  return h('div', { class: 'thread__call' }, h('div', { class: 'button-row' }, start), ongoing, error);
}

/* ------------------------------------------------- arranging a meeting -- */

/**
 * Who is invited, as checkboxes (people: [{ user_id, display_name, role?, checked }]).
 * chosen(): the ids ticked.
 */
function inviteeChoices(people) {
  const boxes = people.map((person) => {
    const id = uid('invitee');
    const input = h('input', {
      id, type: 'checkbox', class: 'checkbox__input', value: person.user_id, checked: person.checked,
    });
    return {
      input,
      element: h('div', { class: 'checkbox' }, input,
        h('label', { for: id, class: 'checkbox__label' }, person.display_name || 'Unknown',
          person.role ? ` (${roleLabel(person.role)})` : '')),
    };
  });
  const element = boxes.length
    ? h('fieldset', { class: 'fieldset' }, h('legend', {}, 'Invite'), boxes.map((b) => b.element))
    : h('p', { class: 'muted' }, 'There is no one else to invite yet.');
  return { element, chosen: () => boxes.filter((b) => b.input.checked).map((b) => b.input.value) };
}

/**
 * A folded form that arranges a meeting: title, time and length, and who is
 * invited (people: [{ user_id, display_name, role?, checked }]).
 * onArranged(meeting, invitedCount) runs after the server made it.
 */
function arrangeForm(ctx, { kind, target, summary, defaultTitle, people, submitText, onArranged }) {
  const invitees = inviteeChoices(people);
  let invited = 0;
  const { form, when } = meetingForm(ctx, {
    title: defaultTitle,
    submitText,
    busyText: 'Arranging…',
    extra: invitees.element,
    save: ({ title, startsAt, endsAt }) => {
      const chosen = invitees.chosen();
      invited = chosen.length;
      return api.request('/api/v1/meetings', {
        method: 'POST',
        body: {
          kind,
          title,
          ...target,
          starts_at: startsAt.toISOString(),
          ends_at: endsAt.toISOString(),
          invitee_ids: chosen,
        },
      });
    },
    done: async (meeting) => {
      details.open = false;
      when.reset();
      await onArranged(meeting, invited);
    },
  });
  const details = h('details', { class: 'details sessions__schedule' }, h('summary', {}, summary), form);
  return details;
}

/* ------------------------------------------------------ meeting lists -- */

/**
 * Upcoming and past meetings under headings of `level` (0: titles that are
 * not headings, in a panel titled the same way). load(signal) gives
 * the meetings; status: where changes are announced; candidates(meeting, signal):
 * whom the host may invite when changing a meeting. Returns { element, reload }.
 */
function meetingList(ctx, {
  level, load, status, emptyUpcoming = 'No upcoming meetings.', candidates = (meeting, signal) => inviteCandidates(ctx, meeting, signal),
}) {
  const upcomingId = uid('upcoming');
  const pastId = uid('past');
  const error = h('p', { class: 'field__error', role: 'alert' });
  const upcoming = h('ul', { class: 'session-list', 'aria-labelledby': upcomingId });
  const past = h('ul', { class: 'session-list', 'aria-labelledby': pastId });
  const upcomingEmpty = h('p', { class: 'muted', hidden: true }, emptyUpcoming);
  const pastEmpty = h('p', { class: 'muted', hidden: true }, 'No past meetings.');
  const loading = h('p', { class: 'muted' }, 'Loading meetings…');

  async function reload({ focusStatus = false } = {}) {
    error.textContent = '';
    try {
      const found = await load(ctx.signal);
      if (!ctx.isCurrent()) return;
      const now = Date.now();
      const all = Array.isArray(found) ? found : [];
      const ahead = all.filter((m) => isUpcoming(m, now));
      const behind = all.filter((m) => !isUpcoming(m, now)).reverse(); // most recent first
      const changed = (message) => {
        status.replaceChildren(h('p', { class: 'notice notice--success' }, message));
        return reload({ focusStatus: true });
      };
      loading.hidden = true;
      upcoming.replaceChildren(...ahead.map((m) => upcomingItem(ctx, m, now, changed, candidates)));
      past.replaceChildren(...behind.map((m) => pastItem(ctx, m)));
      upcoming.hidden = !ahead.length;
      upcomingEmpty.hidden = Boolean(ahead.length);
      past.hidden = !behind.length;
      pastEmpty.hidden = Boolean(behind.length);
      if (focusStatus) status.focus();
    } catch (failure) {
      if (!ctx.isCurrent() || (failure && failure.name === 'AbortError')) return;
      loading.hidden = true;
      error.textContent = `Meetings could not be loaded. ${problemMessage(failure)}`;
    }
  }
  upcoming.hidden = true;
  past.hidden = true;
  reload();
  const tag = level ? `h${level}` : 'p';
  const subtitle = level ? undefined : 'meeting-lists__title';
  const element = h('div', { class: 'meeting-lists' },
    error,
    loading,
    h('section', { 'aria-labelledby': upcomingId },
      h(tag, { id: upcomingId, class: subtitle }, 'Upcoming'), upcoming, upcomingEmpty),
    h('section', { 'aria-labelledby': pastId },
      h(tag, { id: pastId, class: subtitle }, 'Past'), past, pastEmpty));
  return { element, reload };
}

function itemHeader(meeting, ...badges) {
  return h('div', { class: 'session__text' },
    h('p', { class: 'session__title' }, meetingTitle(meeting), ' ', ...badges,
      meeting.kind !== 'client_session' ? badge(KIND_LABELS[meeting.kind] || 'Meeting') : null),
    h('p', { class: 'session__when' },
      h('time', { datetime: meeting.starts_at }, meetingWhen(meeting))));
}

function upcomingItem(ctx, meeting, now, changed, candidates) {
  const title = meetingTitle(meeting);
  const error = h('p', { class: 'field__error', role: 'alert' });
  const hidden = (text) => h('span', { class: 'visually-hidden' }, `: ${text}`);
  const join = h('a', { class: 'button button--small', href: `#/meetings/${encodeURIComponent(meeting.id)}` },
    'Join', hidden(title));
  const download = calendarButton(ctx, meeting, title, error);
  const hosting = meeting.host_id === ctx.user.id;
  const actions = [join, download];
  let changeForm = null;
  if (hosting) {
    const change = h('button', { type: 'button', class: 'button button--small button--secondary', 'aria-expanded': 'false' },
      'Change', hidden(title));
    const changing = changeMeetingForm(ctx, meeting, {
      candidates,
      onDone: (updated) => changed(`${KIND_NOUNS[meeting.kind] || 'Meeting'} changed: ${meetingWhen(updated)}. Invitees were sent the new time.`),
      onClose: () => {
        changeForm.hidden = true;
        change.setAttribute('aria-expanded', 'false');
        change.focus();
      },
    });
    changeForm = changing.form;
    changeForm.hidden = true;
    change.addEventListener('click', () => {
      const opening = changeForm.hidden;
      changeForm.hidden = !opening;
      change.setAttribute('aria-expanded', String(opening));
      if (opening) {
        changing.loadInvitees();
        changeForm.querySelector('input').focus();
      }
    });
    const cancel = confirmingButton({
      label: 'Cancel meeting',
      hiddenLabel: `: ${title}`,
      question: 'Cancel this meeting for everyone?',
      confirmLabel: 'Yes, cancel it',
      cancelLabel: 'Keep it',
      className: 'button--secondary',
      action: async () => {
        error.textContent = '';
        try {
          await api.request(`/api/v1/meetings/${encodeURIComponent(meeting.id)}/cancel`, { method: 'POST' });
          if (ctx.isCurrent()) await changed(`${title} was cancelled. Invitees were told.`);
        } catch (failure) {
          if (ctx.isCurrent()) error.textContent = `The meeting could not be cancelled. ${problemMessage(failure)}`;
        }
      },
    });
    actions.push(change, cancel);
  }
  return h('li', { class: 'session meeting-item' },
    itemHeader(meeting, isNow(meeting, now) ? badge('Now', 'current') : null,
      hosting ? h('span', { class: 'meeting-item__host' }, '(you arranged it) ') : null),
    h('div', { class: 'button-row session__actions' }, actions),
    error,
    changeForm);
}

/**
 * The host's form to move or retitle a meeting and to choose who is invited
 * (PATCH); invitees get the update by email, and those no longer invited a
 * cancellation. Who may be invited is loaded when the form first opens
 * (loadInvitees); until then, or if that fails, the invitees stay as they are.
 */
function changeMeetingForm(ctx, meeting, { candidates, onDone, onClose }) {
  const close = h('button', { type: 'button', class: 'button button--secondary' }, 'Close');
  close.addEventListener('click', onClose);
  const invitees = h('div', { class: 'meeting-item__invitees' });
  let choices = null;
  let loading = null;
  const { form } = meetingForm(ctx, {
    title: meeting.title,
    meeting,
    submitText: 'Save changes',
    busyText: 'Saving…',
    label: `Change ${meetingTitle(meeting)}`,
    className: 'meeting-item__change',
    extra: invitees,
    close,
    failurePrefix: 'The meeting could not be changed. ',
    save: ({ title, startsAt, endsAt }) => api.request(`/api/v1/meetings/${encodeURIComponent(meeting.id)}`, {
      method: 'PATCH',
      body: {
        title,
        starts_at: startsAt.toISOString(),
        ends_at: endsAt.toISOString(),
        ...(choices ? { invitee_ids: choices.chosen() } : {}),
      },
    }),
    done: onDone,
  });

  function loadInvitees() {
    if (loading) return loading;
    invitees.replaceChildren(h('p', { class: 'muted' }, 'Loading who can be invited…'));
    loading = (async () => {
      try {
        const offered = await candidates(meeting, ctx.signal);
        if (!ctx.isCurrent()) return;
        const invited = new Set((meeting.invitee_ids || []).map(String));
        const people = offered.map((p) => ({ ...p, checked: invited.has(String(p.user_id)) }));
        const known = new Set(people.map((p) => String(p.user_id)));
        // Someone invited earlier who is no longer among those offered (they left the care
        // team): still invited until the host unticks them.
        for (const id of invited) {
          if (!known.has(id)) people.push({ user_id: id, display_name: chat.nameOf(id) || 'Someone no longer on the team', checked: true });
        }
        choices = inviteeChoices(people);
        invitees.replaceChildren(choices.element);
      } catch (failure) {
        if (!ctx.isCurrent() || (failure && failure.name === 'AbortError')) return;
        loading = null;
        invitees.replaceChildren(h('p', { class: 'field__error', role: 'alert' },
          `Who is invited cannot be changed just now. ${problemMessage(failure)}`));
      }
    })();
    return loading;
  }

  return { form, loadInvitees };
}

function pastItem(ctx, meeting) {
  const title = meetingTitle(meeting);
  const cancelled = Boolean(meeting.cancelled_at);
  let attendance = null;
  if (!cancelled) {
    const body = h('div', { class: 'meeting-item__attendance' }, h('p', { class: 'muted' }, 'Loading attendance…'));
    attendance = h('details', { class: 'details' },
      h('summary', {}, 'Attendance', h('span', { class: 'visually-hidden' }, `: ${title}`)),
      body);
    let loaded = false;
    attendance.addEventListener('toggle', async () => {
      if (!attendance.open || loaded) return;
      loaded = true;
      try {
        const rows = await api.request(`/api/v1/meetings/${encodeURIComponent(meeting.id)}/attendance`, { signal: ctx.signal });
        if (!ctx.isCurrent()) return;
        body.replaceChildren(attendanceTable(title, Array.isArray(rows) ? rows : []));
      } catch (failure) {
        if (!ctx.isCurrent() || (failure && failure.name === 'AbortError')) return;
        loaded = false;
        body.replaceChildren(h('p', { class: 'field__error', role: 'alert' },
          `Attendance could not be shown. ${problemMessage(failure)}`));
      }
    });
  }
  return h('li', { class: 'session meeting-item' },
    itemHeader(meeting, cancelled ? badge('Cancelled') : null),
    attendance);
}

function attendanceTable(title, rows) {
  const caption = `Attendance at ${title}`;
  const table = dataTable({
    caption,
    captionHidden: true,
    items: rows,
    emptyText: 'No one joined.',
    columns: [
      { header: 'Name', rowHeader: true, cell: (r) => r.name || '—' },
      { header: 'Arrived', cell: (r) => (r.arrived_at ? formatDateTime(r.arrived_at) : '—') },
      { header: 'Left', cell: (r) => (r.left_at ? formatDateTime(r.left_at) : '—') },
      { header: 'Minutes', cell: (r) => (typeof r.minutes === 'number' ? String(Math.round(r.minutes * 10) / 10) : '—') },
    ],
  });
  // A table wider than a phone scrolls in its own focusable, named region.
  table.setAttribute('tabindex', '0');
  table.setAttribute('role', 'region');
  table.setAttribute('aria-label', caption);
  return table;
}
