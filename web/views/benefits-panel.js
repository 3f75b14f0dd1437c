// The client page's benefits: the benefit history as dated claims, the
// better-off calculations done with the client (welfare-benefits counselling),
// and whether they are off out-of-work benefits, which the server computes
// from the claims (app/benefits/rules.py) and this page only shows. Employment
// specialists and peer keyworkers on the care team record claims, end them and
// record calculations (auth.policies.benefits); the rest of the care team,
// their supervisors and the client read. The list is the server's, read when
// the panel opens, after each change made here, and when benefits.updated says
// someone else changed it (the frame names the change, never a benefit).

import { request } from '../api.js';
import * as rt from '../realtime.js';
import {
  h, section, dataTable, time, emptyState, errorArea, applyFieldErrors, submitButton, notice,
  problemMessage, summaryRow, textField, formatDate,
} from '../ui.js';
import { dateField, selectField, today } from './record-fields.js';

const BENEFIT_LABELS = {
  esa: 'Employment and Support Allowance (ESA)',
  universal_credit: 'Universal Credit',
  jsa: 'Jobseeker’s Allowance (JSA)',
  pip: 'Personal Independence Payment (PIP)',
  other: 'Other',
};
const ESA_GROUP_LABELS = {
  assessment_phase: 'Assessment phase',
  work_related_activity: 'Work-related activity group',
  support: 'Support group',
};
const UC_REGIME_LABELS = {
  intensive_work_search: 'Intensive work search',
  light_touch: 'Light touch',
  work_preparation: 'Work preparation',
  work_focused_interview: 'Work-focused interview',
  no_work_requirements: 'No work requirements',
  working_enough: 'Working enough',
};
const SOURCE_LABELS = { client_reported: 'Client reported', verified: 'Verified' };
const OUTCOME_LABELS = {
  better_off_in_work: 'Better off in work',
  about_the_same: 'About the same',
  worse_off_in_work: 'Worse off in work',
};
export const BENEFIT_RECORDERS = ['employment_specialist', 'peer_keyworker'];

/** The off-flow status in words: computed by the server, never typed in. */
function offFlowWords(status) {
  if (!status) return '—';
  if (status.state === 'on_benefits') return 'Claiming an out-of-work benefit';
  if (status.state === 'never_claimed') return 'No out-of-work benefit recorded';
  const since = `since ${formatDate(status.off_since)} (${status.days_off} days)`;
  if (status.state === 'pending') {
    return `Left out-of-work benefits ${since}; counted as an off-flow once ${status.restart_window_days} days pass without a new claim`;
  }
  return `Off out-of-work benefits ${since}`;
}

function baselineWords(status) {
  if (!status || status.baseline_on === null) return 'No referral recorded';
  const claiming = status.on_out_of_work_benefit_at_baseline ? 'claiming an out-of-work benefit' : 'not claiming an out-of-work benefit';
  return `At referral (${formatDate(status.baseline_on)}): ${claiming}`;
}

function claimDetail(claim) {
  if (claim.benefit === 'esa') return ESA_GROUP_LABELS[claim.esa_group] || '—';
  if (claim.benefit === 'universal_credit') return UC_REGIME_LABELS[claim.uc_regime] || '—';
  if (claim.benefit === 'other') return claim.other_name || '—';
  return '—';
}

