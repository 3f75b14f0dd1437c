// Randomised evaluation of IPS against treatment as usual (docs/evaluation.md), for the
// organisation's supervisors: its trials, opening one, and for one trial what the server gives
// (the total allocated; the consent counts and figures by arm only when asked for, since each
// reading is audited and, while the trial is open, tells where each stratum stands in its
// block), closing it and verifying its allocations against the sealed seed.

import { ApiError, download, request } from '../api.js';
import {
  h, heading, page, lead, section, dataTable, badge, time, label, textField, errorArea, notice,
  confirmingButton, emptyState, problemMessage,
} from '../ui.js';
import { actionForm, selectField } from './admin-kit.js';

export const STRATIFY_LABELS = {
  area_cluster: 'Area cluster of the client’s team',
  referral_source: 'Where the client’s first referral came from',
  team: 'The client’s team',
};

function trialStatus(trial) {
  return trial.open ? badge('Open', 'open') : badge('Closed', 'closed');
}

function blockSizesText(sizes) {
  const list = (sizes || []).map(String);
  return list.length > 1 ? `${list.slice(0, -1).join(', ')} and ${list[list.length - 1]}` : list.join('');
}

function trialHref(trial) {
  return `#/evaluation/${encodeURIComponent(trial.id)}`;
}

/* ------------------------------------------------------------ the trials -- */

/** @param {import('../app.js').ViewContext} ctx */
export async function render(ctx) {
  const trials = await request('/api/v1/evaluation/trials', { signal: ctx.signal });
  const openOne = trials.find((t) => t.open);
  return page(
    h('div', { class: 'page-header' }, heading('Evaluation')),
    lead('Randomise your organisation’s consenting new clients between IPS and treatment as usual, and check every allocation against the trial’s sealed seed. A trial’s consent counts and figures by arm are on its page, shown when you ask for them.'),
    ctx.flash ? notice(ctx.flash.message, ctx.flash.kind) : null,
    section('Trials', dataTable({
      caption: 'Your organisation’s evaluation trials, newest first',
      captionHidden: true,
      items: trials,
      emptyText: 'Your organisation has not opened an evaluation trial.',
      columns: [
        { header: 'Trial', rowHeader: true, cell: (t) => h('a', { href: trialHref(t) }, t.name) },
        { header: 'Status', cell: trialStatus },
        { header: 'Stratified by', cell: (t) => label(STRATIFY_LABELS, t.stratify_by) },
        { header: 'Opened', cell: (t) => time(t.opened_at) },
        { header: 'Closed', cell: (t) => time(t.closed_at) },
        { header: 'Clients allocated', cell: (t) => String(t.allocations) },
      ],
    })),
    section('Open a trial', openTrialForm(ctx, openOne)),
  );
}

function openTrialForm(ctx, openOne) {
  const name = textField({ label: 'Name of the trial', name: 'name', autocomplete: 'off' });
  const stratify = selectField({
    label: 'Stratify by',
    name: 'stratify_by',
    hint: 'Each value has its own balanced sequence. Evaluations usually report by area cluster.',
    options: Object.entries(STRATIFY_LABELS).map(([value, text]) => ({ value, text })),
    value: 'area_cluster',
  });
  const blocks = textField({
    label: 'Block sizes',
    name: 'block_sizes',
    autocomplete: 'off',
    required: false,
    value: '4, 6',
    hint: 'Even numbers of at least 2, separated by commas. Each block’s size is drawn from these at random; repeating one makes it more likely.',
  });
  // Block sizes are read here, so a word that is no number is refused beside its field in the
  // server's way (a problem with field errors), not sent as something the server cannot parse.
  const blockSizes = () => {
    const words = blocks.input.value.split(/[\s,]+/).filter(Boolean);
    if (words.some((w) => !/^\d+$/.test(w))) {
      const message = 'Write whole numbers separated by commas, such as 4, 6.';
      throw new ApiError({ status: 422, detail: 'Check the block sizes.', errors: [{ field: 'block_sizes', message }] });
    }
    // Left empty, the server draws from its default sizes (4 and 6).
    return words.length ? words.map(Number) : undefined;
  };
  const form = actionForm({
    ctx,
    label: 'Open an evaluation trial',
    fields: { name, block_sizes: blocks },
    children: [
      openOne ? notice(`“${openOne.name}” is open. An organisation runs one trial at a time: close it before opening another.`, 'info') : null,
      name.element, stratify.element, blocks.element,
      h('p', { class: 'field__hint' }, 'From now on, each new client whose evaluation consent is recorded is allocated to an arm at that moment. Clients already on the caseload are never randomised. The seed is made and sealed on the server; nobody sees it.'),
    ],
    buttonText: 'Open the trial',
    busyText: 'Opening…',
    action: () => request('/api/v1/evaluation/trials', {
      method: 'POST',
      body: { name: name.input.value, stratify_by: stratify.input.value, block_sizes: blockSizes() },
      signal: ctx.signal,
    }),
    done: (trial) => {
      ctx.setFlash(`“${trial.name}” is open. New clients are allocated as their evaluation consent is recorded.`, 'success');
      ctx.navigate(trialHref(trial));
      return null;
    },
  });
  return form.element;
}

