// Administrator: one person — their role, who supervises them, and whether their account is
// active. Roles change only among the clinical roles, so only those are offered.

import { request } from '../api.js';
import {
  h, heading, page, section, badge, roleLabel, formatDate, dataTable, emptyState, humanise,
} from '../ui.js';
import { actionForm, selectField, everyone, CLINICAL_ROLES } from './admin-kit.js';

const LINK_STATUS = {
  pending: ['Waiting for them to accept', 'pending'],
  active: ['Active', 'active'],
};

/** @param {import('../app.js').ViewContext} ctx */
export async function render(ctx) {
  const { id } = ctx.params;
  const [person, people, delivery] = await Promise.all([
    request(`/api/v1/users/${id}`, { signal: ctx.signal }),
    everyone({ signal: ctx.signal }),
    request(`/api/v1/users/${id}/notification-status`, { signal: ctx.signal }),
  ]);
  const clinical = CLINICAL_ROLES.includes(person.role);
  const state = h('p', { class: 'user-summary' });
  const drawState = () => state.replaceChildren(
    `${roleLabel(person.role)} · ${person.email} · `,
    person.is_active ? badge('Active', 'active') : badge('Deactivated', 'inactive'));
  drawState();

  const parts = [
    h('div', { class: 'page-header' },
      heading(person.display_name || person.email),
      state,
      h('p', {}, h('a', { href: '#/users' }, 'All users'))),
  ];
  // A bounced address is flagged here, where the admin who can correct it looks.
  if (delivery.email_bounced_at) {
    parts.push(h('div', { class: 'notice notice--warning', role: 'status' },
      `Email to ${delivery.email_bounced_address} bounced on ${formatDate(delivery.email_bounced_at)}: `
      + 'Teamwell no longer emails them notifications. Check the address with them.'));
  }
  if (delivery.failed.length) {
    // Kind and channel only: a notice never carries content.
    parts.push(section('Notifications not delivered',
      h('ul', {}, delivery.failed.map((f) => h('li', {},
        `${humanise(f.kind)} by ${f.channel === 'sms' ? 'text message' : f.channel}, ${formatDate(f.created_at)}`)))));
  }

  if (clinical) {
    const role = selectField({
      label: 'Role',
      name: 'role',
      options: CLINICAL_ROLES.map((r) => ({ value: r, text: roleLabel(r) })),
      value: person.role,
    });
    parts.push(section('Role',
      actionForm({
        ctx,
        label: 'Change role',
        children: [role.element],
        buttonText: 'Save role',
        busyText: 'Saving…',
        action: () => request(`/api/v1/users/${id}`, { method: 'PATCH', body: { role: role.input.value } }),
        done: (saved) => { Object.assign(person, saved); drawState(); return `Role changed to ${roleLabel(saved.role)}.`; },
      }).element));

    const links = h('div', { class: 'supervision-links' });
    const drawLinks = async () => {
      const found = await request(`/api/v1/users/${id}/supervisor`, { signal: ctx.signal });
      links.replaceChildren(found.length
        ? dataTable({
          caption: 'Supervisors',
          captionHidden: true,
          items: found,
          columns: [
            { header: 'Supervisor', rowHeader: true, cell: (l) => l.supervisor_name || l.supervisor_email || '—' },
            {
              header: 'Status',
              cell: (l) => {
                const [text, variant] = LINK_STATUS[l.status] || [l.status, 'neutral'];
                return badge(text, variant);
              },
            },
            { header: 'Since', cell: (l) => formatDate(l.since) },
          ],
        })
        : emptyState('Nobody supervises them yet.'));
    };
    await drawLinks();
    const supervisors = people.filter((p) => p.role === 'supervisor' && p.is_active && p.id !== id);
    const choice = selectField({
      label: 'Supervisor',
      name: 'supervisor_id',
      options: supervisors.map((p) => ({ value: p.id, text: p.display_name || p.email })),
    });
    parts.push(section('Supervisor',
      h('p', {}, 'A supervisor you propose reaches nothing until this person accepts them.'),
      links,
      supervisors.length
        ? actionForm({
          ctx,
          label: 'Propose a supervisor',
          children: [choice.element],
          buttonText: 'Propose supervisor',
          busyText: 'Proposing…',
          action: () => request(`/api/v1/users/${id}/supervisor`, { method: 'PUT', body: { supervisor_id: choice.input.value } }),
          done: async (link) => {
            await drawLinks();
            return link.status === 'pending'
              ? `${link.supervisor_name || 'The supervisor'} is proposed. They supervise once ${person.display_name} accepts.`
              : `${link.supervisor_name || 'The supervisor'} already supervises them.`;
          },
        }).element
        : emptyState('There is no active supervisor in your organisation to propose.')));
  }

  if (person.id !== ctx.user.id) {
    const account = h('div');
    const drawAccount = () => account.replaceChildren(actionForm({
      ctx,
      label: person.is_active ? 'Deactivate account' : 'Reactivate account',
      children: [h('p', {}, person.is_active
        ? 'Deactivating signs them out everywhere and stops them signing in. Their records stay.'
        : 'Reactivating lets them sign in again.')],
      buttonText: person.is_active ? 'Deactivate account' : 'Reactivate account',
      busyText: 'Saving…',
      action: () => request(`/api/v1/users/${id}`, { method: 'PATCH', body: { is_active: !person.is_active } }),
      done: (saved) => {
        Object.assign(person, saved);
        drawState();
        drawAccount();
        account.querySelector('.admin-form__status').replaceChildren(
          h('div', { class: 'notice notice--success', role: 'status' }, saved.is_active ? 'Account reactivated.' : 'Account deactivated.'));
        return null;
      },
    }).element);
    drawAccount();
    parts.push(section('Account', account));
  }
  return page(...parts);
}
