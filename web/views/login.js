// Sign-in page: email and password, plus organisation single sign-on.

import * as api from '../api.js';
import {
  h, heading, notice, errorArea, textField, submitButton, applyFieldErrors, uid, roleLabel,
} from '../ui.js';

/** @param {import('../app.js').ViewContext} ctx */
export function render(ctx) {
  const errors = errorArea();
  const email = textField({
    label: 'Email', name: 'email', type: 'email', autocomplete: 'username',
    spellcheck: false, autocapitalize: 'none',
  });
  const password = textField({
    label: 'Password', name: 'password', type: 'password', autocomplete: 'current-password',
  });
  const submit = submitButton('Sign in', { busyText: 'Signing in…' });

  const form = h('form', { class: 'form', novalidate: true },
    email.element, password.element, h('div', { class: 'form__actions' }, submit.element));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (submit.busy) return;
    errors.clear();
    email.clearError();
    password.clearError();

    const emailValue = email.input.value.trim();
    const passwordValue = password.input.value;
    const missing = [];
    if (!emailValue) {
      email.setError('Enter your email address');
      missing.push(email);
    }
    if (!passwordValue) {
      password.setError('Enter your password');
      missing.push(password);
    }
    if (missing.length) {
      errors.show('Enter your email address and password.');
      missing[0].input.focus();
      return;
    }

    submit.setBusy(true);
    try {
      const outcome = await api.login(emailValue, passwordValue);
      if (!ctx.isCurrent()) return;
      if (outcome === 'mfa') ctx.navigate('#/mfa');
      else if (outcome === 'enrol') ctx.redirect('#/mfa/enrol');
      else ctx.goHome();
    } catch (error) {
      if (!ctx.isCurrent()) return;
      submit.setBusy(false);
      errors.show(error, applyFieldErrors(error, { email, password }));
      password.input.value = '';
    }
  });

  const ssoList = h('ul', { class: 'sso__list' });
  const ssoHeadingId = uid('sso');
  const sso = h('section', { class: 'sso', 'aria-labelledby': ssoHeadingId, hidden: true },
    h('div', { class: 'divider', 'aria-hidden': 'true' }, h('span', {}, 'or')),
    h('h2', { id: ssoHeadingId, class: 'sso__title' }, 'Use your organisation account'),
    ssoList);
  loadProviders(ctx, ssoList, sso);

  const aboutId = uid('about');
  const about = h('section', { class: 'auth-about', 'aria-labelledby': aboutId },
    h('h2', { id: aboutId, class: 'auth-about__title' }, 'What Teamwell is'),
    h('p', {}, 'Teamwell brings together the people supporting someone with their mental health '
      + 'and their return to work. Therapists, peer keyworkers and employment specialists share '
      + 'one record, plan, messages and video sessions with the client.'));
  loadMeta(ctx, about);

  return h('div', { class: 'auth-layout auth-layout--with-about' },
    h('div', { class: 'card auth-card' },
      heading('Sign in'),
      h('p', { class: 'lead' }, 'Sign in to Teamwell to work with your team.'),
      ctx.flash ? notice(ctx.flash.message, ctx.flash.kind) : null,
      errors.element,
      form,
      sso),
    about,
    h('p', { class: 'auth-layout__aside' },
      'New to Teamwell? Use the link in your invitation email to set up your account.'));
}

/* In a demo (and only there) the service lists the demo logins, never their password. */
async function loadMeta(ctx, about) {
  let meta;
  try {
    meta = await api.request('/api/v1/meta', { auth: false, signal: ctx.signal });
  } catch {
    return; // The description above is enough; signing in does not need this.
  }
  if (!ctx.isCurrent() || !meta || !meta.demo || !Array.isArray(meta.demo.logins)) return;
  const titleId = uid('demo');
  about.append(h('section', { class: 'demo-logins', 'aria-labelledby': titleId },
    h('h3', { id: titleId, class: 'demo-logins__title' }, 'Trying the demo?'),
    h('p', {}, 'Sign in as any of these people. ', meta.demo.note),
    h('ul', { class: 'demo-logins__list' },
      meta.demo.logins.map((login) => h('li', { class: 'demo-logins__item' },
        h('span', { class: 'demo-logins__who' }, `${login.display_name}, ${roleLabel(login.role)}`),
        h('code', { class: 'demo-logins__email' }, login.email))))));
}

async function loadProviders(ctx, list, container) {
  let providers;
  try {
    providers = await api.request('/api/v1/auth/sso/providers', { auth: false, signal: ctx.signal });
  } catch {
    return; // Single sign-on is optional; the password form still works.
  }
  if (!ctx.isCurrent()) return;
  const items = Array.isArray(providers) ? providers : (providers && providers.items) || [];
  for (const provider of items) {
    if (!provider || !provider.organisation_slug) continue;
    const href = `/api/v1/auth/sso/${encodeURIComponent(provider.organisation_slug)}/login`;
    list.append(h('li', {},
      h('a', { class: 'button button--secondary button--block', href },
        `Sign in with ${provider.organisation_name || provider.organisation_slug}`)));
  }
  container.hidden = list.childElementCount === 0;
}
