// Programme reports: pick a team, organisation or area cluster and a period;
// each figure is shown with its definition, its numerator and denominator, and
// (when asked) by evaluation arm. Outcome rates are drawn as bars. Small
// numbers are withheld by the server and shown here as "withheld".

import { download, request } from '../api.js';
import { barChart } from '../charts.js';
import { sees } from '../access.js';
import {
  h, uid, heading, page, lead, section, emptyState, errorArea, problemMessage, submitButton,
  dataTable, humanise, label, ARM_LABELS,
} from '../ui.js';

const UNIT_TEXT = {
  count: 'Shown as a number.',
  proportion: 'Shown as a percentage.',
  days: 'Shown as a median number of days.',
  hours: 'Shown as a median number of hours a week.',
};

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

export function cellText(figure, cell) {
  if (cell && cell.denominator === 0) return 'none to count';
  if (!cell || cell.suppressed || cell.value === null || cell.value === undefined) return 'withheld';
  if (figure.unit === 'proportion') return `${Math.round(cell.value * 1000) / 10}%`;
  if (figure.unit === 'days') return `${cell.value} days`;
  if (figure.unit === 'hours') return `${cell.value} hours a week`;
  return String(cell.value);
}

function fraction(cell) {
  if (!cell || cell.denominator === null || cell.denominator === undefined) return '';
  const top = cell.numerator === null || cell.numerator === undefined ? 'withheld' : cell.numerator;
  return `${top} of ${cell.denominator}`;
}

function figureRow(figure) {
  const arms = figure.by_arm ? Object.entries(figure.by_arm) : [];
  return h('div', { class: 'report-figure', dataset: { key: figure.key } },
    h('dt', { class: 'report-figure__label' }, figure.label),
    h('dd', { class: 'report-figure__value' },
      h('span', { class: 'report-figure__number' }, cellText(figure, figure.overall)),
      figure.denominator_label && fraction(figure.overall)
        ? h('span', { class: 'muted' }, ` (${fraction(figure.overall)} ${figure.denominator_label})`) : null,
      arms.length ? h('ul', { class: 'report-figure__arms' }, arms.map(([arm, cell]) => h('li', {},
        `${ARM_LABELS[arm] || arm}: ${cellText(figure, cell)}`))) : null),
    h('dd', { class: 'report-figure__definition' }, figure.definition));
}

/** Every figure's definition, in report order: what is counted and out of what. */
function howCounted(definitions) {
  return h('details', { class: 'details report-definitions' },
    h('summary', {}, 'How these are counted'),
    h('dl', { class: 'report-definitions__list' }, definitions.map((d) => h('div', { class: 'report-definition', dataset: { key: d.key } },
      h('dt', { class: 'report-definition__label' }, d.label),
      h('dd', {}, d.definition),
      h('dd', { class: 'report-definition__parts' },
        h('span', {}, h('strong', {}, 'Counted: '), d.numerator_label),
        d.denominator_label ? h('span', {}, h('strong', {}, 'Out of: '), d.denominator_label) : null,
        h('span', { class: 'muted' }, UNIT_TEXT[d.unit] || d.unit))))));
}

function outcomeChart(report, signal) {
  const rates = report.figures.filter((f) => f.unit === 'proportion');
  if (!rates.length) return null;
  return barChart({
    title: 'Rates (%)',
    bars: rates.map((f) => ({
      label: f.label,
      value: f.overall.suppressed || f.overall.value === null ? null : Math.round(f.overall.value * 1000) / 10,
      text: cellText(f, f.overall),
    })),
    max: 100,
    unit: 'Per cent',
    note: 'Withheld rates have too few people behind them to show.',
    signal,
  });
}

