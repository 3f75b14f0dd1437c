// The client page's place in the organisation's randomised evaluation (docs/evaluation.md):
// the arm once the client's evaluation consent is recorded, "awaiting consent" while they
// could still join the open trial, and the server's own words when they are in none.
//
// Read when asked, not with every opening of the record: each reading is audited as a reading
// of the allocation, and most clients are in no trial (the server answers 404, which the
// browser would log as a failed request on every record).

import { request } from '../api.js';
import { h, section, time, label, notice, errorArea, ARM_LABELS } from '../ui.js';

function allocationText(allocation, name) {
  if (allocation.status === 'awaiting_consent') {
    return h('div', { class: 'notice notice--info', role: 'status' },
      h('p', {}, h('strong', {}, 'Awaiting consent. '),
        `${name} could join “${allocation.trial_name}” once their consent for evaluation is recorded. No arm exists before that.`));
  }
  return h('dl', { class: 'summary-list' },
    row('Trial', allocation.trial_name),
    row('Arm', h('strong', { class: 'allocation__arm' }, label(ARM_LABELS, allocation.arm))),
    row('Stratum', allocation.stratum_label || '—'),
    row('Allocated', time(allocation.allocated_at, { withTime: true })));
}

function row(term, value) {
  return h('div', { class: 'summary-list__row' }, h('dt', {}, term), h('dd', {}, value));
}

/** For staff who read the record; ctx null or a client: nothing. */
export function allocationPanel(client, ctx) {
  if (!ctx || ctx.user.role === 'client') return null;
  const name = client.display_name || 'The client';
  const errors = errorArea();
  const result = h('div', { class: 'allocation-panel__result', 'aria-live': 'polite' });
  const button = h('button', { type: 'button', class: 'button button--small button--secondary' }, 'Show the evaluation arm');
  button.addEventListener('click', async () => {
    if (button.getAttribute('aria-disabled') === 'true') return;
    button.setAttribute('aria-disabled', 'true');
    errors.clear();
    try {
      const allocation = await request(`/api/v1/clients/${encodeURIComponent(client.id)}/allocation`, { signal: ctx.signal });
      if (!ctx.isCurrent()) return;
      result.replaceChildren(allocationText(allocation, name));
      button.hidden = true;
    } catch (error) {
      if (error.name === 'AbortError') return;
      if (error.status === 404) {
        // In no trial and unable to join one: the server's own words, as information.
        result.replaceChildren(notice(error.detail, 'info'));
        button.hidden = true;
      } else {
        errors.show(error);
      }
    } finally {
      button.removeAttribute('aria-disabled');
    }
  });
  return section('Evaluation',
    h('p', {}, 'Whether this client is in your organisation’s randomised evaluation of IPS against treatment as usual, and in which arm. Looking is recorded in the audit trail.'),
    errors.element,
    result,
    h('div', { class: 'button-row' }, button));
}