/* ------------------------------------------------------------- one trial -- */

function summaryRow(term, value) {
  return h('div', { class: 'summary-list__row' }, h('dt', {}, term), h('dd', {}, value));
}

function trialSummary(trial) {
  return h('dl', { class: 'summary-list' },
    summaryRow('Status', trialStatus(trial)),
    summaryRow('Stratified by', label(STRATIFY_LABELS, trial.stratify_by)),
    summaryRow('Block sizes', blockSizesText(trial.block_sizes)),
    summaryRow('Opened', time(trial.opened_at, { withTime: true })),
    summaryRow('Closed', time(trial.closed_at, { withTime: true })),
    summaryRow('Clients allocated', String(trial.allocations)),
    summaryRow('Randomisation', h('code', {}, trial.algorithm)));
}

/** The verification's answer, in words first and then per stratum. */
function verificationResult(v) {
  const verdict = v.all_match
    ? notice(`The allocations match: all ${v.matched} of ${v.allocations} recomputed from the seed are the arms stored, and no position is missing.`, 'success')
    : h('div', { class: 'notice notice--warning', role: 'status' },
      h('p', {}, h('strong', {}, 'The allocations do not match. '),
        `${v.matched} of ${v.allocations} recomputed from the seed are the arms stored.`),
      v.algorithm_matches ? null : h('p', {}, `The trial was randomised with ${v.algorithm}, which this version of Teamwell does not reproduce.`),
      v.mismatched_allocation_ids.length
        ? h('div', {}, h('p', {}, 'Allocations whose stored arm differs from the sequence:'),
          h('ul', {}, v.mismatched_allocation_ids.map((id) => h('li', {}, h('code', {}, id)))))
        : null);
  return h('div', { class: 'evaluation-verification' },
    verdict,
    h('p', { class: 'muted' }, 'Verified ', time(v.verified_at, { withTime: true }), '.'),
    dataTable({
      caption: 'Allocations by stratum',
      items: v.strata,
      emptyText: 'No client has been allocated yet.',
      columns: [
        { header: 'Stratum', rowHeader: true, cell: (s) => s.stratum_label },
        { header: 'Allocations', cell: (s) => String(s.allocations) },
        { header: 'Matching the seed', cell: (s) => String(s.matched) },
        { header: 'Missing positions', cell: (s) => (s.missing_positions.length ? s.missing_positions.join(', ') : 'None') },
      ],
    }));
}

const ARM_COLUMNS = [
  { header: 'IPS', cell: (f) => String(f.ips) },
  { header: 'Treatment as usual', cell: (f) => String(f.treatment_as_usual) },
  { header: 'Total', cell: (f) => String(f.total) },
];

/** The programme lead's figures: consent decisions of the entrants, then allocations by arm. */
function figuresResult(f, stratifyBy) {
  const c = f.consents;
  return h('div', { class: 'evaluation-figures' },
    h('p', { class: 'muted' }, 'As of ', time(f.as_of, { withTime: true }), '.'),
    h('h3', {}, 'Consent'),
    h('dl', { class: 'summary-list' },
      summaryRow('New clients since the trial opened', String(c.entrants)),
      summaryRow('Consented', String(c.consented)),
      summaryRow('Declined', String(c.declined)),
      summaryRow('Withdrew after consenting', String(c.withdrawn)),
      summaryRow('Not asked yet', String(c.not_asked))),
    dataTable({
      caption: 'Allocations by arm',
      items: [f.allocations],
      columns: [{ header: 'Clients', rowHeader: true, cell: () => 'All strata' }, ...ARM_COLUMNS],
    }),
    dataTable({
      caption: `Allocations by arm in each stratum (${label(STRATIFY_LABELS, stratifyBy).toLowerCase()})`,
      items: f.strata,
      emptyText: 'No client has been allocated yet.',
      columns: [{ header: 'Stratum', rowHeader: true, cell: (s) => s.stratum_label }, ...ARM_COLUMNS],
    }));
}

