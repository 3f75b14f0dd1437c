// Administrator: the service's scheduled work (journey alerts, retention, ...): what is
// queued, running or failed, and retrying a failed job.

import { request } from '../api.js';
import {
  h, heading, page, pagedTable, badge, time, humanise, problemMessage,
} from '../ui.js';

const LIMIT = 50;

/** What each kind of job does, in words; an unknown kind is shown by its name. */
const KINDS = {
  'ips.journey_alerts': 'IPS journey alerts',
  'retention.run': 'Retention',
  'wellbeing.check_in_prompts': 'Wellbeing check-in prompts',
  'wellbeing.check_in_prompt': 'A wellbeing check-in prompt',
};

const STATUS_VARIANTS = {
  queued: 'neutral', running: 'outcome-other', done: 'outcome-ok', failed: 'outcome-bad',
};

/**
 * @typedef {object} ScheduledJob
 * @property {string} id
 * @property {string} kind
 * @property {string} status
 * @property {string} run_at
 * @property {number} attempts
 * @property {number} max_attempts
 * @property {string | null} last_error
 * @property {string | null} lease_until
 * @property {string | null} finished_at
 */

/** @param {import('../app.js').ViewContext} ctx */
export async function render(ctx) {
  const said = h('div', { role: 'status', class: 'jobs__said' });
  const load = ({ offset, limit, signal }) => request('/api/v1/admin/jobs', { query: { limit, offset }, signal });
  const initial = await load({ offset: 0, limit: LIMIT, signal: ctx.signal });
  /** @param {ScheduledJob} job */
  function retryButton(job) {
    if (job.status !== 'failed') return '—';
    const label = `Retry ${KINDS[job.kind] || job.kind}`;
    const button = h('button', { type: 'button', class: 'button button--secondary', 'aria-label': label }, 'Retry');
    button.addEventListener('click', async () => {
      if (button.getAttribute('aria-disabled') === 'true') return;
      button.setAttribute('aria-disabled', 'true');
      try {
        await request(`/api/v1/admin/jobs/${encodeURIComponent(job.id)}/retry`, { method: 'POST', signal: ctx.signal });
        if (!ctx.isCurrent()) return;
        said.replaceChildren(h('p', { class: 'notice notice--success' },
          `${KINDS[job.kind] || job.kind} is queued again and will run shortly.`));
        await table.reload(0, { focus: false });
      } catch (failure) {
        if (!ctx.isCurrent() || (failure && failure.name === 'AbortError')) return;
        said.replaceChildren(h('p', { class: 'field__error' }, `The job could not be retried. ${problemMessage(failure)}`));
        button.removeAttribute('aria-disabled');
      }
    });
    return button;
  }

  const table = pagedTable({
    caption: 'Scheduled jobs',
    noun: ['job', 'jobs'],
    emptyText: 'Nothing is waiting, running or failed.',
    initial,
    load,
    limit: LIMIT,
    columns: [
      { header: 'Job', rowHeader: true, cell: (/** @type {ScheduledJob} */ j) => KINDS[j.kind] || j.kind },
      { header: 'Status', cell: (/** @type {ScheduledJob} */ j) => badge(humanise(j.status), STATUS_VARIANTS[j.status] || 'neutral') },
      {
        header: 'Next run',
        cell: (/** @type {ScheduledJob} */ j) => (j.status === 'failed' ? '—' : time(j.run_at, { withTime: true })),
      },
      { header: 'Attempts', cell: (/** @type {ScheduledJob} */ j) => `${j.attempts} of ${j.max_attempts}` },
      { header: 'Last error', className: 'table__break', cell: (/** @type {ScheduledJob} */ j) => j.last_error || '—' },
      { header: 'Action', cell: retryButton },
    ],
  });
  return page(
    h('div', { class: 'page-header' },
      heading('Scheduled jobs'),
      h('p', { class: 'lead' },
        'Work the service does on its own: journey alerts and retention. A failed job is tried again with growing pauses; once it has used its attempts it waits here for you to retry it.')),
    said,
    table.element);
}