/** @param {import('../app.js').ViewContext} ctx */
export async function render(ctx) {
  const [scopes, definitions] = await Promise.all([
    request('/api/v1/reports/scopes', { signal: ctx.signal }),
    request('/api/v1/reports/definitions', { signal: ctx.signal }),
  ]);
  const options = [
    ...(scopes.teams || []), ...(scopes.area_clusters || []), ...(scopes.organisations || []),
  ];
  if (!options.length) {
    return page(h('div', { class: 'page-header' }, heading('Programme reports')), emptyState('There is nothing you may report on.'));
  }
  const today = new Date();
  const yearAgo = new Date(today.getTime() - 365 * 86_400_000);
  const scopeId = uid('scope');
  const scopeSelect = h('select', { id: scopeId, class: 'input', name: 'scope' },
    options.map((o, i) => h('option', { value: `${o.kind}|${o.id}`, selected: i === 0 },
      `${o.name} (${o.kind === 'area_cluster' ? 'area cluster' : o.kind})`)));
  const fromId = uid('from');
  const from = h('input', { id: fromId, type: 'date', class: 'input', value: ctx.query.get('from') || isoDay(yearAgo) });
  const toId = uid('to');
  const to = h('input', { id: toId, type: 'date', class: 'input', value: ctx.query.get('to') || isoDay(today) });
  const splitId = uid('split');
  const split = h('input', { id: splitId, type: 'checkbox', class: 'checkbox__input' });
  const errors = errorArea();
  const submit = submitButton('Show the report', { busyText: 'Counting…' });
  const output = h('div', { class: 'report', 'aria-live': 'polite' });

  const params = () => {
    const [kind, id] = scopeSelect.value.split('|');
    const search = new URLSearchParams({ scope: kind, scope_id: id, from: from.value, to: to.value });
    if (split.checked) search.set('split', 'arm');
    return search;
  };

  async function show() {
    errors.clear();
    submit.setBusy(true);
    try {
      const search = params();
      const report = await request(`/api/v1/reports/programme?${search}`, { signal: ctx.signal });
      const base = `teamwell-report-${report.scope.name}-${report.period.from}-${report.period.to}`
        .toLowerCase().replace(/[^a-z0-9.-]+/g, '-');
      const exportButton = (format) => h('button', {
        type: 'button',
        class: 'button button--secondary button--small',
        onClick: () => {
          const s = new URLSearchParams(search);
          s.set('format', format);
          download(`/api/v1/reports/programme/export?${s}`, `${base}.${format}`, { signal: ctx.signal })
            .catch((error) => { if (error.name !== 'AbortError') errors.show(error); });
        },
      }, `Download ${format.toUpperCase()}`);
      output.replaceChildren(
        h('h2', {}, `${report.scope.name}, ${report.period.from} to ${report.period.to}`),
        h('p', { class: 'muted' }, `Counted to ${report.period.as_of}. ${report.suppression.rule}`),
        h('div', { class: 'form__actions' }, exportButton('csv'), exportButton('json')),
        outcomeChart(report, ctx.signal),
        h('dl', { class: 'report-figures' }, report.figures.map(figureRow)),
      );
    } catch (error) {
      if (error.name !== 'AbortError') errors.show(problemMessage(error));
    } finally {
      submit.setBusy(false);
    }
  }

  const form = h('form', { class: 'form report-form', novalidate: true, 'aria-label': 'Choose a report' },
    errors.element,
    h('div', { class: 'field' }, h('label', { for: scopeId, class: 'field__label' }, 'Team, area cluster or organisation'), scopeSelect),
    h('div', { class: 'field' }, h('label', { for: fromId, class: 'field__label' }, 'From'), from),
    h('div', { class: 'field' }, h('label', { for: toId, class: 'field__label' }, 'To'), to),
    h('div', { class: 'checkbox' }, split, h('label', { for: splitId, class: 'checkbox__label' }, 'Split by evaluation arm')),
    h('div', { class: 'form__actions' }, submit.element));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!submit.busy) show();
  });

  const groups = equalityGroups(params, ctx);
  const goals = quarterlyTargets(scopeSelect, ctx);

  const page_ = page(
    h('div', { class: 'page-header' }, heading('Programme reports')),
    lead('Referrals, engagement, jobs and recovery for a team, an area cluster or an organisation. Only totals and rates leave Teamwell; numbers so small that they could point to a person are withheld.'),
    // The arms a report splits by come from the organisation's trials, which its supervisors run.
    sees(ctx.user, 'evaluation') ? h('p', {}, h('a', { href: '#/evaluation' }, 'Evaluation trials'),
      ': randomise consenting new clients between IPS and treatment as usual, and check the allocations.') : null,
    section('Report', form),
    output,
    goals,
    groups,
    howCounted(definitions),
  );
  show();
  return page_;
}


const CHARACTERISTICS = [
  ['ethnicity', 'Ethnic group (ONS high-level groups)'],
  ['age_band', 'Age'],
  ['sex', 'Sex'],
  ['gender_identity', 'Gender identity'],
  ['disability', 'Disability'],
  ['young_not_in_education_employment_training', 'Young and not in education, employment or training'],
  ['conviction', 'Convictions'],
  ['insecure_housing', 'Insecure housing'],
];

/** The headline figures by the groups of one equality characteristic (GET /reports/equality). */
function equalityGroups(params, ctx) {
  const selectId = uid('characteristic');
  const select = h('select', { id: selectId, class: 'input', name: 'characteristic' },
    CHARACTERISTICS.map(([value, text]) => h('option', { value }, text)));
  const errors = errorArea();
  const submit = submitButton('Show by group', { busyText: 'Counting…' });
  const output = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'form', novalidate: true, 'aria-label': 'Figures by equality group' },
    errors.element,
    h('div', { class: 'field' }, h('label', { for: selectId, class: 'field__label' }, 'Group by'), select),
    h('div', { class: 'form__actions' }, submit.element));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (submit.busy) return;
    errors.clear();
    submit.setBusy(true);
    try {
      const search = params();
      search.delete('split');
      search.set('characteristic', select.value);
      const report = await request(`/api/v1/reports/equality?${search}`, { signal: ctx.signal });
      const shown = (cell) => (cell.suppressed ? 'withheld' : cell.value === null ? '—' : String(cell.value));
      output.replaceChildren(dataTable({
        caption: `By ${select.selectedOptions[0].textContent.toLowerCase()}, ${report.period.from} to ${report.period.to}`,
        columns: [
          { header: 'Figure', cell: (f) => f.label, rowHeader: true },
          { header: 'All', cell: (f) => shown(f.overall) },
          ...report.groups.map((g) => ({ header: humanise(g), cell: (f) => shown(f.by_group[g]) })),
        ],
        items: report.figures,
      }));
    } catch (error) {
      if (error.name !== 'AbortError') errors.show(problemMessage(error));
    } finally {
      submit.setBusy(false);
    }
  });
  return section('By equality group',
    h('p', {}, 'The same figures for each group of clients who answered the optional equality questions, with “prefer not to say” and “not recorded” beside them. Small numbers are withheld as above, and so is a second group whenever one alone would be.'),
    form, output);
}

