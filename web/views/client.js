// Client summary: details, sessions, case threads, plan and questionnaires,
// scores over time, care team, referrals and consent.

import { request } from '../api.js';
import { openConversation } from '../chat.js';
import { sessionsPanel } from './sessions.js';
import { journeyPanel } from './journey.js';
import { planPanel, questionnairePanel, scoresPanel } from '../measures.js';
import {
  h, heading, page, section, dataTable, statusBadge, consentBadge, badge, time, label, roleLabel,
  emptyState, humanise, formatDate, problemMessage, uid,
  PURPOSE_LABELS, REFERRAL_SOURCE_LABELS, ROLE_LABELS, CONSENT_STATE_LABELS,
} from '../ui.js';

export async function render(ctx) {
  const client = await request(`/api/v1/clients/${encodeURIComponent(ctx.params.id)}`, { signal: ctx.signal });
  return clientSummary(client, { breadcrumbs: ctx.user.role !== 'client', ctx });
}

/** ctx (optional): the router context, for the case thread buttons. */
export function clientSummary(client, { breadcrumbs = true, ctx = null } = {}) {
  const name = client.display_name || 'Unnamed client';
  return page(
    breadcrumbs ? h('nav', { class: 'breadcrumbs', 'aria-label': 'Breadcrumb' },
      h('ol', {},
        h('li', {}, h('a', { href: '#/clients' }, 'Clients')),
        h('li', { 'aria-current': 'page' }, name))) : null,
    h('div', { class: 'page-header' }, heading(name)),
    h('dl', { class: 'summary-list' },
      row('Status', statusBadge(client.status)),
      row('Team', client.team_name || '—'),
      row('Organisation', client.organisation_name || '—'),
      row('Client since', time(client.created_at))),
    ctx ? sessionsPanel(client, ctx) : null,
    ctx ? caseThreadSection(client, ctx) : null,
    ctx ? h('div', { class: 'record-panels' }, planPanel(client, ctx), questionnairePanel(client, ctx)) : null,
    ctx ? scoresPanel(client, ctx) : null,
    ctx && ctx.user.role !== 'client' ? journeyPanel(client) : null,
    careTeamSection(client.care_team || []),
    referralsSection(client.referrals || []),
    consentSection(client.consents || []),
  );
}

function row(term, value) {
  return h('div', { class: 'summary-list__row' }, h('dt', {}, term), h('dd', {}, value));
}

/**
 * Buttons that open the client's case threads: the care team's own thread
 * (staff only) and the thread the client takes part in.
 */
function caseThreadSection(client, ctx) {
  const isClient = ctx.user.role === 'client';
  const name = client.display_name || 'this client';
  const firstName = String(client.display_name || '').trim().split(/\s+/)[0] || 'the client';
  const titleId = uid('case-thread');
  const error = h('p', { class: 'field__error', role: 'alert' });

  const open = async (button, includesClient) => {
    if (button.getAttribute('aria-disabled') === 'true') return;
    const text = button.textContent;
    button.setAttribute('aria-disabled', 'true');
    button.textContent = 'Opening…';
    error.textContent = '';
    try {
      const conversation = await openConversation({
        kind: 'case', client_id: client.id, includes_client: includesClient,
      });
      if (!ctx.isCurrent()) return;
      ctx.navigate(`#/messages/${encodeURIComponent(conversation.id)}`);
    } catch (failure) {
      if (!ctx.isCurrent()) return;
      error.textContent = problemMessage(failure);
      button.removeAttribute('aria-disabled');
      button.textContent = text;
    }
  };
  const button = (text, includesClient, secondary) => {
    const el = h('button', { type: 'button', class: ['button', 'button--small', secondary ? 'button--secondary' : null] }, text);
    el.addEventListener('click', () => open(el, includesClient));
    return el;
  };

  let intro;
  const buttons = [];
  if (isClient) {
    intro = 'Send a message to the people supporting you. Your care team will reply here.';
    buttons.push(button('Message your care team', true, false));
  } else {
    intro = `Messages about ${name}’s care, kept with their record.`;
    buttons.push(button('Care team thread', false, false));
    buttons.push(button(`Thread with ${firstName}`, true, true));
  }
  return h('section', { class: 'case-thread', 'aria-labelledby': titleId },
    h('p', { id: titleId, class: 'case-thread__title' }, 'Case thread'),
    h('p', { class: 'case-thread__intro' }, intro,
      !isClient && !client.user_id ? ` ${firstName} has no Teamwell account yet: they will see their thread once they do.` : ''),
    error,
    h('div', { class: 'button-row' }, buttons));
}