/** @param {import('../app.js').ViewContext} ctx */
export async function renderTrial(ctx) {
  const id = encodeURIComponent(ctx.params.id);
  let trial = await request(`/api/v1/evaluation/trials/${id}`, { signal: ctx.signal });
  const title = heading(trial.name);
  const summary = h('div', {}, trialSummary(trial));
  const status = h('div', { class: 'evaluation-trial__status' });
  const errors = errorArea();

  const verifyResult = h('div', { 'aria-live': 'polite' });
  const verifyButton = h('button', { type: 'button', class: 'button' }, 'Verify the allocations');
  verifyButton.addEventListener('click', async () => {
    if (verifyButton.getAttribute('aria-disabled') === 'true') return;
    verifyButton.setAttribute('aria-disabled', 'true');
    verifyButton.textContent = 'Verifying…';
    errors.clear();
    try {
      const verification = await request(`/api/v1/evaluation/trials/${id}/verify`, { method: 'POST', signal: ctx.signal });
      if (!ctx.isCurrent()) return;
      verifyResult.replaceChildren(verificationResult(verification));
    } catch (error) {
      if (error.name === 'AbortError') return;
      errors.show(error);
      errors.element.focus();
    } finally {
      verifyButton.removeAttribute('aria-disabled');
      verifyButton.textContent = 'Verify the allocations';
    }
  });

  const figuresResultArea = h('div', { 'aria-live': 'polite' });
  const figuresButton = h('button', { type: 'button', class: 'button button--secondary' }, 'Show the figures');
  figuresButton.addEventListener('click', async () => {
    if (figuresButton.getAttribute('aria-disabled') === 'true') return;
    figuresButton.setAttribute('aria-disabled', 'true');
    errors.clear();
    try {
      const figures = await request(`/api/v1/evaluation/trials/${id}/figures`, { signal: ctx.signal });
      if (!ctx.isCurrent()) return;
      figuresResultArea.replaceChildren(figuresResult(figures, trial.stratify_by));
      figuresButton.textContent = 'Refresh the figures';
    } catch (error) {
      if (error.name === 'AbortError') return;
      errors.show(problemMessage(error));
      errors.element.focus();
    } finally {
      figuresButton.removeAttribute('aria-disabled');
    }
  });

  const extractButton = h('button', { type: 'button', class: 'button button--secondary' }, 'Download the extract (CSV)');
  extractButton.addEventListener('click', () => {
    errors.clear();
    download(`/api/v1/evaluation/trials/${id}/extract`, 'evaluation-extract.csv', { signal: ctx.signal })
      .then(() => { status.replaceChildren(notice('The extract is downloaded.', 'success')); })
      .catch((error) => { if (error.name !== 'AbortError') errors.show(problemMessage(error)); });
  });

  const closing = h('div', {});
  const drawClosing = () => {
    closing.replaceChildren(trial.open
      ? h('div', {},
        h('p', {}, 'Once closed, no further clients are allocated. The allocations made stay as they are (intention to treat) and can still be verified. A closed trial cannot be opened again.'),
        confirmingButton({
          label: 'Close the trial',
          question: `Close “${trial.name}” for good?`,
          confirmLabel: 'Yes, close it',
          cancelLabel: 'Keep it open',
          className: 'button--secondary',
          action: async () => {
            errors.clear();
            try {
              trial = await request(`/api/v1/evaluation/trials/${id}/close`, { method: 'POST', signal: ctx.signal });
              if (!ctx.isCurrent()) return;
              summary.replaceChildren(trialSummary(trial));
              status.replaceChildren(notice(`The trial is closed. ${trial.allocations} ${trial.allocations === 1 ? 'client was' : 'clients were'} allocated.`, 'success'));
              drawClosing();
              status.scrollIntoView({ block: 'nearest' });
            } catch (error) {
              if (error.name === 'AbortError') return;
              errors.show(problemMessage(error));
              errors.element.focus();
            }
          },
        }))
      : emptyState('This trial is closed: no further clients are allocated.'));
  };
  drawClosing();

  return page(
    h('nav', { class: 'breadcrumbs', 'aria-label': 'Breadcrumb' },
      h('ol', {},
        h('li', {}, h('a', { href: '#/evaluation' }, 'Evaluation')),
        h('li', { 'aria-current': 'page' }, trial.name))),
    h('div', { class: 'page-header' }, title),
    ctx.flash ? notice(ctx.flash.message, ctx.flash.kind) : null,
    errors.element,
    status,
    summary,
    section('Consent and allocation figures',
      h('p', {}, 'How the new clients since the trial opened answered the evaluation consent, and how many were allocated to each arm, overall and in each stratum. Each reading is recorded in the audit trail.'),
      trial.open ? h('p', { class: 'muted' }, 'While the trial is open, the figures by stratum tell where each stratum stands in its block. Keep them to yourself, and leave recording evaluation consent to colleagues who do not read them. Each client’s arm is on their record, for the staff who read it.') : null,
      h('div', { class: 'form__actions' }, figuresButton),
      figuresResultArea),
    section('Verify the allocations',
      h('p', {}, 'Recompute every allocation from the trial’s sealed seed and compare it with the arm stored. The seed itself is never shown.'),
      h('div', { class: 'form__actions' }, verifyButton),
      verifyResult),
    section('The evaluators’ extract',
      h('p', {}, 'One row per client whose evaluation consent stands today: a pseudonymous id made for this download only (two downloads cannot be joined), arm, stratum, months from randomisation, PHQ-9 and GAD-7, recovery, job starts and sustainment. No name, contact, NHS number, free text or exact date; strata too small to hide a person are shown as “other”.'),
      h('div', { class: 'form__actions' }, extractButton)),
    section('Close the trial', closing),
  );
}
