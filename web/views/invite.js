// Invitation acceptance: choose a display name and password.

import * as api from '../api.js';
import {
  h, heading, errorArea, textField, submitButton, applyFieldErrors,
} from '../ui.js';

/** @param {import('../app.js').ViewContext} ctx */
export function render(ctx) {
  const { token } = ctx.params;
  const errors = errorArea();
  const name = textField({
    label: 'Your name',
    name: 'display_name',
    autocomplete: 'name',
    hint: 'This is the name other people in Teamwell will see.',
  });
  const password = textField({
    label: 'Password',
    name: 'password',
    type: 'password',
    autocomplete: 'new-password',
    hint: 'Choose a password you do not use anywhere else. A few unrelated words make a strong, memorable password.',
  });

  const toggle = h('button', {
    type: 'button',
    class: 'button button--link',
    'aria-pressed': 'false',
    'aria-controls': password.input.id,
    onclick: () => {
      const showing = password.input.type === 'text';
      password.input.type = showing ? 'password' : 'text';
      toggle.setAttribute('aria-pressed', String(!showing));
      toggle.textContent = showing ? 'Show password' : 'Hide password';
    },
  }, 'Show password');
  password.element.append(toggle);

  const submit = submitButton('Create account', { busyText: 'Creating your account…' });
  const form = h('form', { class: 'form', novalidate: true },
    name.element, password.element, h('div', { class: 'form__actions' }, submit.element));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (submit.busy) return;
    errors.clear();
    name.clearError();
    password.clearError();

    const displayName = name.input.value.trim();
    const passwordValue = password.input.value;
    const problems = [];
    if (!displayName) {
      name.setError('Enter your name');
      problems.push(name);
    }
    if (!passwordValue) {
      password.setError('Choose a password');
      problems.push(password);
    }
    if (problems.length) {
      errors.show('Some answers are missing.');
      problems[0].input.focus();
      return;
    }

    submit.setBusy(true);
    try {
      await api.request('/api/v1/invitations/accept', {
        method: 'POST',
        auth: false,
        body: { token, display_name: displayName, password: passwordValue },
      });
      if (!ctx.isCurrent()) return;
      ctx.setFlash('Your account is ready. Sign in with your email address and new password.', 'success');
      ctx.redirect('#/login');
    } catch (error) {
      if (!ctx.isCurrent()) return;
      submit.setBusy(false);
      const unmatched = applyFieldErrors(error, { display_name: name, password });
      errors.show(error, unmatched);
      errors.element.focus();
    }
  });

  return h('div', { class: 'auth-layout' },
    h('div', { class: 'card auth-card' },
      heading('Set up your Teamwell account'),
      h('p', { class: 'lead' }, 'You have been invited to Teamwell. Tell us your name and choose a password to finish setting up your account.'),
      errors.element,
      form,
      h('p', { class: 'auth-card__footer' }, 'Already set up? ', h('a', { href: '#/login' }, 'Sign in'))));
}
