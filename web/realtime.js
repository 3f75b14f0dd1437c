// The realtime connection to /ws: one socket per signed-in tab.
//
// - The access token travels in the WebSocket subprotocol list
//   ("bearer.<token>"), never in the URL.
// - A ping goes every `heartbeat_seconds`; a socket that stops answering is
//   closed and reopened.
// - The token is renewed (through api.js) before `expires_at` and whenever
//   the server says `auth.expired`, then sent in an `auth` frame.
// - After an unexpected close the socket reconnects with exponential backoff
//   and jitter. Close codes 1001 and 4000 mean "reconnect and resume";
//   4401 means "renew the token, then reconnect"; 4403 ends the session.
// - Listeners subscribe with on(type, fn) → unsubscribe. Types are the
//   server's frame types ("message.new", "presence", …) plus:
//     "status"    { status, detail }   connection state changed
//     "connected" { resumed }          ready received (resumed: a reconnection)
//     "presences" {}                   the presence map changed
//     "self"      { state }            this device's own status changed

import * as api from './api.js';

const SUBPROTOCOL = 'teamwell.v1';
const ACTIVITY_INTERVAL_MS = 30_000;
const RENEW_BEFORE_S = 60;
const BACKOFF_BASE_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;
const REQUEST_TIMEOUT_MS = 20_000;

export const PRESENCE_STATES = ['online', 'away', 'busy', 'in_session'];
export const PRESENCE_LABELS = {
  online: 'Online',
  away: 'Away',
  busy: 'Busy',
  in_session: 'In a session',
  offline: 'Offline',
};

/** Close codes, as in realtime/protocol.py. */
const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  resume: 4000,
  protocolAbuse: 4400,
  unauthenticated: 4401,
  sessionEnded: 4403,
  timeout: 4408,
  tooManyConnections: 4409,
};

const listeners = new Map();

const conn = {
  socket: null,
  wanted: false, // whether we should be connected (signed in)
  status: 'idle', // idle | connecting | open | reconnecting | offline | stopped
  detail: '',
  userId: null,
  ready: null, // the last ready frame
  attempts: 0,
  reconnectTimer: null,
  heartbeatTimer: null,
  renewTimer: null,
  awaitingPong: false,
  lastActivitySent: 0,
  requestCounter: 0,
  pending: new Map(), // request id → { resolve, reject, timer }
};

// A guest's credential (docs/realtime.md, "A guest's socket"), used instead of the
// signed-in person's token: no presence, no renewal (a guest renews by a new link).
let guestToken = null;

const presences = new Map(); // user_id → { state, last_seen }
let selfState = 'online'; // what this device reports
let chosenState = 'online'; // what the person picked (re-applied after reconnecting)

/* ------------------------------------------------------------- emitter -- */

/** Subscribe to an event; returns a function that unsubscribes. */
export function on(type, handler) {
  if (!listeners.has(type)) listeners.set(type, new Set());
  listeners.get(type).add(handler);
  return () => listeners.get(type)?.delete(handler);
}

function emit(type, detail) {
  for (const handler of [...(listeners.get(type) || [])]) {
    try {
      handler(detail);
    } catch (error) {
      console.error(error); // eslint-disable-line no-console
    }
  }
}

function setStatus(status, detail = '') {
  if (conn.status === status && conn.detail === detail) return;
  conn.status = status;
  conn.detail = detail;
  emit('status', { status, detail });
}

/* -------------------------------------------------------------- public -- */

export function status() {
  return { status: conn.status, detail: conn.detail };
}

export function isOpen() {
  return conn.status === 'open';
}

/** The signed-in person's user id as the gateway knows it. */
export function userId() {
  return conn.userId;
}

/** Whether this socket is a guest's (a guest link), not a signed-in person's. */
export function isGuest() {
  return Boolean(guestToken);
}

/** The server's limits from the ready frame ({} before the first one). */
export function limits() {
  return (conn.ready && conn.ready.limits) || {};
}

export function presenceOf(id) {
  if (id && id === conn.userId) return { state: selfState, last_seen: null };
  return presences.get(id) || { state: 'offline', last_seen: null };
}

