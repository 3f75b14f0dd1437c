// Alerts addressed to the signed-in member of staff (for example PHQ-9 item 9
// answered above 0), kept in step with the server:
//
// - load() fetches the unacknowledged alerts (GET /api/v1/alerts);
// - an `alert.raised` frame over /ws adds one at once;
// - after every (re)connection the list is fetched again, so an alert raised
//   while the socket was down still shows;
// - acknowledge(id, note) records the acknowledgement and drops the alert.
//
// Listeners: on(fn) with detail { what, alert }:
//   what: "list" (the list changed) | "raised" (a new alert arrived live)

import * as api from './api.js';
import * as rt from './realtime.js';
import { sees } from './access.js';

const listeners = new Set();
let store = emptyStore();

function emptyStore() {
  return {
    generation: 0,
    alerts: new Map(), // id → alert (unacknowledged only)
    loaded: false,
    loading: null,
  };
}

export function on(handler) {
  listeners.add(handler);
  return () => listeners.delete(handler);
}

function emit(what, alert = null) {
  for (const handler of [...listeners]) {
    try {
      handler({ what, alert });
    } catch (error) {
      console.error(error); // eslint-disable-line no-console
    }
  }
}

/** Whether the signed-in person receives alerts (staff other than admins). */
export function forMe() {
  const user = api.getUser();
  return Boolean(sees(user, 'alerts') && api.isSignedIn() && !api.isRestricted());
}

/** Forget everything (signing out, or someone else signing in). */
export function reset() {
  const generation = store.generation + 1;
  store = emptyStore();
  store.generation = generation;
  emit('list');
}

export function loaded() {
  return store.loaded;
}

/** Unacknowledged alerts: urgent first, then newest first. */
export function list() {
  return [...store.alerts.values()].sort((a, b) => (Number(Boolean(b.urgent)) - Number(Boolean(a.urgent)))
    || String(b.raised_at || '').localeCompare(String(a.raised_at || '')));
}

export function count() {
  return store.alerts.size;
}

export function urgentCount() {
  let n = 0;
  for (const alert of store.alerts.values()) if (alert.urgent) n += 1;
  return n;
}

/**
 * (Re)load the unacknowledged alerts; concurrent callers share one request.
 * @param {{ signal?: AbortSignal }} [options]
 */
export function load({ signal } = {}) {
  if (!forMe()) return Promise.resolve([]);
  if (store.loading) return store.loading;
  const { generation } = store;
  store.loading = api.request('/api/v1/alerts', { signal })
    .then((items) => {
      if (generation !== store.generation) return [];
      store.alerts = new Map((Array.isArray(items) ? items : [])
        .filter((a) => a && a.id && !a.acknowledged_at)
        .map((a) => [String(a.id), a]));
      store.loaded = true;
      emit('list');
      return list();
    })
    .finally(() => {
      if (generation === store.generation) store.loading = null;
    });
  return store.loading;
}

/**
 * Acknowledged alerts too (newest first), for the "Acknowledged" list.
 * @param {{ signal?: AbortSignal }} [options]
 */
export async function loadAll({ signal } = {}) {
  const items = await api.request('/api/v1/alerts', { query: { include_acknowledged: 'true' }, signal });
  return (Array.isArray(items) ? items : [])
    .sort((a, b) => String(b.raised_at || '').localeCompare(String(a.raised_at || '')));
}

/** Acknowledge an alert, with an optional note of what was done. */
export async function acknowledge(id, note) {
  const text = String(note || '').trim();
  const done = await api.request(`/api/v1/alerts/${encodeURIComponent(id)}/acknowledge`, {
    method: 'POST', body: { note: text || null },
  });
  store.alerts.delete(String(id));
  emit('list');
  return done;
}

rt.on('alert.raised', ({ alert }) => {
  if (!alert || !alert.id || !forMe() || alert.acknowledged_at) return;
  const isNew = !store.alerts.has(String(alert.id));
  store.alerts.set(String(alert.id), alert);
  emit('list');
  if (isNew) emit('raised', alert);
});

rt.on('connected', () => {
  if (forMe()) load().catch(() => {});
});
