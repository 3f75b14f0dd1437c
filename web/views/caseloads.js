// Caseloads: each employment specialist's open cases against the limit
// (a warning above the IPS-25 best-practice level, at the limit, over it).

import { request } from '../api.js';
import { sees } from '../access.js';
import { h, heading, page, lead, badge, dataTable, emptyState, notice } from '../ui.js';

const STATE_LABELS = {
  ok: 'Within best practice',
  warning: 'Above best practice',
  at_limit: 'At the limit',
  over_limit: 'Over the limit',
};

function stateBadge(state) {
  return badge(STATE_LABELS[state] || 'Unknown', `caseload-${state}`);
}

function loadCell(c) {
  return h('div', { class: 'caseload' },
    h('span', { class: 'caseload__count' }, `${c.active_clients} of ${c.limit}`),
    h('meter', {
      class: 'caseload__meter',
      min: '0',
      max: String(Math.max(c.limit, c.active_clients)),
      low: String(c.warn_above + 0.5),
      high: String(c.limit - 0.5),
      optimum: '0',
      value: String(c.active_clients),
      'aria-label': `${c.specialist_name}: ${c.active_clients} clients, limit ${c.limit}`,
    }));
}

/** @param {import('../app.js').ViewContext} ctx */
export async function render(ctx) {
  const items = await request('/api/v1/caseloads', { signal: ctx.signal });
  const list = [...(Array.isArray(items) ? items : [])]
    .sort((a, b) => b.active_clients - a.active_clients || a.specialist_name.localeCompare(b.specialist_name));
  const sample = list[0];
  const over = list.filter((c) => c.state === 'over_limit' || c.state === 'at_limit').length;

  return page(
    h('div', { class: 'page-header' },
      heading('Caseloads'),
      h('p', {}, h('a', { href: '#/employer-contacts' }, 'Employer contacts'), ': job development with employers, newest first.'),
      sees(ctx.user, 'employer-directory')
        ? h('p', {}, h('a', { href: '#/employers' }, 'Employers'), ': the employer directory and its vacancies.') : null),
    lead(sample
      ? `Open cases per employment specialist. Best practice (IPS-25) is ${sample.warn_above} or fewer; the limit is ${sample.limit}. Beyond the limit, only a supervisor can assign, giving a reason.`
      : 'Open cases per employment specialist.'),
    over ? notice(over === 1
      ? '1 specialist is at or over the caseload limit.'
      : `${over} specialists are at or over the caseload limit.`, 'warning') : null,
    list.length ? dataTable({
      caption: 'Caseload per employment specialist',
      captionHidden: true,
      className: 'table--caseloads',
      items: list,
      columns: [
        { header: 'Specialist', rowHeader: true, cell: (c) => c.specialist_name },
        { header: 'Open cases', cell: loadCell },
        { header: 'State', cell: (c) => stateBadge(c.state) },
        { header: 'IPS-25 score', cell: (c) => `${c.ips25_caseload_score} of 5` },
        {
          header: 'Overrides',
          cell: (c) => (c.overrides_in_force ? `${c.overrides_in_force} assigned by override` : h('span', { class: 'muted' }, 'None')),
        },
      ],
    }) : emptyState('No employment specialists to show.'),
  );
}
