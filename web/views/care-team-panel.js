// The client page's care team: current members, past members on request,
// adding a member of staff with their role on the care team, and ending a
// membership. Changes are for staff who read the record (the care team and
// its supervisors, auth.policies.can_change_client); the client sees the list.

import { request } from '../api.js';
import {
  h, section, dataTable, time, badge, roleLabel, emptyState, loadOnFirstOpen,
  errorArea, submitButton, notice,
} from '../ui.js';
import {
  CLINICAL_ROLES, careTeamCandidates, roleOptions, selectField, sendForm, rowActionButton,
  reloadPanel,
} from './record-fields.js';

const mayChange = (ctx) => Boolean(ctx) && ctx.user.role !== 'client';

/** ctx null: read only. */
export function careTeamPanel(client, ctx) {
  const base = `/api/v1/clients/${encodeURIComponent(client.id)}/care-team`;
  const status = h('div', { class: 'care-team-panel__status' });
  const failure = h('p', { class: 'field__error', role: 'alert' });
  const body = h('div', { class: 'care-team-panel' });
  let members = client.care_team || [];
  const changes = mayChange(ctx);

  function refresh() {
    // Ending one's own membership ends one's access to the record.
    return reloadPanel(ctx, {
      load: () => request(base, { signal: ctx.signal }),
      failure,
      body,
      draw: (found) => { members = found; draw(); },
    });
  }

  function endButton(member) {
    const name = member.display_name || 'this member';
    return rowActionButton(ctx, {
      text: 'End membership',
      label: `End membership: ${name}`,
      failure,
      act: async () => {
        status.replaceChildren();
        await request(`${base}/${encodeURIComponent(member.id)}`, { method: 'DELETE', signal: ctx.signal });
        if (!ctx.isCurrent()) return;
        status.replaceChildren(notice(`${name} is no longer on the care team.`, 'success'));
        await refresh();
      },
    });
  }

  function table(items, { past = false } = {}) {
    const columns = [
      { header: 'Name', rowHeader: true, cell: (m) => m.display_name || '—' },
      { header: 'Role', cell: (m) => roleLabel(m.role_on_team) },
      { header: 'Since', cell: (m) => time(m.since) },
      { header: 'Until', cell: (m) => (m.until ? time(m.until) : badge('Current', 'current')) },
    ];
    if (changes && !past) columns.push({ header: 'Change', cell: (m) => endButton(m) });
    return dataTable({ caption: past ? 'Care team, with past members' : 'Care team', captionHidden: true, className: 'table--fit', items, columns });
  }

  function pastMembers() {
    const details = h('details', { class: 'details' }, h('summary', {}, 'Past members'));
    loadOnFirstOpen(details, {
      ctx,
      loadingText: 'Loading…',
      load: () => request(base, { query: { include_past: true }, signal: ctx.signal }),
      show: (all) => {
        const past = all.filter((m) => m.until);
        return past.length ? table(past, { past: true }) : emptyState('No one has left this care team.');
      },
    });
    return details;
  }

  function draw() {
    const sorted = [...members].sort((a, b) => String(a.since || '').localeCompare(String(b.since || '')));
    body.replaceChildren(
      sorted.length ? table(sorted) : emptyState('No one has been assigned to this client yet.'),
      ctx ? pastMembers() : null,
      changes ? addForm() : null);
  }

  /** Who may join: clinical staff of the client's team (partners' staff among them) and of one's own organisation. */
  async function candidates() {
    const current = new Set(members.map((m) => m.user_id));
    return (await careTeamCandidates(client, { signal: ctx.signal }))
      .filter((p) => CLINICAL_ROLES.includes(p.role) && !current.has(p.id));
  }

  function addForm() {
    const details = h('details', { class: 'details care-team-form' }, h('summary', {}, 'Add to the care team'));
    loadOnFirstOpen(details, {
      ctx,
      loadingText: 'Loading staff…',
      load: candidates,
      show: (people) => people.length
        ? form(people, details)
        : h('p', { class: 'muted' }, 'Everyone on the team is already on this care team.'),
    });
    return details;
  }

  function form(people, details) {
    const errors = errorArea();
    const person = selectField({
      label: 'Member of staff', name: 'user_id', placeholder: 'Choose a person',
      options: people.map((p) => /** @type {[string, string]} */ ([p.id, `${p.name} (${roleLabel(p.role)})`])),
    });
    const role = selectField({
      label: 'Role on the care team', name: 'role_on_team',
      options: [['', 'Their own role'], ...roleOptions()],
    });
    role.input.required = false;
    const submit = submitButton('Add to care team', { busyText: 'Adding…' });
    const el = h('form', { class: 'form', novalidate: true, 'aria-label': 'Add to the care team' },
      errors.element, person.element, role.element,
      h('div', { class: 'form__actions' }, submit.element));
    el.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (submit.busy) return;
      errors.clear();
      person.clearError();
      role.clearError();
      if (!person.input.value) {
        person.setError('Choose who joins the care team');
        return;
      }
      const chosen = people.find((p) => p.id === person.input.value);
      const payload = { user_id: person.input.value };
      if (role.input.value) payload.role_on_team = role.input.value;
      await sendForm({
        submit,
        errors,
        fields: { user_id: person, role_on_team: role },
        send: async () => {
          members = await request(base, { method: 'POST', body: payload, signal: ctx.signal });
          if (!ctx.isCurrent()) return;
          details.open = false;
          status.replaceChildren(notice(`${chosen ? chosen.name : 'They'} joined the care team.`, 'success'));
          draw();
        },
      });
    });
    return el;
  }

  draw();
  return section('Care team', status, failure, body);
}
