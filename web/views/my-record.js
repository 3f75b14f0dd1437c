// A client's own record: the first (only) item of their client list.

import { request } from '../api.js';
import { h, heading, page, emptyState } from '../ui.js';
import { clientSummary } from './client.js';

/** @param {import('../app.js').ViewContext} ctx */
export async function render(ctx) {
  const list = await request('/api/v1/clients', { query: { limit: 1, offset: 0 }, signal: ctx.signal });
  const items = Array.isArray(list) ? list : (list && list.items) || [];
  if (!items.length) {
    return page(
      h('div', { class: 'page-header' }, heading('My record')),
      emptyState('We could not find your record. Please speak to your keyworker.'));
  }
  const client = await request(`/api/v1/clients/${encodeURIComponent(items[0].id)}`, { signal: ctx.signal });
  return clientSummary(client, { breadcrumbs: false, ctx });
}
