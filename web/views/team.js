// Administrator: one team — its name and who is on it. Only clinical staff of the organisation
// can be members, so only they are offered. A member's status is shown when the server gives
// one (for example a membership waiting for a supervisor of the team to confirm it).

import { request } from '../api.js';
import {
  h, heading, page, section, textField, roleLabel, formatDate, dataTable, badge, humanise,
} from '../ui.js';
import { actionForm, selectField, everyone, CLINICAL_ROLES } from './admin-kit.js';

/** @param {import('../app.js').ViewContext} ctx */
export async function render(ctx) {
  const { id } = ctx.params;
  const [team, initialMembers, people] = await Promise.all([
    request(`/api/v1/teams/${id}`, { signal: ctx.signal }),
    request(`/api/v1/teams/${id}/members`, { signal: ctx.signal }),
    everyone({ signal: ctx.signal }),
  ]);
  const title = heading(team.name);
  let members = initialMembers;

  const name = textField({ label: 'Team name', name: 'name', autocomplete: 'off', value: team.name });
  const cluster = textField({ label: 'Area cluster', name: 'area_cluster', autocomplete: 'off', value: team.area_cluster });
  const rename = actionForm({
    ctx,
    label: 'Rename the team',
    fields: { name, area_cluster: cluster },
    children: [name.element, cluster.element],
    buttonText: 'Save',
    busyText: 'Saving…',
    action: () => request(`/api/v1/teams/${id}`, {
      method: 'PATCH',
      body: { name: name.input.value.trim(), area_cluster: cluster.input.value.trim() },
    }),
    done: (saved) => {
      Object.assign(team, saved);
      title.textContent = saved.name;
      ctx.updateTitle();
      return 'Team saved.';
    },
  });

  const memberList = h('div');
  const addHolder = h('div');
  const hasStatus = () => members.some((m) => m.status);
  const drawMembers = () => {
    memberList.replaceChildren(dataTable({
      caption: `Members of ${team.name}`,
      captionHidden: true,
      items: members,
      emptyText: 'Nobody is on this team yet.',
      columns: [
        { header: 'Name', rowHeader: true, cell: (m) => m.display_name },
        { header: 'Role', cell: (m) => roleLabel(m.role) },
        ...(hasStatus() ? [{ header: 'Status', cell: (m) => (m.status ? badge(humanise(m.status), m.status === 'active' ? 'active' : 'pending') : '—') }] : []),
        { header: 'Since', cell: (m) => formatDate(m.since) },
        {
          header: 'Action',
          cell: (m) => actionForm({
            ctx,
            label: `Take ${m.display_name} off the team`,
            children: [],
            buttonText: 'Remove',
            busyText: 'Removing…',
            action: () => request(`/api/v1/teams/${id}/members/${m.user_id}`, { method: 'DELETE' }),
            done: (left) => { members = left; drawMembers(); return null; },
          }).element,
        },
      ],
    }));
    drawAdd();
  };

  let addStatus = null;
  function drawAdd() {
    const onTeam = new Set(members.map((m) => m.user_id));
    const candidates = people.filter((p) => CLINICAL_ROLES.includes(p.role) && p.is_active && !onTeam.has(p.id));
    if (!candidates.length) {
      addHolder.replaceChildren(h('p', { class: 'empty-state' }, 'All active clinical staff of your organisation are on this team.'), addStatus || '');
      return;
    }
    const who = selectField({
      label: 'Person to add',
      name: 'user_id',
      options: candidates.map((p) => ({ value: p.id, text: `${p.display_name || p.email} (${roleLabel(p.role)})` })),
    });
    const form = actionForm({
      ctx,
      label: 'Add someone to the team',
      children: [who.element],
      buttonText: 'Add to team',
      busyText: 'Adding…',
      action: () => request(`/api/v1/teams/${id}/members`, { method: 'POST', body: { user_id: who.input.value } }),
      done: (now) => {
        const added = now.find((m) => m.user_id === who.input.value);
        members = now;
        addStatus = h('div', { class: 'notice notice--success', role: 'status' },
          added && added.status && added.status !== 'active'
            ? `${added.display_name} is added (${humanise(added.status).toLowerCase()}).`
            : `${added ? added.display_name : 'They'} added to the team.`);
        drawMembers();
        return null;
      },
    });
    addHolder.replaceChildren(form.element);
    if (addStatus) form.element.querySelector('.admin-form__status').replaceChildren(addStatus);
  }
  drawMembers();

  return page(
    h('div', { class: 'page-header' },
      title,
      h('p', { class: 'lead' }, `Area cluster: ${team.area_cluster}`),
      h('p', {}, h('a', { href: '#/teams' }, 'All teams'))),
    section('Members', memberList, addHolder),
    section('Name and area cluster', rename.element));
}
