// Client summary: details, sessions, case threads, plan and questionnaires,
// scores over time, care team, referrals and consent.

import { request } from '../api.js';
import { openConversation } from '../chat.js';
import { sessionsPanel } from './sessions.js';
import { caseMeetingPanel } from './meetings.js';
import { journeyPanel } from './journey.js';
import { planPanel, questionnairePanel, scoresPanel } from '../measures.js';
import { careTeamPanel } from './care-team-panel.js';
import { referralsPanel } from './referrals-panel.js';
import { benefitsPanel } from './benefits-panel.js';
import { consentPanel } from './consent-panel.js';
import { equalityPanel } from './equality-panel.js';
import { allocationPanel } from './allocation-panel.js';
import { recordActions } from './record-actions.js';
import { measureLinkForm } from './measure-link-form.js';
import { documentsPanel } from './documents.js';
import { CLINICAL_ROLES } from './record-fields.js';
import {
  h, heading, page, statusBadge, time, problemMessage, uid, summaryRow,
} from '../ui.js';

export { currentConsent } from './consent-panel.js';

/** @param {import('../app.js').ViewContext} ctx */
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
      summaryRow('Status', statusBadge(client.status)),
      summaryRow('Team', client.team_name || '—'),
      summaryRow('Organisation', client.organisation_name || '—'),
      summaryRow('Client since', time(client.created_at))),
    ctx ? sessionsPanel(client, ctx) : null,
    ctx && ctx.user.role !== 'client' ? caseMeetingPanel(client, ctx) : null,
    ctx ? caseThreadSection(client, ctx) : null,
    ctx ? h('div', { class: 'record-panels' }, planPanel(client, ctx), questionnaires(client, ctx)) : null,
    ctx ? scoresPanel(client, ctx) : null,
    ctx && ctx.user.role !== 'client' ? journeyPanel(client) : null,
    // Clients find their documents under "My documents"; staff here, in folders.
    ctx && ctx.user.role !== 'client'
      ? documentsPanel(ctx, { place: 'client', id: client.id, canShare: true }).element : null,
    benefitsPanel(client, ctx),
    // The record's administration: each panel in its own module.
    careTeamPanel(client, ctx),
    referralsPanel(client, ctx),
    consentPanel(client, ctx),
    equalityPanel(client, ctx),
    allocationPanel(client, ctx),
    recordActions(client, ctx),
  );
}

/** The questionnaire panel, with "Send a questionnaire link" for clinical staff. */
function questionnaires(client, ctx) {
  const element = questionnairePanel(client, ctx);
  if (CLINICAL_ROLES.includes(ctx.user.role)) element.append(measureLinkForm(client, ctx));
  return element;
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
