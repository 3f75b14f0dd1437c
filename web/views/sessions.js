// "Sessions" on a client's summary: upcoming video meetings for the client,
// with "Join" links and calendar files, and (for staff) a form to schedule a
// client session. On "My record" the client sees their own sessions.

import * as api from '../api.js';
import {
  h, uid, badge, textField, applyFieldErrors, submitButton, problemMessage,
} from '../ui.js';
import { KIND_LABELS, meetingWhen } from './meeting/labels.js';

/** @type {[number, string][]} */
export const DURATIONS = [
  [30, '30 minutes'],
  [45, '45 minutes'],
  [60, '1 hour'],
  [90, '1 hour 30 minutes'],
];
export const DEFAULT_DURATION = 60;
export const PAST_GRACE_MS = 5 * 60_000; // a session may start a few minutes ago (a call arranged now)

function pad(n) {
  return String(n).padStart(2, '0');
}

export function localDate(d) {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** The next quarter hour from now, as local date and time strings. */
export function nextQuarterHour(now = new Date()) {
  const d = new Date(now.getTime());
  d.setSeconds(0, 0);
  d.setMinutes(Math.ceil((d.getMinutes() + 1) / 15) * 15);
  return { date: localDate(d), time: `${pad(d.getHours())}:${pad(d.getMinutes())}` };
}

export function isUpcoming(meeting, now) {
  return !meeting.cancelled_at && meeting.state !== 'ended' && new Date(meeting.ends_at).getTime() > now;
}

function isNow(meeting, now) {
  return new Date(meeting.starts_at).getTime() <= now && now < new Date(meeting.ends_at).getTime();
}

/**
 * "Download calendar file" for a meeting (its .ics, named by its local day); `title` names the
 * meeting for screen readers, `error` is where a failed download is reported.
 */
export function calendarButton(ctx, meeting, title, error) {
  const download = h('button', { type: 'button', class: 'button button--small button--secondary' },
    'Download calendar file', h('span', { class: 'visually-hidden' }, `: ${title}`));
  download.addEventListener('click', async () => {
    if (download.getAttribute('aria-disabled') === 'true') return;
    download.setAttribute('aria-disabled', 'true');
    error.textContent = '';
    try {
      const day = localDate(new Date(meeting.starts_at));
      await api.download(`/api/v1/meetings/${encodeURIComponent(meeting.id)}/invite.ics`, `teamwell-${day}.ics`);
    } catch (failure) {
      if (ctx.isCurrent()) error.textContent = `The calendar file could not be downloaded. ${problemMessage(failure)}`;
    } finally {
      download.removeAttribute('aria-disabled');
    }
  });
  return download;
}

/**
 * One upcoming meeting: its title and time, "Join", and its calendar file.
 * error: where a failed download is reported; showKind: badge meetings that
 * are not client sessions with their kind.
 */
export function meetingItem(meeting, now, ctx, error, { showKind = false } = {}) {
  const title = meeting.title || KIND_LABELS[meeting.kind] || 'Meeting';
  const join = h('a', { class: 'button button--small', href: `#/meetings/${encodeURIComponent(meeting.id)}` },
    'Join', h('span', { class: 'visually-hidden' }, `: ${title}`));
  const download = calendarButton(ctx, meeting, title, error);
  return h('li', { class: 'session' },
    h('div', { class: 'session__text' },
      h('p', { class: 'session__title' }, title, ' ',
        isNow(meeting, now) ? badge('Now', 'current') : null,
        showKind && meeting.kind !== 'client_session' ? badge(KIND_LABELS[meeting.kind] || 'Meeting') : null),
      h('p', { class: 'session__when' },
        h('time', { datetime: meeting.starts_at }, meetingWhen(meeting)))),
    h('div', { class: 'button-row session__actions' }, join, download));
}

/**
 * client: the client record; ctx: the router context.
 * Returns the panel; it loads the sessions itself.
 */
export function sessionsPanel(client, ctx) {
  const isClient = ctx.user.role === 'client';
  const firstName = String(client.display_name || '').trim().split(/\s+/)[0] || 'the client';
  const titleId = uid('sessions');
  const status = h('div', { class: 'sessions__status', role: 'status', tabindex: '-1' });
  const error = h('p', { class: 'field__error', role: 'alert' });
  const list = h('ul', { class: 'session-list', 'aria-labelledby': titleId });
  const empty = h('p', { class: 'muted sessions__empty', hidden: true },
    isClient ? 'You have no sessions booked.' : 'No upcoming sessions.');
  const loading = h('p', { class: 'muted' }, 'Loading sessions…');

  async function load({ focusStatus = false } = {}) {
    error.textContent = '';
    try {
      const found = await api.request('/api/v1/meetings', { query: { client_id: client.id }, signal: ctx.signal });
      if (!ctx.isCurrent()) return;
      const now = Date.now();
      const items = (Array.isArray(found) ? found : [])
        .filter((m) => isUpcoming(m, now))
        .filter((m) => !isClient || m.kind === 'client_session' || (m.invitee_ids || []).includes(ctx.user.id))
        // Staff find case meetings in their own panel (meetings.js).
        .filter((m) => isClient || m.kind !== 'case_meeting');
      loading.hidden = true;
      list.replaceChildren(...items.map((m) => meetingItem(m, now, ctx, error, { showKind: !isClient })));
      list.hidden = items.length === 0;
      empty.hidden = items.length > 0;
      if (focusStatus) status.focus();
    } catch (failure) {
      if (!ctx.isCurrent() || (failure && failure.name === 'AbortError')) return;
      loading.hidden = true;
      error.textContent = `Sessions could not be loaded. ${problemMessage(failure)}`;
    }
  }

  const intro = isClient
    ? 'Video sessions with your care team. Join from here at the time of the session.'
    : `Video sessions with ${firstName}. ${firstName} joins from their record and waits until someone from the care team lets them in.`;

  const section = h('section', { class: 'sessions', 'aria-labelledby': titleId },
    h('p', { id: titleId, class: 'sessions__title' }, isClient ? 'Your sessions' : 'Sessions'),
    h('p', { class: 'sessions__intro' }, intro,
      !isClient && !client.user_id ? ` ${firstName} has no Teamwell account yet, so they cannot join a session until they have one.` : ''),
    status,
    error,
    loading,
    list,
    empty,
    isClient ? null : scheduleForm(client, ctx, firstName, async (meeting) => {
      status.replaceChildren(h('p', { class: 'notice notice--success' },
        `Session scheduled: ${meetingWhen(meeting)}.`));
      await load({ focusStatus: true });
    }));
  list.hidden = true;
  load();
  return section;
}

/**
 * Date, start time and length of a meeting to arrange: `element` holds the
 * fields; `read()` gives { startsAt, endsAt } or null after marking what is
 * wrong (and focusing it); `reset()` moves them to the next quarter hour.
 * `meeting` (optional): start from its time and length (changing a meeting).
 */
export function whenFields(meeting = null) {
  const start = meeting ? new Date(meeting.starts_at) : null;
  const defaults = start && !Number.isNaN(start.getTime())
    ? { date: localDate(start), time: `${pad(start.getHours())}:${pad(start.getMinutes())}` }
    : nextQuarterHour();
  const length = meeting ? Math.round((new Date(meeting.ends_at).getTime() - start.getTime()) / 60_000) : DEFAULT_DURATION;
  const lengths = DURATIONS.some(([minutes]) => minutes === length) || !(length > 0)
    ? DURATIONS : [...DURATIONS, /** @type {[number, string]} */ ([length, `${length} minutes`])].sort((a, b) => a[0] - b[0]);
  const chosen = length > 0 ? length : DEFAULT_DURATION;
  const date = textField({ label: 'Date', name: 'date', type: 'date', value: defaults.date, extraClass: 'input--date' });
  const time = textField({
    label: 'Start time', name: 'time', type: 'time', value: defaults.time, extraClass: 'input--time', hint: '24-hour clock, for example 14:30',
  });
  const durationId = uid('duration');
  const duration = h('select', { id: durationId, name: 'duration', class: 'select select--narrow' },
    lengths.map(([minutes, label]) => h('option', { value: String(minutes), selected: minutes === chosen }, label)));
  const durationField = h('div', { class: 'field' },
    h('label', { for: durationId, class: 'field__label' }, 'Length'),
    duration);
  return {
    date,
    time,
    element: h('div', { class: 'sessions__when-fields' }, date.element, time.element, durationField),
    read() {
      date.clearError();
      time.clearError();
      const startsAt = new Date(`${date.input.value}T${time.input.value}`);
      let invalid = null;
      if (!date.input.value) {
        date.setError('Enter a date');
        invalid = date.input;
      } else if (!time.input.value) {
        time.setError('Enter a start time');
        invalid = time.input;
      } else if (Number.isNaN(startsAt.getTime())) {
        date.setError('Enter a real date and time');
        invalid = date.input;
      } else if (startsAt.getTime() < Date.now() - PAST_GRACE_MS) {
        time.setError('Choose a time that has not passed');
        invalid = time.input;
      }
      if (invalid) {
        invalid.focus();
        return null;
      }
      const endsAt = new Date(startsAt.getTime() + Number(duration.value || DEFAULT_DURATION) * 60_000);
      return { startsAt, endsAt };
    },
    reset() {
      const next = nextQuarterHour();
      date.input.value = next.date;
      time.input.value = next.time;
    },
  };
}

/**
 * A meeting's title and time as one form, for arranging a meeting or changing
 * one: the title, whenFields(meeting), anything `extra` (who is invited), and
 * the submit button (with `close` beside it, if given). On submit the title
 * and time are checked here first; then `save({ title, startsAt, endsAt })`
 * makes the request while the button shows `busyText`, and `done(result)`
 * runs if the page is still open. A refusal is shown above the fields (after
 * `failurePrefix`), its field errors on their fields.
 * @param {import('../app.js').ViewContext} ctx
 * @param {{
 *   title: string,
 *   meeting?: Record<string, any> | null,
 *   submitText: string,
 *   busyText: string,
 *   label?: string,
 *   className?: string,
 *   extra?: Node | null,
 *   close?: HTMLElement | null,
 *   failurePrefix?: string,
 *   save: (values: { title: string, startsAt: Date, endsAt: Date }) => Promise<any>,
 *   done: (result: any) => (Promise<void> | void),
 * }} options
 */
export function meetingForm(ctx, {
  title: initialTitle, meeting = null, submitText, busyText, label, className, extra = null, close = null,
  failurePrefix = '', save, done,
}) {
  const title = textField({ label: 'Title', name: 'title', value: initialTitle, autocomplete: 'off' });
  const when = whenFields(meeting);
  const summaryError = h('p', { class: 'field__error', role: 'alert' });
  const submit = submitButton(submitText, { busyText });
  const form = h('form', { class: ['form', 'sessions__form', className], novalidate: true, 'aria-label': label },
    summaryError,
    title.element,
    when.element,
    extra,
    h('div', { class: ['form__actions', close ? 'button-row' : null] }, submit.element, close));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (submit.busy) return;
    title.clearError();
    summaryError.textContent = '';
    const text = title.input.value.trim();
    if (!text) {
      title.setError('Enter a title');
      title.input.focus();
      return;
    }
    const times = when.read();
    if (!times) return;
    submit.setBusy(true);
    try {
      const result = await save({ title: text, ...times });
      if (!ctx.isCurrent()) return;
      await done(result);
    } catch (failure) {
      if (!ctx.isCurrent()) return;
      const unmatched = applyFieldErrors(failure, { title, starts_at: when.date, ends_at: when.time });
      summaryError.textContent = [`${failurePrefix}${problemMessage(failure)}`, ...unmatched].join(' ');
    } finally {
      submit.setBusy(false);
    }
  });
  return { form, when };
}

function scheduleForm(client, ctx, firstName, onScheduled) {
  const { form, when } = meetingForm(ctx, {
    title: `Session with ${firstName}`,
    submitText: 'Schedule session',
    busyText: 'Scheduling…',
    save: ({ title, startsAt, endsAt }) => api.request('/api/v1/meetings', {
      method: 'POST',
      body: {
        kind: 'client_session',
        title,
        client_id: client.id,
        starts_at: startsAt.toISOString(),
        ends_at: endsAt.toISOString(),
        invitee_ids: [],
      },
    }),
    done: async (meeting) => {
      details.open = false;
      when.reset();
      await onScheduled(meeting);
    },
  });
  const details = h('details', { class: 'details sessions__schedule' },
    h('summary', {}, 'Schedule a session'),
    form);
  return details;
}
