// Administrator: teams.

import { request } from '../api.js';
import { h, heading, page, pagedTable } from '../ui.js';

const LIMIT = 50;

export async function render(ctx) {
  const load = ({ offset, limit, signal }) => request('/api/v1/teams', { query: { limit, offset }, signal });
  const initial = await load({ offset: 0, limit: LIMIT, signal: ctx.signal });
  const table = pagedTable({
    caption: 'Teams',
    noun: ['team', 'teams'],
    initial,
    load,
    limit: LIMIT,
    columns: [
      { header: 'Name', rowHeader: true, cell: (t) => t.name || '—' },
      { header: 'Area cluster', cell: (t) => t.area_cluster || '—' },
    ],
  });
  return page(
    h('div', { class: 'page-header' },
      heading('Teams'),
      h('p', { class: 'lead' }, 'Multidisciplinary teams and the area clusters they cover.')),
    table.element);
}
