// Supervisor and administrator: who did what, when.

import { request } from '../api.js';
import {
  h, heading, page, pagedTable, badge, time, humanise, uid, problemMessage,
} from '../ui.js';

const LIMIT = 50;

const OUTCOME_VARIANTS = {
  success: 'ok', succeeded: 'ok', allowed: 'ok', ok: 'ok',
  denied: 'bad', forbidden: 'bad', failure: 'bad', failed: 'bad', error: 'bad',
};

function outcomeBadge(outcome) {
  return badge(humanise(outcome) || 'Unknown', `outcome-${OUTCOME_VARIANTS[String(outcome).toLowerCase()] || 'other'}`);
}

/** @param {import('../app.js').ViewContext} ctx */
export async function render(ctx) {
  const canOpenClients = ctx.user.role !== 'admin';
  const load = ({ offset, limit, signal }) => request('/api/v1/audit-events', { query: { limit, offset }, signal });
  const initial = await load({ offset: 0, limit: LIMIT, signal: ctx.signal });
  const table = pagedTable({
    caption: 'Audit events',
    noun: ['event', 'events'],
    initial,
    load,
    limit: LIMIT,
    columns: [
      { header: 'When', rowHeader: true, cell: (e) => time(e.occurred_at, { withTime: true }) },
      { header: 'Who', cell: (e) => e.actor_name || 'System' },
      { header: 'Action', cell: (e) => humanise(e.action) || '—' },
      {
        header: 'Record',
        className: 'table__break',
        cell: (e) => (e.resource_type
          ? [humanise(e.resource_type), e.resource_id ? h('span', { class: 'identifier' }, ` ${e.resource_id}`) : null]
          : '—'),
      },
      {
        header: 'Client',
        className: 'table__break',
        cell: (e) => {
          if (!e.client_id) return '—';
          return canOpenClients
            ? h('a', { href: `#/clients/${encodeURIComponent(e.client_id)}`, class: 'identifier' }, String(e.client_id))
            : h('span', { class: 'identifier' }, String(e.client_id));
        },
      },
      { header: 'Outcome', cell: (e) => outcomeBadge(e.outcome) },
    ],
  });
  return page(
    h('div', { class: 'page-header' },
      heading('Audit'),
      h('p', { class: 'lead' }, 'Recent activity, newest first. Every view of a client record is recorded here.')),
    verifyPanel(ctx),
    table.element);
}

/*
 * "Check the audit trail": the server walks the whole hash chain against its
 * signed checkpoints (GET /audit-events/verify). A broken chain is shown as
 * a warning with the server's reason, so someone can act on it.
 */
function verifyPanel(ctx) {
  const titleId = uid('audit-verify');
  const result = h('div', { class: 'audit-verify__result', role: 'status' });
  const button = h('button', { type: 'button', class: 'button button--secondary' }, 'Check the audit trail');
  button.addEventListener('click', async () => {
    if (button.getAttribute('aria-disabled') === 'true') return;
    button.setAttribute('aria-disabled', 'true');
    button.textContent = 'Checking…';
    result.replaceChildren();
    try {
      const answer = await request('/api/v1/audit-events/verify', { signal: ctx.signal });
      if (!ctx.isCurrent()) return;
      result.replaceChildren(verifyAnswer(answer || {}));
    } catch (failure) {
      if (!ctx.isCurrent() || (failure && failure.name === 'AbortError')) return;
      result.replaceChildren(h('p', { class: 'field__error' },
        `The audit trail could not be checked. ${problemMessage(failure)}`));
    } finally {
      button.removeAttribute('aria-disabled');
      button.textContent = 'Check the audit trail';
    }
  });
  return h('section', { class: 'audit-verify', 'aria-labelledby': titleId },
    h('h2', { id: titleId, class: 'audit-verify__title' }, 'Is the audit trail intact?'),
    h('p', {}, 'Each event is chained to the one before it and the chain is signed at checkpoints, so a changed or removed event shows up here.'),
    h('p', { class: 'button-row' }, button),
    result);
}

function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

function verifyAnswer({ ok, checked, checkpoints, reason }) {
  const counts = `${plural(Number(checked) || 0, 'event', 'events')} checked against ${plural(Number(checkpoints) || 0, 'signed checkpoint', 'signed checkpoints')}.`;
  const message = ok
    ? `The audit trail is intact: ${counts}`
    : `The audit trail does not hold: ${counts}${reason ? ` ${reason}` : ''}`;
  return h('div', { class: ['notice', ok ? 'notice--success' : 'notice--warning'] }, message);
}