export function presenceLabel(state) {
  return PRESENCE_LABELS[state] || PRESENCE_LABELS.offline;
}

/** The user ids whose presence we may see (from the snapshot and updates). */
export function knownPresenceIds() {
  return [...presences.keys()];
}

export function ownState() {
  return selfState;
}

/** Open the socket (no-op when already open or opening). */
export function connect() {
  conn.wanted = true;
  if (conn.socket || conn.reconnectTimer) return;
  conn.attempts = 0;
  open();
}

/**
 * Open the socket as a guest with the credential from a guest link
 * (POST /api/v1/guest-links/{token}/join): only the meeting's frames work.
 * @param {string} credential
 */
export function connectAsGuest(credential) {
  if (guestToken !== credential) {
    disconnect();
    guestToken = credential;
  }
  connect();
}

/** Close the socket and stop reconnecting (signing out). */
export function disconnect() {
  conn.wanted = false;
  guestToken = null;
  clearTimeout(conn.reconnectTimer);
  conn.reconnectTimer = null;
  const { socket } = conn;
  teardown();
  if (socket) {
    try {
      socket.close(CLOSE.normal, 'signed out');
    } catch {
      // Already closing.
    }
  }
  presences.clear();
  selfState = 'online';
  chosenState = 'online';
  conn.userId = null;
  conn.ready = null;
  setStatus('idle');
  emit('presences', {});
}

/** Try again now (the "Reconnect" button after giving up). */
export function reconnectNow() {
  if (!conn.wanted) return;
  clearTimeout(conn.reconnectTimer);
  conn.reconnectTimer = null;
  if (!conn.socket) {
    conn.attempts = 0;
    open();
  }
}

/** Send a frame with no reply expected. Returns false when not connected. */
export function send(frame) {
  if (!conn.socket || conn.socket.readyState !== WebSocket.OPEN || conn.status !== 'open') return false;
  conn.socket.send(JSON.stringify(frame));
  return true;
}

export function nextId(prefix = 'r') {
  conn.requestCounter += 1;
  return `${prefix}${conn.requestCounter}`;
}

/**
 * Send a request frame and resolve with the reply that echoes its id.
 * Rejects with a RealtimeError: the server's { code, message }, or
 * code "disconnected" when the socket went away first.
 */
export function request(frame) {
  const id = frame.id || nextId();
  return new Promise((resolve, reject) => {
    if (!send({ ...frame, id })) {
      reject(new RealtimeError('disconnected', 'Not connected.'));
      return;
    }
    const timer = setTimeout(() => {
      conn.pending.delete(id);
      reject(new RealtimeError('timeout', 'No reply from Teamwell.'));
    }, REQUEST_TIMEOUT_MS);
    conn.pending.set(id, { resolve, reject, timer });
  });
}

export class RealtimeError extends Error {
  constructor(code, message, retryAfterMs = null) {
    super(message || code);
    this.name = 'RealtimeError';
    this.code = code;
    // With rate_limited: how long until the same frame would be accepted.
    this.retryAfterMs = retryAfterMs;
  }
}

/** Choose this device's status (from the status menu). */
export async function setPresence(state) {
  if (!PRESENCE_STATES.includes(state)) return;
  chosenState = state;
  const previous = selfState;
  selfState = state;
  emit('self', { state });
  if (!isOpen()) return; // applied when the socket (re)opens
  try {
    await request({ type: 'presence.set', state });
  } catch (error) {
    if (error.code !== 'disconnected') {
      selfState = previous;
      emit('self', { state: previous });
      throw error;
    }
  }
}

/** Note that the person did something: at most one frame every 30 s. */
export function noteActivity() {
  if (!isOpen()) return;
  const now = Date.now();
  if (now - conn.lastActivitySent < ACTIVITY_INTERVAL_MS) return;
  // The server turns an away device online on activity. Someone who chose
  // "Away" themselves stays away until they choose otherwise.
  if (chosenState === 'away') return;
  conn.lastActivitySent = now;
  send({ type: 'activity' });
}

/* ------------------------------------------------------------ internals -- */

