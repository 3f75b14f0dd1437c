// Two-step verification set-up, then the one-time display of recovery codes.

import * as api from '../api.js';
import {
  h, heading, errorArea, submitButton, copyText, notice, uid,
} from '../ui.js';
import { codeField, onCodeSubmit } from './mfa.js';

/** "JBSWY3DPEHPK3PXP" → "JBSW Y3DP EHPK 3PXP" */
export function groupSecret(secret) {
  const compact = String(secret || '').replace(/\s+/g, '');
  return (compact.match(/.{1,4}/g) || []).join(' ');
}

/** @param {import('../app.js').ViewContext} ctx */
export async function render(ctx) {
  const codes = api.pendingRecoveryCodes();
  if (codes) return recoveryCodesView(ctx, codes);
  const enrolment = await api.startEnrolment({ signal: ctx.signal });
  return setupView(ctx, enrolment || {});
}

function copyButton(text, value, status) {
  return h('button', {
    type: 'button',
    class: 'button button--secondary button--small',
    onclick: async () => {
      const ok = await copyText(value);
      status.textContent = ok ? 'Copied.' : 'Could not copy. Select the text and copy it instead.';
    },
  }, text);
}

function setupView(ctx, { secret, otpauth_uri: uri }) {
  const errors = errorArea();
  const copyStatus = h('p', { class: 'copy-status', role: 'status' });
  const code = codeField('The 6-digit code your app shows for Teamwell.', { inputmode: 'numeric' });
  const submit = submitButton('Verify', { busyText: 'Verifying…' });
  const form = h('form', { class: 'form', novalidate: true },
    code.element, h('div', { class: 'form__actions' }, submit.element));

  const root = h('div', { class: 'auth-layout auth-layout--wide' });

  onCodeSubmit(form, {
    ctx, code, submit, errors,
    fields: { code },
    missing: 'Enter the code from your authenticator app',
    summary: 'Enter the 6-digit code from your authenticator app.',
    send: async (value) => {
      const recoveryCodes = await api.verifyEnrolment(value);
      if (!ctx.isCurrent()) return;
      root.replaceWith(recoveryCodesView(ctx, recoveryCodes));
      ctx.updateTitle();
      ctx.focusHeading();
    },
  });

  const stepOne = uid('step');
  const stepTwo = uid('step');
  root.append(h('div', { class: 'card auth-card' },
    heading('Set up two-step verification'),
    h('p', { class: 'lead' },
      'Your organisation asks everyone to confirm it is them with a code from an authenticator app when they sign in. Set this up now to continue.'),
    errors.element,
    h('ol', { class: 'steps' },
      h('li', { class: 'steps__item', 'aria-labelledby': stepOne },
        h('h2', { id: stepOne, class: 'steps__title' }, 'Add Teamwell to your authenticator app'),
        h('p', {}, 'Open your authenticator app, choose to add an account, and enter this setup key:'),
        h('p', { class: 'secret' }, h('code', { class: 'secret__value' }, groupSecret(secret))),
        h('p', { class: 'button-row' }, copyButton('Copy setup key', String(secret || '').replace(/\s+/g, ''), copyStatus)),
        uri ? [
          h('p', {}, 'If your app asks for a setup link instead, use this one:'),
          h('p', { class: 'uri' }, h('code', {}, uri)),
          h('p', { class: 'button-row' }, copyButton('Copy setup link', uri, copyStatus)),
        ] : null,
        copyStatus),
      h('li', { class: 'steps__item', 'aria-labelledby': stepTwo },
        h('h2', { id: stepTwo, class: 'steps__title' }, 'Enter the code from your app'),
        form))));
  return root;
}

function recoveryCodesView(ctx, codes) {
  return h('div', { class: 'auth-layout auth-layout--wide' },
    recoveryCodesCard(codes, {
      done: 'Two-step verification is now set up.',
      onSaved: () => {
        api.acknowledgeRecoveryCodes();
        ctx.goHome();
      },
    }));
}

/**
 * The one-time display of recovery codes, with copy, download and "I have
 * saved these" (onSaved). done: what has just happened, said above them.
 * Also used when someone replaces their codes (views/account.js).
 * @param {string[]} codes
 * @param {{ done: string, onSaved: () => void }} options
 */
export function recoveryCodesCard(codes, { done, onSaved }) {
  const status = h('p', { class: 'copy-status', role: 'status' });
  const text = `Teamwell recovery codes\n\n${codes.join('\n')}\n\nEach code can be used once.\n`;

  const download = () => {
    const url = URL.createObjectURL(new Blob([text], { type: 'text/plain' }));
    const link = h('a', { href: url, download: 'teamwell-recovery-codes.txt', class: 'visually-hidden' }, 'Download');
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
    status.textContent = 'Downloaded teamwell-recovery-codes.txt.';
  };

  return h('div', { class: 'card auth-card' },
    heading('Save your recovery codes'),
    notice(done, 'success'),
    h('p', {}, 'If you lose access to your authenticator app, you can sign in with one of these codes instead. Each code works once.'),
    h('p', { class: 'warning-text' },
      h('strong', {}, 'You will not be shown these codes again. '),
      'Keep them somewhere safe and private, such as a password manager.'),
    h('ol', { class: 'recovery-codes', 'aria-label': 'Recovery codes' },
      codes.map((c) => h('li', {}, h('code', {}, c)))),
    h('p', { class: 'button-row' },
      h('button', {
        type: 'button',
        class: 'button button--secondary',
        onclick: async () => {
          status.textContent = (await copyText(codes.join('\n')))
            ? 'Copied the recovery codes.'
            : 'Could not copy. Select the codes and copy them instead.';
        },
      }, 'Copy codes'),
      h('button', { type: 'button', class: 'button button--secondary', onclick: download }, 'Download as a text file')),
    status,
    h('div', { class: 'form__actions' },
      h('button', { type: 'button', class: 'button', onclick: onSaved }, 'I have saved these')));
}
