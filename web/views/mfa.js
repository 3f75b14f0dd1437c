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

/**
 * The field for a code from an authenticator app, as every form asking for one shows it.
 * @param {string} hint
 * @param {{ inputmode?: string, autocapitalize?: string }} [extra]
 */
export function codeField(hint, extra = {}) {
  return textField({
    label: 'Authentication code',
    name: 'code',
    autocomplete: 'one-time-code',
    spellcheck: false,
    hint,
    extraClass: 'input--code',
    ...extra,
  });
}

/**
 * Send the code when `form` is submitted, the same way on every form that asks for one: an
 * empty code is refused at its field (`missing`, and `summary` above the form when given) before
 * anything is sent; a refusal from the server clears the code and is shown beside `fields`
 * (problem field name → field), then focus goes to `focusOnFailure` (the code by default).
 * `check` runs first for the form's other fields; `send` does the rest of a success.
 * @param {HTMLFormElement} form
 * @param {{
 *   ctx: import('../app.js').ViewContext,
 *   code: ReturnType<typeof textField>,
 *   submit: ReturnType<typeof submitButton>,
 *   errors: ReturnType<typeof errorArea>,
 *   fields: Record<string, ReturnType<typeof textField>>,
 *   missing: string,
 *   summary?: string,
 *   check?: () => boolean,
 *   focusOnFailure?: HTMLElement,
 *   send: (code: string) => Promise<void>,
 * }} options
 */
export function onCodeSubmit(form, options) {
  const { ctx, code, submit, errors, fields } = options;
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (submit.busy) return;
    errors.clear();
    for (const field of new Set(Object.values(fields))) field.clearError();
    const value = normaliseCode(code.input.value);
    if (options.check && !options.check()) return;
    if (!value) {
      code.setError(options.missing);
      if (options.summary) errors.show(options.summary);
      code.input.focus();
      return;
    }
    submit.setBusy(true);
    try {
      await options.send(value);
    } catch (error) {
      if (!ctx.isCurrent()) return;
      submit.setBusy(false);
      code.input.value = '';
      errors.show(error, applyFieldErrors(error, fields));
      (options.focusOnFailure || code.input).focus();
    }
  });
}

/** @param {import('../app.js').ViewContext} ctx */
export function render(ctx) {
  const errors = errorArea();
  const code = codeField(
    'Enter the 6-digit code from your authenticator app. If you cannot use the app, enter one of your recovery codes.',
    { autocapitalize: 'none' });
  const submit = submitButton('Verify', { busyText: 'Verifying…' });

  const form = h('form', { class: 'form', novalidate: true },
    code.element, h('div', { class: 'form__actions' }, submit.element));

  onCodeSubmit(form, {
    ctx, code, submit, errors,
    fields: { code, mfa_token: code },
    missing: 'Enter your authentication code',
    summary: 'Enter the code from your authenticator app.',
    send: async (value) => {
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
    },
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