function socketUrl() {
  return `${window.location.origin.replace(/^http/, 'ws')}/ws`;
}

function open() {
  const token = guestToken || api.accessToken();
  if (!token) {
    // No token yet (a reload restoring the session): renew, then open.
    renewThenReconnect();
    return;
  }
  setStatus(conn.attempts ? 'reconnecting' : 'connecting');
  let socket;
  try {
    socket = new WebSocket(socketUrl(), [SUBPROTOCOL, `bearer.${token}`]);
  } catch {
    scheduleReconnect();
    return;
  }
  conn.socket = socket;
  socket.addEventListener('message', (event) => {
    if (conn.socket !== socket) return;
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    if (frame && typeof frame.type === 'string') handleFrame(frame);
  });
  socket.addEventListener('close', (event) => {
    if (conn.socket !== socket) return;
    teardown();
    handleClose(event.code);
  });
  // "error" is always followed by "close", which does the work.
}

/** Forget the current socket and everything tied to it. */
function teardown() {
  conn.socket = null;
  clearInterval(conn.heartbeatTimer);
  clearTimeout(conn.renewTimer);
  conn.heartbeatTimer = null;
  conn.renewTimer = null;
  conn.awaitingPong = false;
  for (const { reject, timer } of conn.pending.values()) {
    clearTimeout(timer);
    reject(new RealtimeError('disconnected', 'The connection was lost.'));
  }
  conn.pending.clear();
}

function handleClose(code) {
  if (!conn.wanted) {
    setStatus('idle');
    return;
  }
  if (code === CLOSE.sessionEnded) {
    conn.wanted = false;
    setStatus('stopped', 'Your session has ended.');
    api.endSession();
    return;
  }
  if (code === CLOSE.unauthenticated && guestToken) {
    conn.wanted = false;
    setStatus('stopped', 'Your link has expired or was withdrawn.');
    return;
  }
  if (code === CLOSE.unauthenticated) {
    renewThenReconnect();
    return;
  }
  if (code === CLOSE.tooManyConnections) {
    setStatus('stopped', 'Teamwell is open in too many windows. Close some, then reconnect.');
    return;
  }
  scheduleReconnect();
}

async function renewThenReconnect() {
  setStatus('reconnecting');
  let token;
  try {
    token = await api.renewAccessToken();
  } catch {
    // Could not reach the service: try again later.
    scheduleReconnect();
    return;
  }
  if (!token) {
    // The session was refused; api.js has ended it and app.js disconnects us.
    conn.wanted = false;
    setStatus('idle');
    return;
  }
  // Straight away the first time; with backoff if the server keeps refusing.
  if (conn.wanted && !conn.socket) scheduleReconnect({ immediate: conn.attempts === 0 });
}

function scheduleReconnect({ immediate = false } = {}) {
  if (!conn.wanted || conn.reconnectTimer) return;
  if (!navigator.onLine) {
    setStatus('offline');
    return; // the "online" event reconnects
  }
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** conn.attempts);
  // "Equal jitter": half fixed, half random, so clients spread out but never retry at once.
  const delay = immediate ? 0 : ceiling / 2 + Math.random() * (ceiling / 2);
  conn.attempts += 1;
  setStatus('reconnecting');
  conn.reconnectTimer = setTimeout(() => {
    conn.reconnectTimer = null;
    if (conn.wanted && !conn.socket) open();
  }, delay);
}

function handleFrame(frame) {
  switch (frame.type) {
    case 'ready':
      onReady(frame);
      break;
    case 'presence.snapshot':
      presences.clear();
      for (const p of frame.presences || []) {
        if (p && p.user_id) presences.set(p.user_id, { state: p.state, last_seen: p.last_seen });
      }
      emit('presences', {});
      break;
    case 'presence':
      if (frame.user_id === conn.userId) {
        // All my devices together; keep showing what this device chose.
      } else if (frame.user_id) {
        presences.set(frame.user_id, { state: frame.state, last_seen: frame.last_seen });
        emit('presences', {});
      }
      break;
    case 'pong':
      conn.awaitingPong = false;
      break;
    case 'auth.expired':
      if (!guestToken) renewToken();
      break;
    default:
      break;
  }
  settleRequest(frame);
  emit(frame.type, frame);
}

