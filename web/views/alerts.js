// Alerts for the signed-in member of staff: unacknowledged ones first (urgent
// ones stand out), each acknowledged with a note of what was done. New alerts
// appear live (alert.raised over /ws) and urgent ones are announced.

import * as alerts from '../alerts.js';
import * as rt from '../realtime.js';
import {
  h, heading, page, uid, badge, time, humanise, problemMessage, dataTable, emptyState, formatDateTime,
} from '../ui.js';

const KIND_LABELS = {
  phq9_item9: 'PHQ-9 item 9: thoughts of self-harm',
  first_employer_contact_overdue: 'First employer contact overdue',
  support_review_overdue: 'In-work support review overdue',
  plan_action_overdue: 'Plan action overdue',
  sustainment_check_due: 'Sustainment check due',
};

/** @param {import('../app.js').ViewContext} ctx */
export async function render(ctx) {
  await alerts.load({ signal: ctx.signal });

  const cleanups = [];
  ctx.signal.addEventListener('abort', () => {
    for (const fn of cleanups.splice(0)) fn();
  }, { once: true });

  // Announces alerts that arrive while the page is open.
  const announcer = h('div', { class: 'alerts-announcer', role: 'alert' });
  const status = h('p', { class: 'visually-hidden', role: 'status' });
  const live = h('p', { class: 'alerts__live' });
  const listTitleId = uid('open-alerts');
  const list = h('ul', { class: 'alert-list', 'aria-labelledby': listTitleId });
  const empty = h('p', { class: 'empty-state' }, 'No alerts need your attention.');
  const cards = new Map(); // id → card element (kept so notes being typed survive redraws)
  const fresh = new Set(); // ids that arrived while the page was open

  function drawLive({ status: state } = rt.status()) {
    live.textContent = state === 'open'
      ? 'New alerts appear here as soon as they are raised.'
      : 'Reconnecting… New alerts will appear when the connection is back.';
    live.classList.toggle('alerts__live--off', state !== 'open');
  }

  function card(alert) {
    if (cards.has(alert.id)) return cards.get(alert.id);
    const titleId = uid('alert');
    const noteId = uid('alert-note');
    const client = alert.client_name || 'A client';
    const note = h('textarea', { id: noteId, class: 'input alert-card__note', rows: '2', maxlength: '1000' });
    const error = h('p', { class: 'field__error', role: 'alert' });
    const submit = h('button', { type: 'submit', class: 'button button--small' },
      'Acknowledge', h('span', { class: 'visually-hidden' }, ` the alert about ${client}`));
    const form = h('form', { class: 'alert-card__form' },
      h('div', { class: 'field' },
        h('label', { for: noteId, class: 'field__label' }, 'What you did (optional)'),
        h('p', { class: 'field__hint' }, 'For example: called the client, agreed a safety plan.'),
        note),
      error,
      submit);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (submit.getAttribute('aria-disabled') === 'true') return;
      submit.setAttribute('aria-disabled', 'true');
      error.textContent = '';
      try {
        await alerts.acknowledge(alert.id, note.value);
        if (!ctx.isCurrent()) return;
        cards.delete(alert.id);
        status.textContent = `Alert about ${client} acknowledged.`;
        heading1.focus();
        if (acknowledged.open) loadHistory();
      } catch (failure) {
        if (!ctx.isCurrent()) return;
        error.textContent = problemMessage(failure);
        submit.removeAttribute('aria-disabled');
      }
    });
    const element = h('li', {
      class: ['alert-card', alert.urgent ? 'alert-card--urgent' : null],
      'aria-labelledby': titleId,
    },
    h('div', { class: 'alert-card__head' },
      alert.urgent ? badge('Urgent', 'urgent') : badge('Alert'),
      h('p', { id: titleId, class: 'alert-card__title' },
        // An escalated alert opens no record: its recipient is to find the client a clinician.
        alert.escalated ? client : h('a', { href: `#/clients/${encodeURIComponent(alert.client_id)}` }, client),
        h('span', { class: 'alert-card__kind' }, ` — ${KIND_LABELS[alert.kind] || humanise(alert.kind)}`))),
    h('p', { class: 'alert-card__detail' }, alert.detail),
    h('p', { class: 'alert-card__when' }, 'Raised ', time(alert.raised_at, { withTime: true }),
      alert.kind === 'plan_action_overdue'
        ? [' · ', h('a', { href: `#/clients/${encodeURIComponent(alert.client_id)}/plan` }, 'Open the plan',
          h('span', { class: 'visually-hidden' }, ` for ${client}`))]
        : null),
    form);
    cards.set(alert.id, element);
    return element;
  }

  function draw() {
    const items = alerts.list();
    list.replaceChildren(...items.map((alert) => {
      const el = card(alert);
      el.classList.toggle('alert-card--new', fresh.has(alert.id));
      return el;
    }));
    list.hidden = items.length === 0;
    empty.hidden = items.length > 0;
    count.textContent = items.length ? `(${items.length})` : '';
  }

  const count = h('span', { class: 'alerts__count' });
  const heading1 = heading('Alerts');
  cleanups.push(alerts.on(({ what, alert }) => {
    if (!ctx.isCurrent()) return;
    if (what === 'raised' && alert) {
      fresh.add(alert.id);
      announcer.replaceChildren(h('p', { class: 'alerts-announcer__text' },
        h('strong', {}, alert.urgent ? 'New urgent alert' : 'New alert'),
        `: ${alert.client_name || 'a client'}. ${alert.detail || ''}`));
    }
    draw();
  }));
  cleanups.push(rt.on('status', drawLive));
  drawLive();
  draw();

  const acknowledged = h('details', { class: 'details alerts__history' },
    h('summary', {}, 'Show acknowledged alerts'));
  const history = h('div', {});
  acknowledged.append(history);
  async function loadHistory() {
    if (!history.childElementCount) history.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
    try {
      const all = (await alerts.loadAll({ signal: ctx.signal })).filter((a) => a.acknowledged_at);
      if (!ctx.isCurrent()) return;
      history.replaceChildren(all.length ? dataTable({
        caption: 'Acknowledged alerts',
        captionHidden: true,
        items: all,
        columns: [
          { header: 'Client', rowHeader: true, cell: (a) => a.client_name || '—' },
          { header: 'Alert', cell: (a) => KIND_LABELS[a.kind] || humanise(a.kind) },
          { header: 'Raised', cell: (a) => time(a.raised_at, { withTime: true }) },
          { header: 'Acknowledged', cell: (a) => formatDateTime(a.acknowledged_at) },
          { header: 'Note', className: 'table__wide', cell: (a) => a.acknowledgement_note || '—' },
        ],
      }) : emptyState('You have not acknowledged any alerts yet.'));
    } catch (failure) {
      if (!ctx.isCurrent() || (failure && failure.name === 'AbortError')) return;
      history.replaceChildren(h('p', { class: 'field__error' }, problemMessage(failure)));
    }
  }
  acknowledged.addEventListener('toggle', () => {
    if (acknowledged.open) loadHistory();
  });

  return page(
    h('div', { class: 'page-header' }, heading1,
      h('p', { class: 'lead' }, 'Alerts about the people you support. Acknowledge each one once you have acted on it.')),
    announcer,
    status,
    live,
    h('section', { class: 'section', 'aria-labelledby': listTitleId },
      h('h2', { id: listTitleId }, 'Needing your attention ', count),
      list,
      empty),
    acknowledged,
  );
}
