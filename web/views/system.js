// Administrator: how the service itself is running (GET /api/v1/admin/system): its version,
// the database's migrations, the database and Redis, scheduled jobs, the audit trail's last
// check and how old the keys are. Each part carries a status in words as well as colour, so it
// reads the same without colour; the page never shows a secret, only ids and ages.

import { request } from '../api.js';
import {
  h, heading, page, badge, time, section, summaryRow, problemMessage,
} from '../ui.js';

/** The words and badge colour of each status the server gives. */
const HEALTH = {
  ok: { text: 'OK', variant: 'outcome-ok' },
  warning: { text: 'Needs attention', variant: 'caseload-warning' },
  down: { text: 'Down', variant: 'outcome-bad' },
  not_used: { text: 'Not used', variant: 'neutral' },
};

/** @param {string} status */
function healthBadge(status) {
  const found = HEALTH[status] || { text: status, variant: 'neutral' };
  return badge(found.text, found.variant);
}

/** @param {number | null} seconds */
function duration(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  if (seconds < 120) return `${seconds} seconds`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} minutes`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} hours`;
  return `${Math.round(seconds / 86400)} days`;
}

/** @param {number | null} days */
function days(days) {
  if (days === null || days === undefined) return 'not known';
  return days === 1 ? '1 day' : `${days} days`;
}

/** @param {number | null} ms */
function millis(ms) {
  return ms === null || ms === undefined ? '—' : `${ms} ms`;
}

/**
 * A section with its status badge beside its title and a list of what it found.
 * @param {string} title
 * @param {string} status
 * @param {Array<[string, any]>} rows
 * @param {...any} more
 */
function part(title, status, rows, ...more) {
  return section(title,
    h('p', { class: 'system__status' }, 'Status: ', healthBadge(status)),
    h('dl', { class: 'summary-list' }, rows.map(([term, value]) => summaryRow(term, value))),
    ...more);
}

const ENCRYPTIONS = {
  age: 'to the backup recipients’ public keys',
  passphrase: 'with the backup passphrase',
  none: 'NOT encrypted: the archive holds the keys to the messages',
};

/**
 * @param {any} b the report's `backups`
 * @returns {Array<[string, any]>}
 */
function backupRows(b) {
  if (!b.last_backup_at) {
    return [['Last backup', 'None recorded: take one with "teamwell backup" (docs/operations.md, Backups).']];
  }
  return [
    ['Last backup', time(b.last_backup_at, { withTime: true })],
    ['Encrypted', ENCRYPTIONS[b.encryption] || 'not known'],
    ['Expected', `at least every ${b.warn_after_hours} hours`],
  ];
}

const KEY_NAMES = {
  message_keys: 'Message and document keys',
  turn_secret: 'TURN secret (meeting relay)',
};

const KEY_SOURCES = {
  file: 'generated, in the data directory',
  environment: 'given in the settings',
  none: 'no TURN server is configured',
};

/** @param {any} report */
function sections(report) {
  const m = report.migrations;
  const migrationNote = m.ahead
    ? 'The database was migrated by a newer release than this one.'
    : (m.pending.length ? `Run "teamwell migrate": ${m.pending.length} to apply.` : 'Up to date.');
  const j = report.jobs;
  const a = report.audit_chain;
  let verified = 'Never checked.';
  if (a.last_verified_at) {
    verified = h('span', {}, a.last_verified_intact ? 'Intact, ' : 'Broken, ', time(a.last_verified_at, { withTime: true }));
  }
  return [
    part('Version', 'ok', [
      ['Version', report.version.version],
      ['Build', report.version.build_id || '—'],
    ]),
    part('Database', report.database.status, [
      ['Engine', report.database.engine === 'sqlite' ? 'SQLite' : 'PostgreSQL'],
      ['Round trip', millis(report.database.round_trip_ms)],
    ]),
    part('Migrations', m.status, [
      ['Database at', m.current || 'none'],
      ['Latest', m.head || 'none'],
      ['Pending', m.pending.length ? m.pending.join(', ') : 'none'],
      ['In short', migrationNote],
    ]),
    part('Redis', report.redis.status, [
      ['Reachable', { ok: 'Yes', down: 'No', not_used: 'Not used: one process, events handled in it' }[report.redis.status] || report.redis.status],
      ['Round trip', millis(report.redis.round_trip_ms)],
    ]),
    part('Scheduled jobs', j.status, [
      ['Due now', String(j.due)],
      ['Running', String(j.running)],
      ['Failed', String(j.failed)],
      ['Oldest due for', duration(j.oldest_due_seconds)],
    ], h('p', {}, h('a', { href: '#/jobs' }, 'See and retry jobs'))),
    part('Audit trail', a.status, [
      ['Last checked', verified],
      ['Last signed checkpoint', a.last_checkpoint_at
        ? h('span', {}, time(a.last_checkpoint_at, { withTime: true }), `, ${a.last_checkpoint_events} events`)
        : 'none yet'],
    ], h('p', {}, h('a', { href: '#/audit' }, 'Check the audit trail now'))),
    part('Backups', report.backups.status, backupRows(report.backups)),
    section('Keys and secrets',
      h('p', { class: 'section__intro' }, 'How long each has been in use; never the key itself.'),
      h('dl', { class: 'summary-list' }, report.keys.map((/** @type {any} */ key) => summaryRow(
        KEY_NAMES[key.name] || key.name,
        h('span', {},
          healthBadge(key.status), ' ',
          key.status === 'not_used'
            ? KEY_SOURCES.none
            : `${key.key_id ? `key ${key.key_id}, ` : ''}${KEY_SOURCES[key.source] || key.source}, age ${days(key.age_days)} (rotate after ${key.warn_after_days} days)`),
      )))),
  ];
}

/** @param {import('../app.js').ViewContext} ctx */
export async function render(ctx) {
  const said = h('div', { role: 'status', class: 'system__said' });
  const overall = h('div', { class: 'system__overall' });
  const body = h('div', { class: 'system__parts' });
  /** @param {any} report */
  function show(report) {
    overall.replaceChildren(
      h('p', {}, 'Overall: ', healthBadge(report.status), ' checked ', time(report.checked_at, { withTime: true })));
    body.replaceChildren(...sections(report));
  }
  show(await request('/api/v1/admin/system', { signal: ctx.signal }));

  const refresh = h('button', { type: 'button', class: 'button button--secondary' }, 'Refresh');
  refresh.addEventListener('click', async () => {
    if (refresh.getAttribute('aria-disabled') === 'true') return;
    refresh.setAttribute('aria-disabled', 'true');
    said.replaceChildren();
    try {
      const report = await request('/api/v1/admin/system', { signal: ctx.signal });
      if (!ctx.isCurrent()) return;
      show(report);
      said.replaceChildren(h('p', { class: 'notice notice--success' }, 'Checked again just now.'));
    } catch (failure) {
      if (!ctx.isCurrent() || (failure && failure.name === 'AbortError')) return;
      said.replaceChildren(h('p', { class: 'field__error' }, `The service could not be checked. ${problemMessage(failure)}`));
    } finally {
      refresh.removeAttribute('aria-disabled');
    }
  });
  return page(
    h('div', { class: 'page-header' },
      heading('System'),
      h('p', { class: 'lead' },
        'How the service is running: its version, the database and its migrations, Redis, scheduled jobs, the audit trail and the age of its keys.')),
    overall,
    h('p', { class: 'button-row' }, refresh),
    said,
    body);
}
