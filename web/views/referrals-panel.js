// The client page's referrals: the list, and recording a further referral
// (for example a re-referral after closure). Adding is for staff who read the
// record (auth.policies.can_change_client); the client sees the list. The list
// is the server's (GET …/referrals), read when the panel opens and again after
// a referral is added, so it shows what is recorded, not what this page sent.

import { request } from '../api.js';
import {
  h, section, dataTable, time, label, emptyState, errorArea, submitButton, notice,
  problemMessage, REFERRAL_SOURCE_LABELS,
} from '../ui.js';
import { referralFields, sendForm } from './record-fields.js';

/** The eligibility verdict at referral, with the reasons when ineligible. */
function eligibleWords(referral) {
  if (referral.eligible === true) return 'Yes';
  if (referral.eligible === false) return `No: ${referral.ineligible_reason || 'ineligible'}`;
  return 'Not asked';
}

/** ctx null: read only. */
export function referralsPanel(client, ctx) {
  const status = h('div', { class: 'referrals-panel__status' });
  const body = h('div', { class: 'referrals-panel' }, h('p', { role: 'status' }, 'Loading…'));
  const path = `/api/v1/clients/${encodeURIComponent(client.id)}/referrals`;
  let referrals = [];
  const changes = Boolean(ctx) && ctx.user.role !== 'client';

  async function load() {
    try {
      referrals = await request(path, { signal: ctx ? ctx.signal : undefined });
    } catch (error) {
      if (error && error.name === 'AbortError') return;
      if (ctx && !ctx.isCurrent()) return;
      body.replaceChildren(h('p', { class: 'field__error', role: 'alert' }, problemMessage(error)));
      return;
    }
    if (ctx && !ctx.isCurrent()) return;
    draw();
  }

  function draw() {
    const sorted = [...referrals].sort((a, b) => String(b.referred_on || '').localeCompare(String(a.referred_on || '')));
    body.replaceChildren(sorted.length ? dataTable({
      caption: 'Referrals',
      captionHidden: true,
      items: sorted,
      columns: [
        { header: 'Referred on', rowHeader: true, cell: (r) => time(r.referred_on) },
        { header: 'Source', cell: (r) => label(REFERRAL_SOURCE_LABELS, r.source) },
        { header: 'Reason', className: 'table__wide', cell: (r) => r.reason || '—' },
        { header: 'Eligible', cell: eligibleWords },
      ],
    }) : emptyState('No referrals recorded.'));
  }

  function addForm() {
    const errors = errorArea();
    const fields = referralFields(ctx);
    const submit = submitButton('Add referral', { busyText: 'Saving…' });
    const form = h('form', { class: 'form', novalidate: true, 'aria-label': 'Add a referral' },
      errors.element, ...fields.elements, h('div', { class: 'form__actions' }, submit.element));
    const details = h('details', { class: 'details referral-form' }, h('summary', {}, 'Add a referral'), form);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (submit.busy) return;
      errors.clear();
      const payload = fields.read();
      if (!payload) return;
      await sendForm({
        submit,
        errors,
        fields: fields.fields,
        send: async () => {
          await request(path, { method: 'POST', body: payload, signal: ctx.signal });
          if (!ctx.isCurrent()) return;
          fields.reset();
          details.open = false;
          status.replaceChildren(notice('Referral added.', 'success'));
          await load();
        },
      });
    });
    return details;
  }

  load();
  return section('Referrals', status, body, changes ? addForm() : null);
}
