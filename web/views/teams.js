// Administrator: teams, and making a new one.

import { request } from '../api.js';
import { h, heading, page, pagedTable, section, textField } from '../ui.js';
import { actionForm } from './admin-kit.js';

const LIMIT = 50;

/** @param {import('../app.js').ViewContext} ctx */
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
      { header: 'Name', rowHeader: true, cell: (t) => h('a', { href: `#/teams/${t.id}` }, t.name || '—') },
      { header: 'Area cluster', cell: (t) => t.area_cluster || '—' },
    ],
  });
  const name = textField({ label: 'Team name', name: 'name', autocomplete: 'off' });
  const cluster = textField({ label: 'Area cluster', name: 'area_cluster', autocomplete: 'off', hint: 'The group of localities the team covers; reports count by it.' });
  const create = actionForm({
    ctx,
    label: 'Create a team',
    fields: { name, area_cluster: cluster },
    children: [name.element, cluster.element],
    buttonText: 'Create team',
    busyText: 'Creating…',
    action: () => request('/api/v1/teams', {
      method: 'POST',
      body: { name: name.input.value.trim(), area_cluster: cluster.input.value.trim() },
    }),
    done: (team) => { ctx.navigate(`#/teams/${team.id}`); return null; },
  });
  return page(
    h('div', { class: 'page-header' },
      heading('Teams'),
      h('p', { class: 'lead' }, 'Multidisciplinary teams and the area clusters they cover. Open a team to rename it or change who is on it.')),
    table.element,
    section('Create a team', create.element));
}
