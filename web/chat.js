// Conversations and messages, kept in step with the server over the
// realtime socket.
//
// - Each conversation keeps the highest sequence number applied (lastSeq).
//   Messages are applied in sequence order; anything at or below lastSeq is a
//   duplicate and ignored; a message that arrives after a gap waits while the
//   gap is filled by a `sync`.
// - Sending puts the message in an outbox with a client_msg_id chosen once.
//   It shows as "Sending…" until acknowledged, and after a reconnect it is
//   sent again with the same id, so the server stores it only once.
// - The outboxes are sent in order, one message in flight per conversation
//   (a refused one is then never overtaken by the next), paced to the rate
//   in the ready frame's limits (messages_per_second, bursts of
//   message_burst); a `rate_limited` refusal is sent again after its
//   retry_after_ms. So a full outbox flushing after a reconnect is slowed,
//   never refused or cut off.
// - On every (re)connection each open conversation is synced from its
//   lastSeq until has_more is false, then the outbox is flushed.
//
// Listeners: on('change', fn) with detail { what, id }:
//   what: "conversations" | "thread" | "typing" | "receipts" | "send-error"

import * as api from './api.js';
import * as rt from './realtime.js';

const TYPING_EXPIRES_MS = 6_000; // a typing notice with no follow-up fades
const LIST_REFRESH_DELAY_MS = 250;
const RETRY_TIMEOUT_DELAY_MS = 2_000;

const listeners = new Set();

let store = emptyStore();

function emptyStore() {
  return {
    generation: 0,
    conversations: new Map(), // id → conversation, as GET /conversations returns it
    order: [], // conversation ids, most recently active first
    listLoaded: false,
    listPromise: null,
    listTimer: null,
    threads: new Map(), // id → thread (see newThread)
    names: new Map(), // user_id → display name
    active: null, // the conversation on screen
  };
}

function newThread(id) {
  return {
    id,
    status: 'new', // new | loading | ready | gone | error
    error: null,
    loadPromise: null,
    messages: new Map(), // seq → message
    lastSeq: 0, // highest sequence number applied
    firstSeq: null, // lowest loaded (for scrolling back)
    hasOlder: false,
    early: [], // message.new frames that came while the first page loaded
    held: new Map(), // seq → message that came ahead of a gap
    syncing: null,
    syncAgain: false,
    outbox: [], // { client_msg_id, body, status: sending|failed, error, createdAt, inflight }
    receipts: new Map(), // user_id → last read seq (others only)
    typing: new Map(), // user_id → { name, timer }
    readSent: 0,
  };
}

/* ------------------------------------------------------------- emitter -- */

export function on(type, handler) {
  const entry = { type, handler };
  listeners.add(entry);
  return () => listeners.delete(entry);
}

function emit(what, id = null, extra = {}) {
  for (const { type, handler } of [...listeners]) {
    if (type !== 'change') continue;
    try {
      handler({ what, id, ...extra });
    } catch (error) {
      console.error(error); // eslint-disable-line no-console
    }
  }
}

/* -------------------------------------------------------------- helpers -- */

function me() {
  const user = api.getUser();
  return rt.userId() || (user && user.id) || null;
}

export function myId() {
  return me();
}

function thread(id) {
  let found = store.threads.get(id);
  if (!found) {
    found = newThread(id);
    store.threads.set(id, found);
  }
  return found;
}

export function rememberName(userId, name) {
  if (userId && name) store.names.set(String(userId), String(name));
}

export function nameOf(userId) {
  return store.names.get(String(userId)) || null;
}

