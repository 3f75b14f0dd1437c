// A guest link (#/guest/<token>): someone without a Teamwell account (a
// client, an interpreter, a family member) joins one session. They give their
// first name, or the short code they were sent, and wait in the session's
// waiting room until the staff let them in (docs/meetings.md, "Guest links").
//
// A link that cannot be used (unknown, used, withdrawn, expired, locked, not
// open yet) gets a page that says so and what to do. The credential the
// server gives opens the meeting's call and nothing else; it is kept for this
// tab only (sessionStorage), so that "Join again" after leaving works until
// it expires without spending another link.

import * as api from '../api.js';
import * as rt from '../realtime.js';
import {
  h, heading, page, lead, problemMessage, errorArea, submitButton, textField, formatDateTime,
} from '../ui.js';
import { meetingRoom } from './meeting.js';

const STORE_KEY = 'teamwell.guest';

const WHO = {
  client: 'your video appointment',
  interpreter: 'a video appointment as an interpreter',
  family: 'a video appointment',
};

/** The credential kept for this link in this tab, while it lasts. */
function kept(token) {
  try {
    const saved = JSON.parse(window.sessionStorage.getItem(STORE_KEY) || 'null');
    if (saved && saved.token === token && Date.parse(saved.expires_at) > Date.now() + 5_000) return saved;
  } catch {
    // Nothing usable kept.
  }
  return null;
}

function keep(token, credential) {
  try {
    window.sessionStorage.setItem(STORE_KEY, JSON.stringify({ token, ...credential }));
  } catch {
    // Private browsing without storage: joining again needs a new link.
  }
}

/** @param {import('../app.js').ViewContext} ctx */
export async function render(ctx) {
  const token = ctx.params.token;
  const saved = kept(token);
  if (saved) return enter(ctx, saved);
  let info;
  try {
    info = await api.request(`/api/v1/guest-links/${encodeURIComponent(token)}`, { auth: false, signal: ctx.signal });
  } catch (error) {
    if (error && error.name === 'AbortError') throw error;
    return refused(error);
  }
  return sayWhoYouAre(ctx, token, info);
}

/**
 * The clear page for a link that cannot be used.
 * @param {any} error
 */
function refused(error) {
  const status = error && error.status;
  const title = status === 409 ? 'This link is not open yet'
    : status === 404 ? 'We could not find this link'
      : status === 0 ? 'Teamwell could not be reached'
        : 'This link cannot be used';
  return page(
    h('div', { class: 'page-header' }, heading(title)),
    h('div', { class: 'notice notice--warning guest__refused', role: 'status' }, problemMessage(error)),
    h('p', {}, status === 409
      ? 'Come back to this link at the time of your appointment.'
      : 'If you were expecting an appointment, contact the person who sent you the link.'));
}

function sayWhoYouAre(ctx, token, info) {
  const holder = page();
  const errors = errorArea();
  const name = textField({
    label: 'Your first name', name: 'name', autocomplete: 'given-name', autocapitalize: 'words', spellcheck: false,
  });
  const code = textField({
    label: 'The code you were sent', name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code',
    hint: 'Six numbers, in the email or message with your link.',
  });
  code.element.hidden = true;
  let usingCode = false;
  const toggle = h('button', { type: 'button', class: 'button button--link' }, 'Use the code you were sent instead');
  toggle.addEventListener('click', () => {
    usingCode = !usingCode;
    name.element.hidden = usingCode;
    code.element.hidden = !usingCode;
    toggle.textContent = usingCode ? 'Use your first name instead' : 'Use the code you were sent instead';
    (usingCode ? code.input : name.input).focus();
  });
  const submit = submitButton('Continue', { busyText: 'Checking…' });
  const form = h('form', { class: 'form guest__form', novalidate: true, 'aria-label': 'Say who you are' },
    errors.element, name.element, code.element,
    h('p', {}, toggle),
    h('div', { class: 'form__actions' }, submit.element));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (submit.busy) return;
    errors.clear();
    name.clearError();
    code.clearError();
    const field = usingCode ? code : name;
    const value = field.input.value.trim();
    if (!value) {
      field.setError(usingCode ? 'Enter the code you were sent' : 'Enter your first name');
      field.input.focus();
      return;
    }
    submit.setBusy(true);
    try {
      const credential = await api.request(`/api/v1/guest-links/${encodeURIComponent(token)}/join`, {
        method: 'POST', auth: false, body: usingCode ? { code: value } : { name: value }, signal: ctx.signal,
      });
      if (!ctx.isCurrent()) return;
      keep(token, credential);
      holder.replaceWith(enter(ctx, credential));
      ctx.focusHeading();
    } catch (error) {
      if (error.name === 'AbortError' || !ctx.isCurrent()) return;
      if (error.status === 403) {
        field.setError(problemMessage(error));
        field.input.focus();
      } else if (error.status === 422) {
        field.setError(usingCode ? 'Enter the code as it was sent' : 'Enter your first name as one line of text');
        field.input.focus();
      } else {
        holder.replaceWith(refused(error));
        ctx.focusHeading();
      }
    } finally {
      submit.setBusy(false);
    }
  });

  holder.append(
    h('div', { class: 'page-header' }, heading('Join your video appointment')),
    lead(`You have been invited to ${WHO[info.kind] || WHO.family}, from ${formatDateTime(info.starts_at)} to ${formatDateTime(info.ends_at)}.`),
    h('p', {}, info.kind === 'client'
      ? 'To check it is you, give your first name (or the code you were sent). Then you wait until your care team lets you in.'
      : 'To check it is you, give your first name as it was given to the care team (or the code you were sent). Then you wait until you are let in.'),
    form);
  return holder;
}

/**
 * The session's room, entered as a guest: the same waiting room and call a
 * client has, with the guest's credential on /ws.
 * @param {import('../app.js').ViewContext} ctx
 * @param {{ credential: string, meeting_id: string, name: string, kind: string, expires_at: string,
 *   starts_at: string, ends_at: string }} credential
 */
function enter(ctx, credential) {
  rt.connectAsGuest(credential.credential);
  ctx.signal.addEventListener('abort', () => rt.disconnect(), { once: true });
  const guestCtx = {
    ...ctx,
    user: /** @type {any} */ ({ id: '', display_name: credential.name, role: 'client', guest: credential.kind }),
  };
  const meeting = {
    id: credential.meeting_id,
    kind: 'client_session',
    title: 'Your video appointment',
    client_id: null,
    starts_at: credential.starts_at,
    ends_at: credential.ends_at,
  };
  return meetingRoom(guestCtx, meeting);
}
