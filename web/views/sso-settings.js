// Administrator: the organisation's single sign-on provider (OpenID Connect). Teamwell checks
// the issuer against the provider's discovery document when the settings are saved switched on.
// With a provider set up, the admin can also make an account for someone who will only ever sign
// in through it: the account has no password, so nobody (the admin included) can sign in as it
// with one. Everyone else is invited from the Users page and chooses their own.

import { request } from '../api.js';
import { h, heading, page, section, textField, notice, roleLabel } from '../ui.js';
import { actionForm, checkboxField, selectField, CLINICAL_ROLES } from './admin-kit.js';

/** @param {import('../app.js').ViewContext} ctx */
export async function render(ctx) {
  const organisationId = ctx.user.organisation_id;
  const path = `/api/v1/auth/sso/organisations/${organisationId}`;
  let current = null;
  try {
    current = await request(path, { signal: ctx.signal });
  } catch (error) {
    if (!error || error.status !== 404) throw error;
  }

  const summary = h('div');
  const drawSummary = () => summary.replaceChildren(current
    ? h('div', {},
      h('p', {}, current.enabled ? 'Single sign-on is on.' : 'Single sign-on is set up but switched off.'),
      h('p', {}, 'Register this redirect URI for Teamwell at your provider, exactly:'),
      h('p', {}, h('code', { class: 'table__break' }, current.redirect_uri)))
    : h('p', {}, 'Single sign-on is not set up. People sign in with their email address and password.'));
  drawSummary();

  const issuer = textField({
    label: 'Issuer', name: 'issuer', type: 'url', autocomplete: 'off', spellcheck: false,
    value: current ? current.issuer : '', hint: 'The provider\u2019s address for Teamwell, starting with https, exactly as its discovery document states it.',
  });
  const clientId = textField({ label: 'Client ID', name: 'client_id', autocomplete: 'off', spellcheck: false, value: current ? current.client_id : '' });
  const secret = textField({
    label: 'Client secret', name: 'client_secret', type: 'password', autocomplete: 'new-password', required: !current,
    hint: current ? 'Stored and never shown again. Leave empty to keep the stored one.' : 'The secret your provider issued for Teamwell.',
  });
  const enabled = checkboxField({ label: 'Let people sign in with this provider', name: 'enabled', checked: current ? current.enabled : true });
  const removeHolder = h('div');
  const accountsHolder = h('div');

  const form = actionForm({
    ctx,
    label: 'Single sign-on settings',
    fields: { issuer, client_id: clientId, client_secret: secret },
    children: [issuer.element, clientId.element, secret.element, enabled.element],
    buttonText: 'Save settings',
    busyText: 'Checking the provider and saving…',
    action: () => {
      const body = { issuer: issuer.input.value.trim(), client_id: clientId.input.value.trim(), enabled: enabled.input.checked };
      if (secret.input.value) body.client_secret = secret.input.value;
      return request(path, { method: 'PUT', body });
    },
    done: (saved) => {
      current = saved;
      secret.input.value = '';
      drawSummary();
      drawRemove();
      drawAccounts();
      return 'Single sign-on settings saved.';
    },
  });

  function drawRemove() {
    removeHolder.replaceChildren(current
      ? section('Remove single sign-on', actionForm({
        ctx,
        label: 'Remove single sign-on',
        children: [h('p', {}, 'People then sign in with their email address and password. Links to their identities are kept.')],
        buttonText: 'Remove single sign-on',
        busyText: 'Removing…',
        action: () => request(path, { method: 'DELETE' }),
        done: () => {
          current = null;
          drawSummary();
          drawAccounts();
          removeHolder.replaceChildren(notice('Single sign-on removed.', 'success'));
          return null;
        },
      }).element)
      : '');
  }
  drawRemove();

  function drawAccounts() {
    accountsHolder.replaceChildren(current ? accountForPeopleSigningInWithTheProvider(ctx) : '');
  }
  drawAccounts();

  return page(
    h('div', { class: 'page-header' },
      heading('Single sign-on'),
      h('p', { class: 'lead' }, 'Let your organisation\u2019s people sign in with your own OpenID Connect identity provider. Staff still pass Teamwell\u2019s own second factor.'),
      h('p', {}, h('a', { href: '#/users' }, 'All users'))),
    section('Current state', summary),
    section('Provider settings', form.element),
    accountsHolder,
    removeHolder);
}

/** Make an account without a password, for someone who signs in with the provider. */
function accountForPeopleSigningInWithTheProvider(ctx) {
  const email = textField({
    label: 'Email address', name: 'email', type: 'email', autocomplete: 'off', spellcheck: false,
    hint: 'Exactly as your identity provider knows them: the first sign-in matches it (a verified address).',
  });
  const name = textField({ label: 'Name', name: 'display_name', autocomplete: 'off' });
  const role = selectField({
    label: 'Role',
    name: 'role',
    options: [...CLINICAL_ROLES, 'admin'].map((r) => ({ value: r, text: roleLabel(r) })),
    value: 'peer_keyworker',
  });
  const made = h('div');
  const form = actionForm({
    ctx,
    label: 'Add someone who signs in with single sign-on',
    fields: { email, display_name: name },
    children: [email.element, name.element, role.element],
    buttonText: 'Add account',
    busyText: 'Adding…',
    action: () => request('/api/v1/users', {
      method: 'POST',
      body: { email: email.input.value.trim(), display_name: name.input.value.trim(), role: role.input.value },
    }),
    done: (user) => {
      email.input.value = '';
      name.input.value = '';
      made.replaceChildren(h('p', {}, h('a', { href: `#/users/${user.id}` }, `Open ${user.display_name}\u2019s page`)));
      return `Account made for ${user.email}. They sign in with single sign-on; staff set up their second factor at the first sign-in.`;
    },
  });
  return section('Add someone who signs in with single sign-on',
    h('p', {}, 'Their account has no password: they can only sign in through your identity provider. To let someone choose a password instead, invite them from the Users page.'),
    form.element,
    made);
}
