// Supervisor and administrator: who did what, when.

import { request } from '../api.js';
import {
  h, heading, page, pagedTable, badge, time, humanise,
} from '../ui.js';

const LIMIT = 50;

const OUTCOME_VARIANTS = {
  success: 'ok', succeeded: 'ok', allowed: 'ok', ok: 'ok',
  denied: 'bad', forbidden: 'bad', failure: 'bad', failed: 'bad', error: 'bad',
};

function outcomeBadge(outcome) {
  return badge(humanise(outcome) || 'Unknown', `outcome-${OUTCOME_VARIANTS[String(outcome).toLowerCase()] || 'other'}`);
}

/** @param {import('../app.js').ViewContext} ctx */
export async function render(ctx) {
  const canOpenClients = ctx.user.role !== 'admin';
  const load = ({ offset, limit, signal }) => request('/api/v1/audit-events', { query: { limit, offset }, signal });
  const initial = await load({ offset: 0, limit: LIMIT, signal: ctx.signal });
  const table = pagedTable({
    caption: 'Audit events',
    noun: ['event', 'events'],
    initial,
    load,
    limit: LIMIT,
    columns: [
      { header: 'When', rowHeader: true, cell: (e) => time(e.occurred_at, { withTime: true }) },
      { header: 'Who', cell: (e) => e.actor_name || 'System' },
      { header: 'Action', cell: (e) => humanise(e.action) || '—' },
      {
        header: 'Record',
        className: 'table__break',
        cell: (e) => (e.resource_type
          ? [humanise(e.resource_type), e.resource_id ? h('span', { class: 'identifier' }, ` ${e.resource_id}`) : null]
          : '—'),
      },
      {
        header: 'Client',
        className: 'table__break',
        cell: (e) => {
          if (!e.client_id) return '—';
          return canOpenClients
            ? h('a', { href: `#/clients/${encodeURIComponent(e.client_id)}`, class: 'identifier' }, String(e.client_id))
            : h('span', { class: 'identifier' }, String(e.client_id));
        },
      },
      { header: 'Outcome', cell: (e) => outcomeBadge(e.outcome) },
    ],
  });
  return page(
    h('div', { class: 'page-header' },
      heading('Audit'),
      h('p', { class: 'lead' }, 'Recent activity, newest first. Every view of a client record is recorded here.')),
    table.element);
}
