// Taking a referral: a new client's record with its first referral
// (POST /clients). Clinical staff take referrals into a team of their own
// organisation; whoever takes it joins the client's care team.

import { request } from '../api.js';
import {
  h, errorArea, applyFieldErrors, submitButton, textField, loadOnFirstOpen,
} from '../ui.js';
import { isClinical, referralFields, selectField } from './record-fields.js';

/** The "Take a referral" disclosure for the clients list, or null for other roles. */
export function referralIntake(ctx) {
  if (!isClinical(ctx.user)) return null;
  const details = h('details', { class: 'details referral-intake' }, h('summary', {}, 'Take a referral'));
  loadOnFirstOpen(details, {
    ctx,
    loadingText: 'Loading your teams…',
    load: () => request('/api/v1/teams', { query: { limit: 100 }, signal: ctx.signal }),
    show: (found) => {
      const teams = (found && found.items) || [];
      return teams.length
      ? intakeForm(ctx, teams)
      : h('p', { class: 'muted' }, 'Your organisation has no team to take referrals into. An administrator of your organisation adds teams.');
    },
  });
  return details;
}

function intakeForm(ctx, teams) {
  const errors = errorArea();
  const name = textField({ label: 'Client’s name', name: 'display_name', autocomplete: 'off', spellcheck: false });
  name.input.maxLength = 200;
  const team = selectField({
    label: 'Team', name: 'team_id', options: teams.map((t) => [t.id, t.name]),
    placeholder: teams.length > 1 ? 'Choose a team' : undefined,
  });
  const referral = referralFields(ctx);
  const submit = submitButton('Take referral', { busyText: 'Saving…' });
  const form = h('form', { class: 'form', novalidate: true, 'aria-label': 'Take a referral' },
    errors.element,
    h('p', { class: 'field__hint' }, 'You join the new client’s care team.'),
    name.element, team.element, ...referral.elements,
    h('div', { class: 'form__actions' }, submit.element));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (submit.busy) return;
    errors.clear();
    name.clearError();
    team.clearError();
    const displayName = name.input.value.trim();
    const body = referral.read();
    let ok = Boolean(body);
    if (!displayName) { name.setError('Enter the client’s name'); ok = false; }
    if (!team.input.value) { team.setError('Choose the team taking the referral'); ok = false; }
    if (!ok) return;
    submit.setBusy(true);
    try {
      const client = await request('/api/v1/clients', {
        method: 'POST',
        signal: ctx.signal,
        body: { display_name: displayName, team_id: team.input.value, referral: body },
      });
      if (!ctx.isCurrent()) return;
      ctx.navigate(`#/clients/${encodeURIComponent(client.id)}`);
    } catch (failure) {
      if (failure.name === 'AbortError') return;
      const unmatched = applyFieldErrors(failure, { display_name: name, team_id: team, ...referral.fields });
      errors.show(failure, unmatched);
      errors.element.focus();
    } finally {
      submit.setBusy(false);
    }
  });
  return form;
}