function newClientMsgId() {
  if (window.crypto && typeof window.crypto.randomUUID === 'function') return window.crypto.randomUUID();
  const bytes = new Uint8Array(16);
  window.crypto.getRandomValues(bytes);
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

function moveToTop(id) {
  store.order = [id, ...store.order.filter((other) => other !== id)];
}

/* -------------------------------------------------------- conversations -- */

/** Forget everything (signing out, or someone else signing in). */
export function reset() {
  for (const t of store.threads.values()) {
    for (const { timer } of t.typing.values()) clearTimeout(timer);
  }
  clearTimeout(store.listTimer);
  const generation = store.generation + 1;
  store = emptyStore();
  store.generation = generation;
  stopTyping();
  emit('conversations');
}

export function conversations() {
  return store.order.map((id) => store.conversations.get(id)).filter(Boolean);
}

export function conversation(id) {
  return store.conversations.get(id) || null;
}

export function listLoaded() {
  return store.listLoaded;
}

export function totalUnread() {
  let total = 0;
  for (const c of store.conversations.values()) total += Number(c.unread) || 0;
  return total;
}

/**
 * Load (or reload) the conversation list. Shares one request between callers.
 * @param {{ force?: boolean, signal?: AbortSignal }} [options]
 */
export function loadConversations({ force = false, signal } = {}) {
  if (store.listLoaded && !force) return Promise.resolve(conversations());
  if (store.listPromise) return store.listPromise;
  const { generation } = store;
  store.listPromise = api.request('/api/v1/conversations', { query: { limit: 100 }, signal })
    .then((page) => {
      if (generation !== store.generation) return [];
      const items = Array.isArray(page) ? page : (page && page.items) || [];
      store.conversations = new Map(items.map((c) => [c.id, { ...c }]));
      store.order = items.map((c) => c.id);
      store.listLoaded = true;
      for (const c of items) {
        const t = store.threads.get(c.id);
        // The one on screen is being read: keep it read.
        if (t && c.id === store.active && t.lastSeq >= c.last_seq) store.conversations.get(c.id).unread = 0;
      }
      emit('conversations');
      return conversations();
    })
    .finally(() => {
      store.listPromise = null;
    });
  return store.listPromise;
}

function refreshListSoon() {
  clearTimeout(store.listTimer);
  store.listTimer = setTimeout(() => {
    loadConversations({ force: true }).catch(() => {});
  }, LIST_REFRESH_DELAY_MS);
}

export function upsertConversation(c) {
  const had = store.conversations.get(c.id);
  store.conversations.set(c.id, { ...(had || {}), ...c });
  if (!had) store.order = [c.id, ...store.order];
  emit('conversations');
  return store.conversations.get(c.id);
}

/**
 * Open (or find) a conversation:
 *   { kind: 'team', team_id } | { kind: 'direct', user_id } |
 *   { kind: 'case', client_id, includes_client }
 */
export async function openConversation(body) {
  const c = await api.request('/api/v1/conversations', { method: 'POST', body });
  return upsertConversation(c);
}

/**
 * One conversation, from the list or the server (404/403 throw ApiError).
 * @param {string} id
 * @param {{ signal?: AbortSignal }} [options]
 */
export async function fetchConversation(id, { signal } = {}) {
  if (store.conversations.has(id)) return store.conversations.get(id);
  const c = await api.request(`/api/v1/conversations/${encodeURIComponent(id)}`, { signal });
  return upsertConversation(c);
}

/* -------------------------------------------------------------- threads -- */

export function threadState(id) {
  const t = store.threads.get(id);
  if (!t) return { status: 'new', messages: [], outbox: [], hasOlder: false, receipts: new Map(), typing: [] };
  return {
    status: t.status,
    error: t.error,
    messages: [...t.messages.values()].sort((a, b) => a.seq - b.seq),
    outbox: t.outbox.map((entry) => ({ ...entry })),
    hasOlder: t.hasOlder,
    lastSeq: t.lastSeq,
    receipts: new Map(t.receipts),
    typing: [...t.typing.entries()].map(([userId, { name }]) => ({ userId, name })),
  };
}

/**
 * Load the latest page of a conversation (once; later changes arrive live).
 * @param {string} id
 * @param {{ signal?: AbortSignal }} [options]
 */
export function loadThread(id, { signal } = {}) {
  const t = thread(id);
  if (t.status === 'ready') return Promise.resolve();
  if (t.loadPromise) return t.loadPromise;
  t.status = 'loading';
  t.error = null;
  const { generation } = store;
  t.loadPromise = api.request(`/api/v1/conversations/${encodeURIComponent(id)}/messages`, { signal })
    .then((page) => {
      if (generation !== store.generation) return;
      const messages = (page && page.messages) || [];
      if (messages.length) {
        const lowest = Math.min(...messages.map((m) => m.seq));
        // Start just below this page, so it applies in order.
        t.lastSeq = Math.max(t.lastSeq, lowest - 1);
        t.firstSeq = lowest;
      } else {
        t.lastSeq = Math.max(t.lastSeq, Number(page && page.last_seq) || 0);
      }
      t.hasOlder = Boolean(page && page.has_more);
      t.status = 'ready';
      applyMessages(t, messages);
      applyMessages(t, t.early.splice(0));
      noteLastSeq(id, Number(page && page.last_seq) || 0);
      emit('thread', id);
      // Anything stored after the page was read arrives by sync.
      const c = store.conversations.get(id);
      if (c && c.last_seq > t.lastSeq) syncThread(t);
      markRead(id);
    })
    .catch((error) => {
      if (generation !== store.generation) return;
      t.status = error && error.name === 'AbortError' ? 'new' : 'error';
      t.error = error;
      emit('thread', id);
      throw error;
    })
    .finally(() => {
      t.loadPromise = null;
    });
  return t.loadPromise;
}

/** Scroll back: the page before the oldest loaded message. */
export async function loadOlder(id) {
  const t = thread(id);
  if (t.status !== 'ready' || !t.hasOlder || !t.firstSeq) return;
  const { generation } = store;
  const page = await api.request(`/api/v1/conversations/${encodeURIComponent(id)}/messages`, {
    query: { before_seq: t.firstSeq },
  });
  if (generation !== store.generation) return;
  for (const m of (page && page.messages) || []) {
    rememberName(m.sender_id, m.sender_name);
    if (m.seq < t.firstSeq || !t.messages.has(m.seq)) t.messages.set(m.seq, m);
    t.firstSeq = Math.min(t.firstSeq, m.seq);
  }
  t.hasOlder = Boolean(page && page.has_more);
  emit('thread', id);
}

/**
 * Apply messages to a loaded thread in sequence order. Returns whether the
 * thread changed. A gap starts a sync; what is past the gap waits for it.
 */
function applyMessages(t, messages) {
  let changed = false;
  const mine = me();
  for (const m of [...messages].sort((a, b) => a.seq - b.seq)) {
    if (!m || !Number.isInteger(m.seq)) continue;
    rememberName(m.sender_id, m.sender_name);
    if (m.sender_id === mine && settleOutbox(t, m.client_msg_id)) changed = true;
    if (m.seq <= t.lastSeq) {
      // Already applied. A later copy may carry an edit or deletion we missed.
      const have = t.messages.get(m.seq);
      if (have && (have.edited_at !== m.edited_at || have.deleted !== m.deleted)) {
        t.messages.set(m.seq, m);
        changed = true;
      }
      continue;
    }
    t.held.set(m.seq, m);
  }
  while (t.held.has(t.lastSeq + 1)) {
    const next = t.held.get(t.lastSeq + 1);
    t.held.delete(next.seq);
    t.messages.set(next.seq, next);
    t.lastSeq = next.seq;
    if (t.firstSeq === null) t.firstSeq = next.seq;
    changed = true;
  }
  for (const seq of t.held.keys()) if (seq <= t.lastSeq) t.held.delete(seq);
  if (t.held.size) syncThread(t);
  return changed;
}

/** Remove an outbox entry once the server has the message. */
function settleOutbox(t, clientMsgId) {
  const index = t.outbox.findIndex((entry) => entry.client_msg_id === clientMsgId);
  if (index === -1) return false;
  t.outbox.splice(index, 1);
  return true;
}

function noteLastSeq(id, seq) {
  const c = store.conversations.get(id);
  if (c && seq > (c.last_seq || 0)) c.last_seq = seq;
}

/** Fetch everything after lastSeq, a page at a time, until has_more is false. */
function syncThread(t) {
  if (t.status !== 'ready') return Promise.resolve();
  if (t.syncing) {
    t.syncAgain = true;
    return t.syncing;
  }
  const { generation } = store;
  t.syncing = (async () => {
    do {
      t.syncAgain = false;
      let more = true;
      while (more && rt.isOpen() && generation === store.generation) {
        const before = t.lastSeq;
        const page = await rt.request({ type: 'sync', conversation_id: t.id, after_seq: t.lastSeq });
        if (generation !== store.generation) return;
        if (applyMessages(t, page.messages || [])) emit('thread', t.id);
        noteLastSeq(t.id, Number(page.last_seq) || 0);
        more = Boolean(page.has_more) && t.lastSeq > before;
      }
    } while (t.syncAgain && rt.isOpen());
  })()
    .catch((error) => {
      if (error && (error.code === 'not_a_member' || error.code === 'not_found' || error.code === 'forbidden')) {
        t.status = 'gone';
        t.error = error;
        emit('thread', t.id);
        refreshListSoon();
      }
      // "disconnected": the next connection syncs again.
    })
    .finally(() => {
      t.syncing = null;
      markRead(t.id);
    });
  return t.syncing;
}

/* -------------------------------------------------------------- sending -- */

/** Queue a message; it is sent now if connected, else after reconnecting. */
export function sendMessage(id, body) {
  const t = thread(id);
  const entry = {
    client_msg_id: newClientMsgId(),
    body,
    status: 'sending',
    error: null,
    createdAt: new Date().toISOString(),
    inflight: false,
  };
  t.outbox.push(entry);
  emit('thread', id);
  pump();
  return entry.client_msg_id;
}

/** Send a failed message again (same client_msg_id). */
export function retry(id, clientMsgId) {
  const t = thread(id);
  const entry = t.outbox.find((e) => e.client_msg_id === clientMsgId);
  if (!entry) return;
  entry.status = 'sending';
  entry.error = null;
  emit('thread', id);
  pump();
}

/** Drop a message that was not sent. */
export function discard(id, clientMsgId) {
  const t = thread(id);
  if (settleOutbox(t, clientMsgId)) emit('thread', id);
}

/**
 * The pace of sending: a token bucket of the server's per-person rate
 * (ready.limits), kept across reconnects as the server keeps its own, and a
 * hold until a rate_limited refusal's retry_after_ms has passed.
 */
const pace = { tokens: null, updated: 0, heldUntil: 0, timer: null };

/** Take a send from the bucket, or say how many ms until one is there. */
function takeSend() {
  const { messages_per_second: rate, message_burst: burst } = rt.limits();
  const now = Date.now();
  if (now < pace.heldUntil) return pace.heldUntil - now;
  if (!(rate > 0) || !(burst >= 1)) return 0; // no limits known: not paced
  if (pace.tokens === null) pace.tokens = burst;
  pace.tokens = Math.min(burst, pace.tokens + ((now - pace.updated) / 1000) * rate);
  pace.updated = now;
  if (pace.tokens >= 1) {
    pace.tokens -= 1;
    return 0;
  }
  return Math.ceil(((1 - pace.tokens) / rate) * 1000);
}

function pumpLater(ms) {
  if (pace.timer) return;
  pace.timer = setTimeout(() => {
    pace.timer = null;
    pump();
  }, ms);
}

/** Send the next message of each conversation whose outbox has none in flight. */
function pump() {
  if (!rt.isOpen()) return; // resent on reconnecting
  for (const t of store.threads.values()) {
    if (t.outbox.some((entry) => entry.inflight)) continue;
    const entry = t.outbox.find((e) => e.status === 'sending');
    if (!entry) continue;
    const wait = takeSend();
    if (wait > 0) {
      pumpLater(wait);
      return;
    }
    dispatch(t, entry);
  }
}

async function dispatch(t, entry) {
  if (entry.inflight || entry.status !== 'sending' || !rt.isOpen()) return;
  entry.inflight = true;
  const { generation } = store;
  try {
    const ack = await rt.request({
      type: 'message.send',
      conversation_id: t.id,
      client_msg_id: entry.client_msg_id,
      body: entry.body,
    });
    if (generation !== store.generation) return;
    entry.inflight = false;
    const { message } = ack;
    if (message) {
      // Make sure it is settled even if it was already applied by a sync.
      settleOutbox(t, entry.client_msg_id);
      if (t.status === 'ready') applyMessages(t, [message]);
      noteLastSeq(t.id, message.seq);
      moveToTop(t.id);
      emit('conversations');
    }
    emit('thread', t.id);
    markRead(t.id);
    pump();
  } catch (error) {
    entry.inflight = false;
    if (generation !== store.generation) return;
    if (error.code === 'disconnected') return; // resent on reconnecting
    if (error.code === 'rate_limited') {
      // Slowed, not refused: still "Sending…", sent again when the server said.
      const after = Number(error.retryAfterMs) > 0 ? Number(error.retryAfterMs) : 1_000;
      pace.tokens = 0;
      pace.updated = Date.now();
      pace.heldUntil = Math.max(pace.heldUntil, Date.now() + after);
      pumpLater(after);
      return;
    }
    if (error.code === 'timeout') {
      setTimeout(pump, RETRY_TIMEOUT_DELAY_MS); // in its turn, paced like the rest
      return;
    }
    entry.status = 'failed';
    entry.error = { code: error.code, message: error.message };
    emit('thread', t.id);
    emit('send-error', t.id, { code: error.code, message: error.message, clientMsgId: entry.client_msg_id });
    pump();
  }
}

function flushOutboxes() {
  pump();
}

/* ----------------------------------------------------------- read, typing -- */

/** The conversation on screen (null when none): it is marked read while in view. */
export function setActive(id) {
  store.active = id;
  if (id) markRead(id);
}

function canSeeActive(id) {
  return id && id === store.active && document.visibilityState === 'visible' && document.hasFocus();
}

/** Tell the server how far this person has read, if the conversation is in view. */
export function markRead(id) {
  const t = store.threads.get(id);
  if (!t || t.status !== 'ready' || !canSeeActive(id)) return;
  const c = store.conversations.get(id);
  if (c && c.unread) {
    c.unread = 0;
    c.last_read_seq = Math.max(c.last_read_seq || 0, t.lastSeq);
    emit('conversations');
  }
  if (t.lastSeq > t.readSent && rt.send({ type: 'read', conversation_id: id, seq: t.lastSeq })) {
    t.readSent = t.lastSeq;
  }
}

const typingOut = { id: null, lastSent: 0, idleTimer: null };

/**
 * The person typed in a conversation's composer. Sends "typing" at most
 * once every 2 s, and "stopped" after 4 s without typing.
 */
export function noteTyping(id) {
  if (typingOut.id && typingOut.id !== id) stopTyping();
  const now = Date.now();
  if (typingOut.id !== id || now - typingOut.lastSent >= 2_000) {
    if (rt.send({ type: 'typing', conversation_id: id, active: true })) {
      typingOut.id = id;
      typingOut.lastSent = now;
    }
  }
  clearTimeout(typingOut.idleTimer);
  typingOut.idleTimer = setTimeout(stopTyping, 4_000);
}

/** Say we stopped typing (sent, cleared, left the conversation). */
export function stopTyping() {
  clearTimeout(typingOut.idleTimer);
  typingOut.idleTimer = null;
  if (typingOut.id) rt.send({ type: 'typing', conversation_id: typingOut.id, active: false });
  typingOut.id = null;
  typingOut.lastSent = 0;
}

/* ------------------------------------------------------- server events -- */

rt.on('connected', () => {
  if (rt.isGuest()) return; // a guest in a session has no conversations
  // Catch up every open conversation, then send what is waiting.
  for (const t of store.threads.values()) {
    if (t.status === 'ready') syncThread(t);
  }
  flushOutboxes();
  // Unread counts for the header, and whatever changed while disconnected.
  if (store.listLoaded) refreshListSoon();
  else loadConversations().catch(() => {});
  if (store.active) markRead(store.active);
});

rt.on('message.new', ({ message }) => {
  if (!message || !message.conversation_id) return;
  const id = message.conversation_id;
  rememberName(message.sender_id, message.sender_name);
  const c = store.conversations.get(id);
  if (c) {
    const fresh = message.seq > (c.last_seq || 0);
    noteLastSeq(id, message.seq);
    if (fresh && message.sender_id !== me() && !message.deleted && message.seq > (c.last_read_seq || 0)) {
      c.unread = (Number(c.unread) || 0) + 1;
    }
    moveToTop(id);
  } else if (store.listLoaded) {
    refreshListSoon(); // a conversation someone else just started
  }
  const t = store.threads.get(id);
  if (t) {
    const typist = t.typing.get(message.sender_id);
    if (typist) {
      clearTimeout(typist.timer);
      t.typing.delete(message.sender_id);
      emit('typing', id);
    }
    if (t.status === 'loading') t.early.push(message);
    else if (t.status === 'ready' && applyMessages(t, [message])) emit('thread', id);
  }
  emit('conversations');
  markRead(id);
});

rt.on('message.updated', ({ message }) => {
  if (!message) return;
  const t = store.threads.get(message.conversation_id);
  if (t && t.messages.has(message.seq)) {
    t.messages.set(message.seq, message);
    emit('thread', t.id);
  }
});

rt.on('receipt', ({ conversation_id: id, user_id: userId, seq }) => {
  if (!id || !userId) return;
  if (userId === me()) {
    // Read on another of my devices.
    const c = store.conversations.get(id);
    if (c) {
      c.last_read_seq = Math.max(c.last_read_seq || 0, seq);
      if (seq >= (c.last_seq || 0)) c.unread = 0;
      emit('conversations');
    }
    return;
  }
  const t = thread(id);
  if (seq > (t.receipts.get(userId) || 0)) {
    t.receipts.set(userId, seq);
    emit('receipts', id);
  }
});

rt.on('typing', ({ conversation_id: id, user_id: userId, name, active }) => {
  if (!id || !userId || userId === me()) return;
  rememberName(userId, name);
  const t = thread(id);
  const had = t.typing.get(userId);
  if (had) clearTimeout(had.timer);
  if (active) {
    const timer = setTimeout(() => {
      t.typing.delete(userId);
      emit('typing', id);
    }, TYPING_EXPIRES_MS);
    t.typing.set(userId, { name: name || nameOf(userId) || 'Someone', timer });
  } else {
    t.typing.delete(userId);
  }
  emit('typing', id);
});

window.addEventListener('focus', () => store.active && markRead(store.active));
document.addEventListener('visibilitychange', () => {
  if (store.active) markRead(store.active);
  if (document.visibilityState === 'hidden') stopTyping();
});
