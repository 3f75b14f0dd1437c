// The client page's record actions: downloading the record as FHIR (anyone
// who reads it) and the subject-access export (the client and supervisors),
// and, for clinical staff who may change the record (auth.policies
// .can_change_client), changing the client's name or status and assigning an
// employment specialist. (Sending a questionnaire link is in the questionnaire
// panel: measure-link-form.js.) The server
// decides in the end: a refusal shows its problem detail.

import { request, download } from '../api.js';
import {
  h, section, notice, problemMessage, errorArea, submitButton, textField,
  loadOnFirstOpen, STATUS_LABELS, roleLabel,
} from '../ui.js';
import {
  CLINICAL_ROLES, careTeamCandidates, selectField, textareaField, sendForm,
} from './record-fields.js';

/** Who may ask for the subject-access export (app/exports/sar.py). */
const SUBJECT_ACCESS_ROLES = ['client', 'supervisor'];

/** ctx null: nothing to offer (a read-only summary). */
export function recordActions(client, ctx) {
  if (!ctx || !ctx.user) return null;
  const role = ctx.user.role;
  const mayChange = CLINICAL_ROLES.includes(role);
  const isClient = role === 'client';
  const status = h('div', { class: 'record-actions__status' },
    ctx.flash ? notice(ctx.flash.message, ctx.flash.kind) : null);
  const failure = h('p', { class: 'field__error', role: 'alert' });
  const base = `/api/v1/clients/${encodeURIComponent(client.id)}`;

  function downloadButton(text, run) {
    const button = h('button', { type: 'button', class: 'button button--small button--secondary' }, text);
    button.addEventListener('click', async () => {
      if (button.getAttribute('aria-disabled') === 'true') return;
      button.setAttribute('aria-disabled', 'true');
      failure.textContent = '';
      try {
        await run();
      } catch (error) {
        if (error.name === 'AbortError' || !ctx.isCurrent()) return;
        failure.textContent = problemMessage(error);
      } finally {
        button.removeAttribute('aria-disabled');
      }
    });
    return button;
  }

  const fhirPath = `${base}/fhir`;
  const subjectAccessPath = `${base}/subject-access`;
  const downloads = h('div', { class: 'button-row' },
    downloadButton('Download as FHIR', () => download(fhirPath, `teamwell-fhir-${client.id}.json`, { signal: ctx.signal })),
    SUBJECT_ACCESS_ROLES.includes(role)
      ? downloadButton('Download subject-access export', () => download(subjectAccessPath, `subject-access-${client.id}.json`, { signal: ctx.signal }))
      : null);

  const intro = isClient
    ? 'Download a copy of your record, or of everything Teamwell holds about you.'
    : 'Download the record, or change how it is held.';
  return section(isClient ? 'Your data' : 'Record actions',
    h('p', { class: 'muted' }, intro),
    status, failure, downloads,
    mayChange ? detailsForm(client, ctx, base) : null,
    mayChange ? specialistForm(client, ctx, base) : null);
}

/** Change the client's name or programme status (PATCH /clients/{id}). */
function detailsForm(client, ctx, base) {
  const errors = errorArea();
  const name = textField({ label: 'Name', name: 'display_name', value: client.display_name || '', autocomplete: 'off' });
  name.input.setAttribute('maxlength', '200');
  const state = selectField({
    label: 'Status', name: 'status',
    options: Object.entries(STATUS_LABELS).map(([value, text]) => /** @type {[string, string]} */ ([value, text])),
  });
  state.input.value = client.status;
  const submit = submitButton('Save changes', { busyText: 'Saving…' });
  const form = h('form', { class: 'form', novalidate: true, 'aria-label': 'Change name or status' },
    errors.element, name.element, state.element, h('div', { class: 'form__actions' }, submit.element));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (submit.busy) return;
    errors.clear();
    name.clearError();
    const payload = {};
    const newName = name.input.value.trim();
    if (!newName) {
      name.setError('Enter the client’s name');
      return;
    }
    if (newName !== client.display_name) payload.display_name = newName;
    if (state.input.value !== client.status) payload.status = state.input.value;
    if (!Object.keys(payload).length) {
      errors.show('Nothing has changed.');
      return;
    }
    await sendForm({
      submit,
      errors,
      fields: { display_name: name, status: state },
      send: async () => {
        await request(base, { method: 'PATCH', body: payload, signal: ctx.signal });
        if (!ctx.isCurrent()) return;
        ctx.setFlash('The record is updated.', 'success');
        ctx.navigate(window.location.hash);
      },
    });
  });
  return h('details', { class: 'details' }, h('summary', {}, 'Change name or status'), form);
}

/**
 * Assign an employment specialist (POST /clients/{id}/employment-specialist):
 * the server takes only an active employment specialist not already on the
 * care team; beyond their caseload limit only a supervisor, with a reason.
 */
function specialistForm(client, ctx, base) {
  const details = h('details', { class: 'details' }, h('summary', {}, 'Assign the employment specialist'));
  const onTeam = new Set((client.care_team || []).filter((m) => !m.until).map((m) => m.user_id));
  loadOnFirstOpen(details, {
    ctx,
    loadingText: 'Loading staff…',
    load: specialists,
    show: (people) => people.length
      ? form(people)
      : h('p', { class: 'muted' }, 'No employment specialist can be added: those on the team are on this care team already.'),
  });

  /** Active employment specialists of the client's team (partners' among them) and of one's organisation. */
  async function specialists() {
    return (await careTeamCandidates(client, { signal: ctx.signal }))
      .filter((p) => p.role === 'employment_specialist' && !onTeam.has(p.id));
  }

  function form(people) {
    const errors = errorArea();
    const person = selectField({
      label: 'Employment specialist', name: 'user_id', placeholder: 'Choose a specialist',
      options: people.map((p) => /** @type {[string, string]} */ ([p.id, `${p.name} (${roleLabel(p.role)})`])),
    });
    const supervisor = ctx.user.role === 'supervisor';
    const reason = supervisor
      ? textareaField({
        label: 'Reason to assign beyond the caseload limit (optional)', name: 'override_reason', maxlength: '1000', required: false,
        hint: 'Only needed when their caseload is full; the reason is recorded.',
      })
      : null;
    const submit = submitButton('Assign', { busyText: 'Assigning…' });
    const el = h('form', { class: 'form', novalidate: true, 'aria-label': 'Assign the employment specialist' },
      errors.element, person.element, reason ? reason.element : null,
      h('div', { class: 'form__actions' }, submit.element));
    el.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (submit.busy) return;
      errors.clear();
      person.clearError();
      if (!person.input.value) {
        person.setError('Choose an employment specialist');
        return;
      }
      const payload = { user_id: person.input.value };
      const why = reason ? reason.input.value.trim() : '';
      if (why) payload.override_reason = why;
      const chosen = people.find((p) => p.id === person.input.value);
      const fields = { user_id: person };
      if (reason) fields.override_reason = reason;
      await sendForm({
        submit,
        errors,
        fields,
        send: async () => {
          const assigned = await request(`${base}/employment-specialist`, {
            method: 'POST', body: payload, signal: ctx.signal,
          });
          if (!ctx.isCurrent()) return;
          const caseload = assigned.caseload;
          ctx.setFlash(
            `${chosen ? chosen.name : 'The specialist'} is now ${client.display_name || 'the client'}’s employment specialist`
            + `${caseload ? ` (${caseload.active_clients} of ${caseload.limit} clients on their caseload)` : ''}.`,
            'success');
          ctx.navigate(window.location.hash);
        },
      });
    });
    return el;
  }
  return details;
}
