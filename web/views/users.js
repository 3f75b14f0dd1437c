// Administrator: people with Teamwell accounts.

import { request } from '../api.js';
import {
  h, heading, page, pagedTable, badge, roleLabel,
} from '../ui.js';

const LIMIT = 50;

export async function render(ctx) {
  const load = ({ offset, limit, signal }) => request('/api/v1/users', { query: { limit, offset }, signal });
  const initial = await load({ offset: 0, limit: LIMIT, signal: ctx.signal });
  const table = pagedTable({
    caption: 'Users',
    noun: ['user', 'users'],
    initial,
    load,
    limit: LIMIT,
    columns: [
      { header: 'Name', rowHeader: true, cell: (u) => u.display_name || '—' },
      { header: 'Email', className: 'table__break', cell: (u) => u.email || '—' },
      { header: 'Role', cell: (u) => roleLabel(u.role) },
      { header: 'Account type', cell: (u) => (u.kind === 'client' ? 'Client' : 'Staff') },
      { header: 'Status', cell: (u) => (u.is_active === false ? badge('Deactivated', 'inactive') : badge('Active', 'active')) },
    ],
  });
  return page(
    h('div', { class: 'page-header' },
      heading('Users'),
      h('p', { class: 'lead' }, 'Everyone with a Teamwell account in your organisation.')),
    table.element);
}