function careTeamSection(members) {
  // Current members first, then by start date.
  const sorted = [...members].sort((a, b) => (Boolean(a.until) - Boolean(b.until))
    || String(a.since || '').localeCompare(String(b.since || '')));
  return section('Care team',
    sorted.length ? dataTable({
      caption: 'Care team',
      captionHidden: true,
      className: 'table--fit',
      items: sorted,
      columns: [
        { header: 'Name', rowHeader: true, cell: (m) => m.display_name || '—' },
        { header: 'Role', cell: (m) => (Object.hasOwn(ROLE_LABELS, m.role_on_team) ? roleLabel(m.role_on_team) : humanise(m.role_on_team)) },
        { header: 'Since', cell: (m) => time(m.since) },
        { header: 'Until', cell: (m) => (m.until ? time(m.until) : badge('Current', 'current')) },
      ],
    }) : emptyState('No one has been assigned to this client yet.'));
}

function referralsSection(referrals) {
  const sorted = [...referrals].sort((a, b) => String(b.referred_on || '').localeCompare(String(a.referred_on || '')));
  return section('Referrals',
    sorted.length ? dataTable({
      caption: 'Referrals',
      captionHidden: true,
      items: sorted,
      columns: [
        { header: 'Referred on', rowHeader: true, cell: (r) => time(r.referred_on) },
        { header: 'Source', cell: (r) => label(REFERRAL_SOURCE_LABELS, r.source) },
        { header: 'Reason', className: 'table__wide', cell: (r) => r.reason || '—' },
      ],
    }) : emptyState('No referrals recorded.'));
}

/**
 * The latest consent decision for each organisation and purpose.
 * Returns { organisations: [{id, name}], purposes: [..], current: Map }.
 */
export function currentConsent(consents) {
  const current = new Map();
  const organisations = new Map();
  const purposes = new Set(Object.keys(PURPOSE_LABELS));
  for (const c of consents) {
    const orgId = String(c.organisation_id);
    if (!organisations.has(orgId)) organisations.set(orgId, c.organisation_name || orgId);
    purposes.add(c.purpose);
    const key = `${orgId}\u0000${c.purpose}`;
    const seen = current.get(key);
    if (!seen || String(c.recorded_at || '') >= String(seen.recorded_at || '')) current.set(key, c);
  }
  return {
    organisations: [...organisations].map(([id, name]) => ({ id, name }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    purposes: [...purposes],
    current,
  };
}

function consentCell(record) {
  if (!record) return h('span', { class: 'muted' }, 'Not recorded');
  return h('div', { class: 'consent-cell' },
    consentBadge(record.state),
    h('span', { class: 'consent-cell__meta' },
      formatDate(record.recorded_at),
      record.recorded_by_name ? ` by ${record.recorded_by_name}` : ''));
}

function consentSection(consents) {
  if (!consents.length) {
    return section('Consent', emptyState('No consent decisions have been recorded.'));
  }
  const { organisations, purposes, current } = currentConsent(consents);
  const matrix = dataTable({
    caption: 'Current consent by organisation and purpose',
    captionHidden: true,
    className: 'table--consent',
    items: organisations,
    columns: [
      { header: 'Organisation', rowHeader: true, cell: (o) => o.name },
      ...purposes.map((purpose) => ({
        header: label(PURPOSE_LABELS, purpose),
        cell: (o) => consentCell(current.get(`${o.id}\u0000${purpose}`)),
      })),
    ],
  });

  const history = [...consents].sort((a, b) => String(b.recorded_at || '').localeCompare(String(a.recorded_at || '')));
  const historyTable = h('details', { class: 'details' },
    h('summary', {}, `Consent history (${history.length} ${history.length === 1 ? 'record' : 'records'})`),
    dataTable({
      caption: 'Consent history',
      captionHidden: true,
      items: history,
      columns: [
        { header: 'Recorded', cell: (c) => time(c.recorded_at, { withTime: true }) },
        { header: 'Organisation', cell: (c) => c.organisation_name || '—' },
        { header: 'Purpose', cell: (c) => label(PURPOSE_LABELS, c.purpose) },
        { header: 'Decision', cell: (c) => label(CONSENT_STATE_LABELS, c.state) },
        { header: 'Recorded by', cell: (c) => c.recorded_by_name || '—' },
      ],
    }));

  return section('Consent',
    h('p', { class: 'section__intro' }, 'The most recent decision for each organisation and purpose.'),
    matrix,
    historyTable);
}
