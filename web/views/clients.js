// Client list: search, status filter and paging.

import { request } from '../api.js';
import {
  h, heading, page, pagedTable, statusBadge, time, STATUS_LABELS, uid,
} from '../ui.js';
import { referralIntake } from './referral-intake.js';

const LIMIT = 50;

function toOffset(value) {
  const n = Number.parseInt(value, 10);
  return Number.isFinite(n) && n > 0 ? n : 0;
}

/** @param {import('../app.js').ViewContext} ctx */
export async function render(ctx) {
  const filters = {
    q: (ctx.query.get('q') || '').trim(),
    status: Object.hasOwn(STATUS_LABELS, ctx.query.get('status')) ? ctx.query.get('status') : '',
  };

  const load = ({ offset, limit, signal }) => request('/api/v1/clients', {
    query: { limit, offset, status: filters.status || undefined, q: filters.q || undefined },
    signal,
  });

  const initial = await load({ offset: toOffset(ctx.query.get('offset')), limit: LIMIT, signal: ctx.signal });

  const table = pagedTable({
    caption: 'Clients',
    noun: ['client', 'clients'],
    emptyText: 'No clients match your search.',
    initial,
    load,
    limit: LIMIT,
    onChange: (current) => ctx.replaceQuery({ q: filters.q, status: filters.status, offset: current.offset }),
    columns: [
      {
        header: 'Name',
        rowHeader: true,
        cell: (c) => h('a', { href: `#/clients/${encodeURIComponent(c.id)}` }, c.display_name || 'Unnamed client'),
      },
      { header: 'Status', cell: (c) => statusBadge(c.status) },
      { header: 'Client since', cell: (c) => time(c.created_at) },
    ],
  });

  const searchId = uid('q');
  const statusId = uid('status');
  const search = h('input', {
    id: searchId, name: 'q', type: 'search', class: 'input', value: filters.q, autocomplete: 'off', spellcheck: 'false',
  });
  const status = h('select', { id: statusId, name: 'status', class: 'select' },
    h('option', { value: '' }, 'All statuses'),
    Object.entries(STATUS_LABELS).map(([value, text]) => h('option', { value, selected: value === filters.status }, text)));
  const clear = h('button', { type: 'button', class: 'button button--link', hidden: !(filters.q || filters.status) }, 'Clear filters');

  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter clients' },
    h('div', { class: 'field field--inline' }, h('label', { for: searchId, class: 'field__label' }, 'Search by name'), search),
    h('div', { class: 'field field--inline' }, h('label', { for: statusId, class: 'field__label' }, 'Status'), status),
    h('div', { class: 'filters__actions' },
      h('button', { type: 'submit', class: 'button' }, 'Search'),
      clear));

  const apply = () => {
    filters.q = search.value.trim();
    filters.status = status.value;
    clear.hidden = !(filters.q || filters.status);
    table.reload(0, { focus: false });
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    apply();
  });
  clear.addEventListener('click', () => {
    search.value = '';
    status.value = '';
    apply();
    search.focus();
  });

  return page(
    h('div', { class: 'page-header' },
      heading('Clients'),
      h('p', { class: 'lead' }, 'People your team is working with.')),
    referralIntake(ctx),
    form,
    table.element);
}
