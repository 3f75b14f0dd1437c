// Administrator: people with Teamwell accounts, and inviting new ones.

import { request } from '../api.js';
import {
  h, heading, page, pagedTable, badge, roleLabel, section, textField, formatDate,
} from '../ui.js';
import { actionForm, selectField, CLINICAL_ROLES } from './admin-kit.js';

const LIMIT = 50;

// Staff are invited here; a client's login is invited from their record's care team.
const INVITABLE_ROLES = [...CLINICAL_ROLES, 'admin'];

const INVITATION_STATUS = {
  pending: ['Pending', 'pending'],
  accepted: ['Accepted', 'active'],
  revoked: ['Withdrawn', 'inactive'],
  expired: ['Expired', 'inactive'],
};

/** @param {import('../app.js').ViewContext} ctx */
export async function render(ctx) {
  const load = ({ offset, limit, signal }) => request('/api/v1/users', { query: { limit, offset }, signal });
  const loadInvitations = ({ offset, limit, signal }) => request('/api/v1/invitations', { query: { limit, offset }, signal });
  const [initial, initialInvitations, teams] = await Promise.all([
    load({ offset: 0, limit: LIMIT, signal: ctx.signal }),
    loadInvitations({ offset: 0, limit: LIMIT, signal: ctx.signal }),
    request('/api/v1/teams', { query: { limit: 200 }, signal: ctx.signal }),
  ]);
  const table = pagedTable({
    caption: 'Users',
    noun: ['user', 'users'],
    initial,
    load,
    limit: LIMIT,
    columns: [
      { header: 'Name', rowHeader: true, cell: (u) => h('a', { href: `#/users/${u.id}` }, u.display_name || u.email) },
      { header: 'Email', className: 'table__break', cell: (u) => u.email || '—' },
      { header: 'Role', cell: (u) => roleLabel(u.role) },
      { header: 'Account type', cell: (u) => (u.kind === 'client' ? 'Client' : 'Staff') },
      { header: 'Status', cell: (u) => (u.is_active === false ? badge('Deactivated', 'inactive') : badge('Active', 'active')) },
    ],
  });

  const invitations = pagedTable({
    caption: 'Invitations',
    noun: ['invitation', 'invitations'],
    initial: initialInvitations,
    load: loadInvitations,
    limit: LIMIT,
    columns: [
      { header: 'Email', rowHeader: true, className: 'table__break', cell: (i) => i.email },
      { header: 'Role', cell: (i) => roleLabel(i.role) },
      { header: 'Sent', cell: (i) => formatDate(i.created_at) },
      {
        header: 'Status',
        cell: (i) => {
          const [text, variant] = INVITATION_STATUS[i.status] || [i.status, 'neutral'];
          return badge(text, variant);
        },
      },
      {
        header: 'Action',
        cell: (i) => (i.status === 'pending'
          ? actionForm({
            ctx,
            label: `Withdraw the invitation to ${i.email}`,
            children: [],
            buttonText: 'Withdraw',
            busyText: 'Withdrawing…',
            action: () => request(`/api/v1/invitations/${i.id}/revoke`, { method: 'POST' }),
            done: async () => { await invitations.reload(0, { focus: false }); return null; },
          }).element
          : '—'),
      },
    ],
  });

  const email = textField({ label: 'Email address', name: 'email', type: 'email', autocomplete: 'off', spellcheck: false });
  const name = textField({ label: 'Name (optional)', name: 'display_name', required: false, hint: 'Used to greet them in the email.' });
  const role = selectField({
    label: 'Role',
    name: 'role',
    options: INVITABLE_ROLES.map((r) => ({ value: r, text: roleLabel(r) })),
    value: 'peer_keyworker',
  });
  const team = selectField({
    label: 'Team (optional)',
    name: 'team_id',
    required: false,
    hint: 'Clinical staff join it when they accept.',
    options: [{ value: '', text: 'No team' }, ...teams.items.map((t) => ({ value: t.id, text: t.name }))],
    value: '',
  });
  const invite = actionForm({
    ctx,
    label: 'Invite someone',
    fields: { email, display_name: name },
    children: [email.element, name.element, role.element, team.element],
    buttonText: 'Send invitation',
    busyText: 'Sending…',
    action: () => {
      const body = { email: email.input.value.trim(), role: role.input.value };
      if (name.input.value.trim()) body.display_name = name.input.value.trim();
      if (team.input.value) body.team_id = team.input.value;
      return request('/api/v1/invitations', { method: 'POST', body });
    },
    done: async (made) => {
      email.input.value = '';
      name.input.value = '';
      await invitations.reload(0, { focus: false });
      return `Invitation sent to ${made.email}. The link in it works once and expires after a few days.`;
    },
  });

  return page(
    h('div', { class: 'page-header' },
      heading('Users'),
      h('p', { class: 'lead' }, 'Everyone with a Teamwell account in your organisation. Open someone to change their role, supervisor or account.'),
      h('p', {}, h('a', { href: '#/single-sign-on' }, 'Single sign-on settings'))),
    table.element,
    section('Invite someone',
      h('p', {}, 'They get an email with a link to choose their own name and password. Nobody else ever sets their password.'),
      invite.element),
    section('Invitations', invitations.element));
}
