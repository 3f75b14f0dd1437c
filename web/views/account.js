// "Your account": the signed-in person's own security. For now, replacing
// the recovery codes of two-step verification (the old ones stop working).

import * as api from '../api.js';
import {
  h, heading, page, errorArea, textField, submitButton, uid,
} from '../ui.js';
import { codeField, onCodeSubmit } from './mfa.js';
import { recoveryCodesCard } from './mfa-enrol.js';

/** @param {import('../app.js').ViewContext} ctx */
export function render(ctx) {
  const root = page(
    h('div', { class: 'page-header' },
      heading('Your account'),
      h('p', { class: 'lead' }, `Signed in as ${ctx.user.display_name || ctx.user.email}.`)),
    recoveryCodesSection(ctx, (codes) => {
      // Shown once, in place of the page; "I have saved these" brings it back.
      const card = recoveryCodesCard(codes, {
        done: 'Your new recovery codes are ready. The old ones no longer work.',
        onSaved: () => {
          ctx.setFlash('Your new recovery codes are saved. We have emailed you to say they were replaced.', 'success');
          ctx.redirect('#/account');
        },
      });
      root.replaceChildren(h('div', { class: 'auth-layout auth-layout--wide' }, card));
      ctx.updateTitle();
      ctx.focusHeading();
    }));
  if (ctx.flash) root.prepend(h('div', { class: ['notice', `notice--${ctx.flash.kind}`], role: 'status' }, ctx.flash.message));
  return root;
}

function recoveryCodesSection(ctx, onReplaced) {
  const titleId = uid('recovery');
  const errors = errorArea();
  const password = textField({
    label: 'Your password', name: 'password', type: 'password', autocomplete: 'current-password',
  });
  const code = codeField('The 6-digit code your authenticator app shows for Teamwell now.',
    { inputmode: 'numeric' });
  const submit = submitButton('Replace my recovery codes', { busyText: 'Replacing…' });
  const form = h('form', { class: 'form', novalidate: true },
    errors.element,
    password.element,
    code.element,
    h('div', { class: 'form__actions' }, submit.element));

  onCodeSubmit(form, {
    ctx, code, submit, errors,
    fields: { password, code },
    check: () => {
      if (password.input.value) return true;
      password.setError('Enter your password');
      password.input.focus();
      return false;
    },
    missing: 'Enter the code from your authenticator app',
    focusOnFailure: errors.element,
    send: async (value) => {
      // A wrong password or code is a 401 that must not end the session.
      const answer = await api.request('/api/v1/auth/mfa/recovery-codes', {
        method: 'POST',
        body: { password: password.input.value, code: value },
        retry: false,
        expireOnFailure: false,
      });
      if (!ctx.isCurrent()) return;
      onReplaced((answer && Array.isArray(answer.recovery_codes) ? answer.recovery_codes : []).map(String));
    },
  });

  return h('section', { class: 'account-section', 'aria-labelledby': titleId },
    h('h2', { id: titleId }, 'Recovery codes'),
    h('p', {}, 'Recovery codes let you sign in if you lose your authenticator app. Replace them if you have used most of them or think someone else has seen them: the old codes stop working, and we email you to say so.'),
    h('p', {}, 'To replace them, confirm it is you with your password and a current code from your authenticator app.'),
    form);
}
