// The client page's consent panel: the latest decision per organisation and
// purpose, the full history, and recording a decision (grant or withdraw).
//
// Whoever reads the record may record a decision (auth.policies.can_record_consent):
// the client their own, the care team on the client's word. Withdrawal takes
// effect at once for that organisation's staff.

import { request } from '../api.js';
import {
  h, section, dataTable, consentBadge, time, label, emptyState, formatDate, uid,
  errorArea, submitButton, notice, problemMessage, loadOnFirstOpen,
  PURPOSE_LABELS, CONSENT_STATE_LABELS,
} from '../ui.js';
import {
  selectField, textareaField, sendForm, rowActionButton, reloadPanel,
} from './record-fields.js';

/**
 * The latest consent decision for each organisation and purpose.
 * Returns { organisations: [{id, name}], purposes: [..], current: Map }.
 */
export function currentConsent(consents) {
  const current = new Map();
  const organisations = new Map();
  const purposes = new Set(Object.keys(PURPOSE_LABELS));
  for (const c of consents) {
    const orgId = String(c.organisation_id);
    if (!organisations.has(orgId)) organisations.set(orgId, c.organisation_name || orgId);
    purposes.add(c.purpose);
    const key = `${orgId}\u0000${c.purpose}`;
    const seen = current.get(key);
    // Decisions come oldest first (ids in order); a later one in the same instant wins.
    if (!seen || String(c.recorded_at || '') >= String(seen.recorded_at || '')) current.set(key, c);
  }
  return {
    organisations: [...organisations].map(([id, name]) => ({ id, name }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    purposes: [...purposes],
    current,
  };
}

/** ctx null: read only (no router context to act in). */
export function consentPanel(client, ctx) {
  const body = h('div', { class: 'consent-panel' });
  const status = h('div', { class: 'consent-panel__status' });
  const failure = h('p', { class: 'field__error', role: 'alert' });
  const isClient = Boolean(ctx) && ctx.user.role === 'client';
  // The summary carries the current decisions only; the full history is fetched when asked
  // for (each read of it is audited) and after every decision recorded here.
  let history = client.consents || [];
  let fullHistory = false;
  let formDetails = null;

  async function decide(decision) {
    const entry = await request(`/api/v1/clients/${encodeURIComponent(client.id)}/consents`, {
      method: 'POST', body: decision, signal: ctx.signal,
    });
    if (!ctx.isCurrent()) return;
    status.replaceChildren(notice(
      `${label(CONSENT_STATE_LABELS, entry.state)}: ${label(PURPOSE_LABELS, entry.purpose)} for ${entry.organisation_name || 'the organisation'}.`,
      'success'));
    // The whole history, not only the summary's current decisions. Withdrawing consent for one's
    // own organisation ends one's own access.
    await reloadPanel(ctx, {
      load: () => request(`/api/v1/clients/${encodeURIComponent(client.id)}/consents`, { signal: ctx.signal }),
      failure,
      body,
      draw: (records) => {
        history = records;
        fullHistory = true;
        draw();
      },
    });
  }

  function withdrawButton(record) {
    const name = `${label(PURPOSE_LABELS, record.purpose)} for ${record.organisation_name || 'this organisation'}`;
    return rowActionButton(ctx, {
      text: 'Withdraw',
      label: `Withdraw consent: ${name}`,
      className: 'consent-cell__action',
      failure,
      act: () => decide({ organisation_id: record.organisation_id, purpose: record.purpose, state: 'withdrawn' }),
    });
  }

  function consentCell(record) {
    if (!record) return h('span', { class: 'muted' }, 'Not recorded');
    return h('div', { class: 'consent-cell' },
      consentBadge(record.state),
      h('span', { class: 'consent-cell__meta' },
        formatDate(record.recorded_at),
        record.recorded_by_name ? ` by ${record.recorded_by_name}` : ''),
      ctx && record.state === 'granted' ? withdrawButton(record) : null);
  }

  function historyTable(records) {
    return dataTable({
      caption: 'Consent history',
      captionHidden: true,
      items: [...records].reverse(), // newest first
      columns: [
        { header: 'Recorded', cell: (c) => time(c.recorded_at, { withTime: true }) },
        { header: 'Organisation', cell: (c) => c.organisation_name || '—' },
        { header: 'Purpose', cell: (c) => label(PURPOSE_LABELS, c.purpose) },
        { header: 'Decision', cell: (c) => label(CONSENT_STATE_LABELS, c.state) },
        { header: 'Recorded by', cell: (c) => c.recorded_by_name || '—' },
        { header: 'Note', cell: (c) => c.note || '—' },
      ],
    });
  }

  function historyDetails() {
    const summary = h('summary', {}, 'Consent history');
    const details = h('details', { class: 'details' }, summary);
    const show = (records) => {
      summary.textContent = `Consent history (${records.length} ${records.length === 1 ? 'record' : 'records'})`;
      details.append(historyTable(records));
    };
    if (fullHistory || !ctx) {
      show(history);
      return details;
    }
    let loading = false;
    details.addEventListener('toggle', () => {
      if (!details.open || fullHistory || loading) return;
      loading = true;
      const waiting = h('p', { role: 'status' }, 'Loading the history…');
      details.append(waiting);
      request(`/api/v1/clients/${encodeURIComponent(client.id)}/consents`, { signal: ctx.signal })
        .then((records) => {
          if (!ctx.isCurrent()) return;
          history = records;
          fullHistory = true;
          waiting.remove();
          show(records);
        })
        .catch((error) => {
          if (error.name === 'AbortError' || !ctx.isCurrent()) return;
          waiting.replaceWith(h('p', { class: 'field__error', role: 'alert' }, problemMessage(error)));
        })
        .finally(() => { loading = false; });
    });
    return details;
  }

  function draw() {
    if (!history.length) {
      body.replaceChildren(emptyState('No consent decisions have been recorded.'));
      return;
    }
    const { organisations, purposes, current } = currentConsent(history);
    const matrix = dataTable({
      caption: 'Current consent by organisation and purpose',
      captionHidden: true,
      className: 'table--consent',
      items: organisations,
      columns: [
        { header: 'Organisation', rowHeader: true, cell: (o) => o.name },
        ...purposes.map((purpose) => ({
          header: label(PURPOSE_LABELS, purpose),
          cell: (o) => consentCell(current.get(`${o.id}\u0000${purpose}`)),
        })),
      ],
    });
    const historyPart = historyDetails();
    body.replaceChildren(
      h('p', { class: 'section__intro' }, 'The most recent decision for each organisation and purpose.'),
      matrix,
      historyPart);
  }

  function decisionForm() {
    const details = h('details', { class: 'details consent-form' },
      h('summary', {}, isClient ? 'Record your consent decision' : 'Record a consent decision'));
    loadOnFirstOpen(details, {
      ctx,
      loadingText: 'Loading organisations…',
      load: () => request('/api/v1/organisations', { query: { limit: 100 }, signal: ctx.signal }),
      show: (found) => form((found && found.items) || []),
    });
    return details;
  }

  function form(organisations) {
    const errors = errorArea();
    const organisation = selectField({
      label: 'Organisation', name: 'organisation_id', placeholder: 'Choose an organisation',
      options: organisations.map((o) => [o.id, o.name]),
    });
    const purpose = selectField({
      label: 'Purpose', name: 'purpose', placeholder: 'Choose a purpose',
      options: Object.entries(PURPOSE_LABELS),
      hint: 'Care: sharing for care. Employment sharing: with an employment service or Jobcentre. Evaluation: taking part in an evaluation.',
    });
    const groupName = uid('consent-state');
    const choices = Object.entries(CONSENT_STATE_LABELS).map(([value]) => {
      const id = uid('consent-state');
      return h('div', { class: 'checkbox' },
        h('input', { id, type: 'radio', name: groupName, value, class: 'checkbox__input' }),
        h('label', { for: id, class: 'checkbox__label' }, value === 'granted' ? 'Grant consent' : 'Withdraw consent'));
    });
    const decisionError = h('p', { class: 'field__error', hidden: true });
    const decision = h('fieldset', { class: 'fieldset' }, h('legend', {}, 'Decision'), decisionError, choices);
    const note = textareaField({
      label: 'Note (optional)', name: 'note', maxlength: '1000', required: false,
      hint: isClient ? undefined : 'For example how and when the client gave their decision.',
    });
    const submit = submitButton('Record decision', { busyText: 'Recording…' });
    const el = h('form', { class: 'form', novalidate: true, 'aria-label': 'Record a consent decision' },
      errors.element, organisation.element, purpose.element, decision, note.element,
      h('div', { class: 'form__actions' }, submit.element));

    el.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (submit.busy) return;
      errors.clear();
      organisation.clearError();
      purpose.clearError();
      note.clearError();
      decisionError.hidden = true;
      const chosen = el.querySelector(`input[name="${groupName}"]:checked`);
      let ok = true;
      if (!organisation.input.value) { organisation.setError('Choose the organisation'); ok = false; }
      if (!purpose.input.value) { purpose.setError('Choose the purpose'); ok = false; }
      if (!chosen) {
        decisionError.textContent = 'Choose whether consent is granted or withdrawn';
        decisionError.hidden = false;
        ok = false;
      }
      if (!ok) return;
      const body = { organisation_id: organisation.input.value, purpose: purpose.input.value, state: chosen.value };
      if (note.input.value.trim()) body.note = note.input.value.trim();
      await sendForm({
        submit,
        errors,
        fields: { organisation_id: organisation, purpose, note },
        send: async () => {
          await decide(body);
          if (!ctx.isCurrent()) return;
          el.reset();
          formDetails.open = false;
        },
      });
    });
    return el;
  }

  draw();
  if (ctx) formDetails = decisionForm();
  return section('Consent', status, failure, body, formDetails);
}