const TARGET_MEASURES = [
  ['referrals', 'Referrals'],
  ['job_entries', 'Job starts'],
  ['sustained_13_weeks', 'Jobs sustained at 13 weeks'],
  ['off_flow', 'Benefit off-flows'],
];

function currentQuarter() {
  const now = new Date();
  return `${now.getFullYear()}-Q${Math.floor(now.getMonth() / 3) + 1}`;
}

/** Quarterly targets for the chosen team or area cluster, and progress against them. */
function quarterlyTargets(scopeSelect, ctx) {
  const quarterId = uid('quarter');
  const quarter = h('input', { id: quarterId, class: 'input', name: 'quarter', value: currentQuarter(), pattern: '\\d{4}-Q[1-4]', 'aria-describedby': `${quarterId}-hint` });
  const measureId = uid('measure');
  const measure = h('select', { id: measureId, class: 'input', name: 'measure' },
    TARGET_MEASURES.map(([value, text]) => h('option', { value }, text)));
  const targetId = uid('target');
  const target = h('input', { id: targetId, class: 'input', name: 'target', type: 'number', min: '0', max: '100000', step: '1', required: true });
  const errors = errorArea();
  const submit = submitButton('Set the target', { busyText: 'Saving…' });
  const output = h('div', { 'aria-live': 'polite' });

  const scope = () => {
    const [kind, id] = scopeSelect.value.split('|');
    return { kind, id };
  };
  const draw = (report) => {
    const text = (p) => (p.status === 'suppressed' ? 'withheld' : String(p.actual));
    output.replaceChildren(dataTable({
      caption: `${report.scope_name}, ${report.quarter} (counted to ${report.as_of})`,
      columns: [
        { header: 'Measure', cell: (p) => label(Object.fromEntries(TARGET_MEASURES), p.measure), rowHeader: true },
        { header: 'Target', cell: (p) => (p.target === null ? 'none set' : String(p.target)) },
        { header: 'So far', cell: text },
      ],
      items: report.progress,
    }));
  };
  const show = async () => {
    errors.clear();
    const { kind, id } = scope();
    if (kind === 'organisation') {
      output.replaceChildren(emptyState('Targets are set for a team or an area cluster: choose one above.'));
      return;
    }
    try {
      const search = new URLSearchParams({ scope: kind, scope_id: id, quarter: quarter.value });
      draw(await request(`/api/v1/reports/targets?${search}`, { signal: ctx.signal }));
    } catch (error) {
      if (error.name !== 'AbortError') errors.show(problemMessage(error));
    }
  };
  const form = h('form', { class: 'form', novalidate: true, 'aria-label': 'Set a quarterly target' },
    errors.element,
    h('div', { class: 'field' }, h('label', { for: quarterId, class: 'field__label' }, 'Quarter'),
      h('p', { id: `${quarterId}-hint`, class: 'field__hint' }, 'Written like 2026-Q4.'), quarter),
    h('div', { class: 'field' }, h('label', { for: measureId, class: 'field__label' }, 'Measure'), measure),
    h('div', { class: 'field' }, h('label', { for: targetId, class: 'field__label' }, 'Target for the quarter'), target),
    h('div', { class: 'form__actions' }, submit.element));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (submit.busy) return;
    const { kind, id } = scope();
    errors.clear();
    if (kind === 'organisation') {
      errors.show('Targets are set for a team or an area cluster: choose one above.');
      return;
    }
    submit.setBusy(true);
    try {
      draw(await request('/api/v1/reports/targets', {
        method: 'PUT',
        body: { scope: kind, scope_id: id, quarter: quarter.value, measure: measure.value, target: Number(target.value) },
        signal: ctx.signal,
      }));
    } catch (error) {
      if (error.name !== 'AbortError') errors.show(problemMessage(error));
    } finally {
      submit.setBusy(false);
    }
  });
  scopeSelect.addEventListener('change', show);
  quarter.addEventListener('change', show);
  show();
  return section('Quarterly targets',
    h('p', {}, 'Targets for each quarter, and how far the team or area cluster has come. Off-flows are not measured yet: their target is kept until they are.'),
    output, form);
}