function settleRequest(frame) {
  if (typeof frame.id !== 'string' || !conn.pending.has(frame.id)) return;
  const { resolve, reject, timer } = conn.pending.get(frame.id);
  conn.pending.delete(frame.id);
  clearTimeout(timer);
  if (frame.type === 'error') reject(new RealtimeError(frame.code, frame.message, frame.retry_after_ms));
  else resolve(frame);
}

function onReady(frame) {
  const resumed = conn.ready !== null;
  conn.ready = frame;
  conn.userId = frame.user_id;
  conn.attempts = 0;
  conn.lastActivitySent = 0;
  setStatus('open');
  startHeartbeat(Number(frame.heartbeat_seconds) || 20);
  if (!guestToken) scheduleRenewal(Number(frame.expires_at));
  // A new connection starts online: put back what the person chose.
  selfState = 'online';
  if (chosenState !== 'online' && !guestToken) {
    selfState = chosenState;
    request({ type: 'presence.set', state: chosenState }).catch(() => {});
  }
  emit('self', { state: selfState });
  emit('connected', { resumed });
}

function startHeartbeat(seconds) {
  clearInterval(conn.heartbeatTimer);
  conn.awaitingPong = false;
  conn.heartbeatTimer = setInterval(() => {
    const { socket } = conn;
    if (!socket) return;
    if (conn.awaitingPong) {
      // No pong for a whole interval: the connection is dead (or half open).
      try {
        socket.close(CLOSE.normal, 'no pong');
      } catch {
        // Closing anyway.
      }
      teardown();
      handleClose(CLOSE.timeout);
      return;
    }
    conn.awaitingPong = true;
    send({ type: 'ping', id: nextId('ping') });
  }, seconds * 1000);
}

function scheduleRenewal(expiresAt) {
  clearTimeout(conn.renewTimer);
  if (!Number.isFinite(expiresAt) || expiresAt <= 0) return;
  const remaining = expiresAt - Date.now() / 1000;
  // A minute early, or a fifth of the lifetime for short-lived tokens.
  const delay = Math.max(5, remaining - Math.min(RENEW_BEFORE_S, remaining * 0.2)) * 1000;
  conn.renewTimer = setTimeout(renewToken, Math.min(delay, 2 ** 31 - 1));
}

let renewing = null;

/** Give the open socket a fresh token before (or just after) the old one expires. */
function renewToken() {
  if (renewing) return renewing;
  renewing = (async () => {
    let token;
    const socketExpiry = (Number(conn.ready && conn.ready.expires_at) || 0) * 1000;
    // The page may already hold a newer token (api.js refreshed it for a request).
    if (api.accessTokenExpiresAt() > Math.max(socketExpiry, Date.now() + 10_000)) {
      token = api.accessToken();
    } else {
      try {
        token = await api.renewAccessToken();
      } catch {
        // Unreachable: try again shortly; the server allows a grace period.
        clearTimeout(conn.renewTimer);
        conn.renewTimer = setTimeout(renewToken, 10_000);
        return;
      }
    }
    if (!token || !isOpen()) return;
    try {
      const ack = await request({ type: 'auth', token });
      if (conn.ready) conn.ready = { ...conn.ready, expires_at: ack.expires_at };
      scheduleRenewal(Number(ack.expires_at));
    } catch {
      // The socket closes with 4401 if the token is not accepted; we reconnect then.
    }
  })().finally(() => {
    renewing = null;
  });
  return renewing;
}

/* ------------------------------------------------------- page signals -- */

window.addEventListener('online', () => {
  if (conn.wanted && !conn.socket) {
    clearTimeout(conn.reconnectTimer);
    conn.reconnectTimer = null;
    conn.attempts = 0;
    open();
  }
});

window.addEventListener('offline', () => {
  if (conn.wanted && !conn.socket) setStatus('offline');
});

for (const type of ['keydown', 'pointerdown', 'wheel', 'touchstart']) {
  document.addEventListener(type, noteActivity, { passive: true, capture: true });
}
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') noteActivity();
});