/** ctx null: nothing to show (the panel needs the router context). */
export function benefitsPanel(client, ctx) {
  if (!ctx) return null;
  const status = h('div', { class: 'benefits-panel__status' });
  const body = h('div', { class: 'benefits-panel' }, h('p', { role: 'status' }, 'Loading…'));
  const path = `/api/v1/clients/${encodeURIComponent(client.id)}/benefits`;
  // Changes made on this page whose frame has not come yet. Their own answer shows the history
  // again, so their frame must not load it once more: that would close, and empty, a form
  // opened in between (ending the claim just added, say).
  let ownChanges = 0;
  const records = BENEFIT_RECORDERS.includes(ctx.user.role);

  async function load() {
    let found;
    try {
      found = await request(path, { signal: ctx.signal });
    } catch (error) {
      if (error && error.name === 'AbortError') return;
      if (!ctx.isCurrent()) return;
      body.replaceChildren(h('p', { class: 'field__error', role: 'alert' }, problemMessage(error)));
      return;
    }
    if (!ctx.isCurrent()) return;
    draw(found);
  }

  function draw(found) {
    const claims = [...found.claims].sort((a, b) => String(b.started_on).localeCompare(String(a.started_on)));
    const done = [...found.better_off_calculations].sort((a, b) => String(b.done_on).localeCompare(String(a.done_on)));
    body.replaceChildren(
      h('dl', { class: 'summary-list' },
        summaryRow('Off-flow', offFlowWords(found.off_flow)),
        summaryRow('Baseline', baselineWords(found.off_flow))),
      h('h3', { class: 'section__subtitle' }, 'Benefit history'),
      claims.length ? dataTable({
        caption: 'Benefit history',
        captionHidden: true,
        items: claims,
        columns: [
          { header: 'Benefit', rowHeader: true, cell: (c) => BENEFIT_LABELS[c.benefit] || c.benefit },
          { header: 'Group or regime', cell: claimDetail },
          { header: 'Out of work', cell: (c) => (c.out_of_work ? 'Yes' : 'No') },
          { header: 'From', cell: (c) => time(c.started_on) },
          { header: 'Ended', cell: (c) => (c.ended_on ? time(c.ended_on) : (records ? endForm(c) : 'Still paid')) },
          { header: 'Source', cell: (c) => SOURCE_LABELS[c.source] || c.source },
          { header: 'Recorded by', cell: (c) => c.recorded_by_name || '—' },
        ],
      }) : emptyState('No benefits recorded.'),
      h('h3', { class: 'section__subtitle' }, 'Better-off calculations'),
      done.length ? dataTable({
        caption: 'Better-off calculations',
        captionHidden: true,
        items: done,
        columns: [
          { header: 'Done on', rowHeader: true, cell: (d) => time(d.done_on) },
          { header: 'Outcome', cell: (d) => OUTCOME_LABELS[d.outcome] || d.outcome },
          { header: 'Hours modelled', cell: (d) => (d.hours_modelled === null ? '—' : String(d.hours_modelled)) },
          { header: 'Recorded by', cell: (d) => d.recorded_by_name || '—' },
        ],
      }) : emptyState('No better-off calculation recorded.'),
    );
  }

  /** Read the history again when it changes elsewhere, or after a reconnection. */
  function followBenefits() {
    const offs = [
      rt.on('benefits.updated', (frame) => {
        if (!frame || String(frame.client_id) !== String(client.id) || !ctx.isCurrent()) return;
        // A change made on this page reloads on its own answer; another's is said, then shown.
        if (String(frame.updated_by) === String(ctx.user.id)) {
          if (ownChanges > 0) {
            ownChanges -= 1;
            return;
          }
        } else {
          status.replaceChildren(notice(`${frame.updated_by_name || 'Someone'} changed the benefits.`, 'info'));
        }
        load();
      }),
      rt.on('connected', ({ resumed }) => {
        if (!resumed || !ctx.isCurrent()) return;
        ownChanges = 0; // frames missed while away are not waited for: the history is read again
        load();
      }),
    ];
    ctx.signal.addEventListener('abort', () => { for (const off of offs.splice(0)) off(); }, { once: true });
  }

  /** Run one recording call (`post`), then show the list again, or the problem by its fields. */
  async function send(post, fields, errors, submit, done) {
    if (submit.busy) return;
    errors.clear();
    submit.setBusy(true);
    ownChanges += 1;
    try {
      await post();
      if (!ctx.isCurrent()) return;
      status.replaceChildren(notice(done, 'success'));
      await load();
    } catch (error) {
      ownChanges = Math.max(0, ownChanges - 1); // refused or lost: no frame of it will come
      if (error.name === 'AbortError') return;
      const unmatched = applyFieldErrors(error, fields);
      errors.show(error, unmatched);
      errors.element.focus();
    } finally {
      submit.setBusy(false);
    }
  }

  function endForm(claim) {
    const errors = errorArea();
    const ended = dateField({ label: 'Ended on (first day not paid)', name: 'ended_on', value: today() });
    const submit = submitButton('End claim', { busyText: 'Saving…' });
    const form = h('form', { class: 'form', novalidate: true, 'aria-label': `End the ${BENEFIT_LABELS[claim.benefit]} claim` },
      errors.element, ended.element, h('div', { class: 'form__actions' }, submit.element));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const url = `${path}/claims/${encodeURIComponent(claim.id)}/end`;
      send(() => request(url, { method: 'POST', body: { ended_on: ended.input.value }, signal: ctx.signal }),
        { ended_on: ended }, errors, submit, 'Claim ended.');
    });
    return h('details', { class: 'details' }, h('summary', {}, 'End claim'), form);
  }

  function claimForm() {
    const errors = errorArea();
    const benefit = selectField({ label: 'Benefit', name: 'benefit', placeholder: 'Choose a benefit', options: Object.entries(BENEFIT_LABELS) });
    const esaGroup = selectField({ label: 'ESA group', name: 'esa_group', placeholder: 'Choose a group', options: Object.entries(ESA_GROUP_LABELS) });
    const ucRegime = selectField({ label: 'Conditionality regime', name: 'uc_regime', placeholder: 'Choose a regime', options: Object.entries(UC_REGIME_LABELS) });
    const otherName = textField({ label: 'Name of the benefit', name: 'other_name', autocomplete: 'off' });
    otherName.input.maxLength = 200;
    const started = dateField({ label: 'Started on', name: 'started_on', value: today() });
    const ended = dateField({ label: 'Ended on (leave empty while paid)', name: 'ended_on', value: '' });
    ended.input.required = false;
    const source = selectField({ label: 'Source', name: 'source', placeholder: 'Choose a source', options: Object.entries(SOURCE_LABELS) });
    const shown = () => {
      esaGroup.element.hidden = benefit.input.value !== 'esa';
      ucRegime.element.hidden = benefit.input.value !== 'universal_credit';
      otherName.element.hidden = benefit.input.value !== 'other';
    };
    benefit.input.addEventListener('change', shown);
    shown();
    const fields = { benefit, esa_group: esaGroup, uc_regime: ucRegime, other_name: otherName, started_on: started, ended_on: ended, source };
    const submit = submitButton('Add benefit', { busyText: 'Saving…' });
    const form = h('form', { class: 'form', novalidate: true, 'aria-label': 'Add a benefit' },
      errors.element, benefit.element, esaGroup.element, ucRegime.element, otherName.element,
      started.element, ended.element, source.element, h('div', { class: 'form__actions' }, submit.element));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      for (const f of Object.values(fields)) f.clearError();
      let ok = true;
      if (!benefit.input.value) { benefit.setError('Choose the benefit'); ok = false; }
      if (!source.input.value) { source.setError('Choose where this comes from'); ok = false; }
      if (!started.input.value) { started.setError('Enter the day it started'); ok = false; }
      if (!ok) return;
      const kind = benefit.input.value;
      const payload = {
        benefit: kind,
        esa_group: kind === 'esa' ? esaGroup.input.value || null : null,
        uc_regime: kind === 'universal_credit' ? ucRegime.input.value || null : null,
        other_name: kind === 'other' ? otherName.input.value.trim() || null : null,
        started_on: started.input.value,
        ended_on: ended.input.value || null,
        source: source.input.value,
      };
      send(() => request(`${path}/claims`, { method: 'POST', body: payload, signal: ctx.signal }),
        fields, errors, submit, 'Benefit added.');
    });
    return h('details', { class: 'details' }, h('summary', {}, 'Add a benefit'), form);
  }

  function calculationForm() {
    const errors = errorArea();
    const doneOn = dateField({ label: 'Done on', name: 'done_on', value: today() });
    const outcome = selectField({ label: 'Outcome', name: 'outcome', placeholder: 'Choose an outcome', options: Object.entries(OUTCOME_LABELS) });
    const hours = textField({ label: 'Weekly hours modelled (optional)', name: 'hours_modelled', inputmode: 'decimal', required: false, autocomplete: 'off' });
    const fields = { done_on: doneOn, outcome, hours_modelled: hours };
    const submit = submitButton('Record calculation', { busyText: 'Saving…' });
    const form = h('form', { class: 'form', novalidate: true, 'aria-label': 'Record a better-off calculation' },
      errors.element, doneOn.element, outcome.element, hours.element, h('div', { class: 'form__actions' }, submit.element));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      for (const f of Object.values(fields)) f.clearError();
      if (!outcome.input.value) { outcome.setError('Choose what the calculation found'); return; }
      const text = hours.input.value.trim();
      const modelled = text ? Number(text) : null;
      if (text && !Number.isFinite(modelled)) { hours.setError('Enter a number of hours, such as 16'); return; }
      const payload = { done_on: doneOn.input.value, outcome: outcome.input.value, hours_modelled: modelled };
      send(() => request(`${path}/better-off-calculations`, { method: 'POST', body: payload, signal: ctx.signal }),
        fields, errors, submit, 'Better-off calculation recorded.');
    });
    return h('details', { class: 'details' }, h('summary', {}, 'Record a better-off calculation'), form);
  }

  load();
  followBenefits();
  return section('Benefits', status, body, records ? claimForm() : null, records ? calculationForm() : null);
}
