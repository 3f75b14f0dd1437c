// Return from organisation single sign-on: swap the one-time code for tokens.

import * as api from '../api.js';
import { h, heading, problemMessage } from '../ui.js';

// A code works once; remember which have been tried in this page's life.
const used = new Set();

/** @param {import('../app.js').ViewContext} ctx */
export async function render(ctx) {
  const { code } = ctx.params;
  if (used.has(code)) return failure('This sign-in link has already been used.');
  used.add(code);

  let outcome;
  try {
    outcome = await api.exchangeSsoCode(code);
  } catch (error) {
    if (error && error.name === 'AbortError') throw error;
    return failure(problemMessage(error));
  }
  if (ctx.isCurrent()) {
    // These replace the history entry holding the code, so it is not replayed.
    if (outcome === 'mfa') ctx.redirect('#/mfa');
    else if (outcome === 'enrol') ctx.redirect('#/mfa/enrol');
    else ctx.goHome();
  }
  return h('div', { class: 'auth-layout' }, h('div', { class: 'card auth-card' }, heading('Signing you in…')));
}

function failure(message) {
  return h('div', { class: 'auth-layout' },
    h('div', { class: 'card auth-card' },
      heading('We could not sign you in'),
      h('div', { class: 'error-summary', role: 'alert' }, h('p', { class: 'error-summary__detail' }, message)),
      h('p', {}, 'Single sign-on links work once and expire after a short time. Start again from the sign-in page.'),
      h('p', {}, h('a', { class: 'button', href: '#/login' }, 'Go to sign in'))));
}

// A sign-in through the organisation's provider that failed: the server sends the browser here
// with the failure's key, and says in its own words what went wrong.
/** @param {import('../app.js').ViewContext} ctx */
export async function renderFailure(ctx) {
  const { failure } = ctx.params;
  let detail;
  try {
    const words = await api.request(`/api/v1/auth/sso/failures/${encodeURIComponent(failure)}`, { auth: false, signal: ctx.signal });
    detail = words.detail;
  } catch (error) {
    if (error && error.name === 'AbortError') throw error;
    detail = 'Single sign-on did not complete.';
  }
  return h('div', { class: 'auth-layout' },
    h('div', { class: 'card auth-card' },
      heading('We could not sign you in'),
      h('div', { class: 'error-summary', role: 'alert' }, h('p', { class: 'error-summary__detail' }, detail)),
      h('p', {}, h('a', { class: 'button', href: '#/login' }, 'Sign in again'))));
}
