// Second sign-in step: a code from the authenticator app or a recovery code.

import * as api from '../api.js';
import {
  h, heading, errorArea, textField, submitButton, applyFieldErrors,
} from '../ui.js';

/** Strip spaces from a numeric code ("123 456"); leave recovery codes alone. */
export function normaliseCode(value) {
  const trimmed = value.trim();
  return /^[\d\s-]+$/.test(trimmed) && trimmed.replace(/[\s-]/g, '').length === 6
    ? trimmed.replace(/[\s-]/g, '')
    : trimmed;
}

/** @param {import('../app.js').ViewContext} ctx */
export function render(ctx) {
  const errors = errorArea();
  const code = textField({
    label: 'Authentication code',
    name: 'code',
    autocomplete: 'one-time-code',
    spellcheck: false,
    autocapitalize: 'none',
    hint: 'Enter the 6-digit code from your authenticator app. If you cannot use the app, enter one of your recovery codes.',
    extraClass: 'input--code',
  });
  const submit = submitButton('Verify', { busyText: 'Verifying…' });

  const form = h('form', { class: 'form', novalidate: true },
    code.element, h('div', { class: 'form__actions' }, submit.element));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (submit.busy) return;
    errors.clear();
    code.clearError();
    const value = normaliseCode(code.input.value);
    if (!value) {
      code.setError('Enter your authentication code');
      errors.show('Enter the code from your authenticator app.');
      code.input.focus();
      return;
    }
    submit.setBusy(true);
    try {
      const outcome = await api.verifyLoginCode(value);
      if (!ctx.isCurrent()) return;
      if (outcome === 'mfa') {
        submit.setBusy(false);
        code.input.value = '';
        errors.show('Enter a new code from your authenticator app.');
      } else if (outcome === 'enrol') {
        ctx.redirect('#/mfa/enrol');
      } else {
        ctx.goHome();
      }
    } catch (error) {
      if (!ctx.isCurrent()) return;
      submit.setBusy(false);
      code.input.value = '';
      errors.show(error, applyFieldErrors(error, { code, mfa_token: code }));
      code.input.focus();
    }
  });

  const back = h('a', {
    href: '#/login',
    onclick: () => api.cancelPendingSignIn(),
  }, 'Back to sign in');

  return h('div', { class: 'auth-layout' },
    h('div', { class: 'card auth-card' },
      heading('Check your authenticator app'),
      h('p', { class: 'lead' }, 'For your security, we need a code to finish signing you in.'),
      errors.element,
      form,
      h('p', { class: 'auth-card__footer' }, back)));
}
