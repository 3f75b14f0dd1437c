// Fetch wrapper and session state.
//
// - The access token lives only in memory (this module).
// - The refresh token lives in sessionStorage, so it survives a reload of
//   this tab but not the closing of it.
// - A request that gets 401 is retried once after refreshing the tokens.
//   If the refresh fails, the session is cleared and an "expired" event is
//   dispatched on `authEvents`.
// - Every error is thrown as an ApiError built from RFC 9457 problem JSON;
//   `detail` is the message to show to the user.

const REFRESH_KEY = 'teamwell.refresh_token';
const JSON_TYPES = /^application\/(?:[\w.+-]+\+)?json\b/i;

const FALLBACK_MESSAGES = {
  0: 'We could not reach Teamwell. Check your connection and try again.',
  400: 'The request could not be processed. Check your answers and try again.',
  401: 'You need to sign in to continue.',
  403: 'You do not have permission to do that.',
  404: 'We could not find what you were looking for.',
  409: 'This conflicts with a change made elsewhere. Reload the page and try again.',
  422: 'Some answers need correcting.',
  429: 'Too many attempts. Wait a while and try again.',
  500: 'Teamwell is having a problem. Try again later.',
};

/**
 * @typedef {object} ProblemOptions
 * @property {number} [status]  the HTTP status; 0 when the server could not be reached
 * @property {string} [title]
 * @property {string} [detail]  the message to show the person
 * @property {string} [type]
 * @property {{ field: string, message: string }[]} [errors]
 * @property {Record<string, any> | null} [problem]
 * @property {Headers | null} [headers]
 */
export class ApiError extends Error {
  /** @param {ProblemOptions} [options] */
  constructor({
    status = 0, title, detail, type = 'about:blank', errors = [], problem = null, headers = null,
  } = {}) {
    const fallback = FALLBACK_MESSAGES[status] || (status >= 500 ? FALLBACK_MESSAGES[500] : 'Something went wrong.');
    super(detail || title || fallback);
    this.name = 'ApiError';
    this.status = status;
    this.type = type;
    this.title = title || fallback;
    this.detail = detail || fallback;
    this.errors = errors;
    /** The whole problem document (for extension members such as `current`), or null. */
    this.problem = problem;
    /** The response headers (e.g. the ETag of a 412), or null. */
    this.headers = headers;
  }
}

/**
 * @typedef {'peer_keyworker' | 'therapist' | 'employment_specialist' | 'supervisor' | 'admin' | 'client'} Role
 */

/**
 * Who is signed in: GET /api/v1/auth/me (the server's UserPublic).
 * @typedef {object} User
 * @property {string} id
 * @property {string} email
 * @property {string} display_name
 * @property {Role} role
 * @property {string} kind
 * @property {string} organisation_id
 * @property {boolean} is_active
 * @property {boolean} mfa_enabled
 * @property {string} created_at
 * @property {string} [guest] only in a guest's room (views/guest.js): client, interpreter or family
 */

/** Events: "change" (who is signed in changed), "expired" (session ended). */
export const authEvents = new EventTarget();

const state = {
  accessToken: null,
  expiresAt: 0,
  /** @type {User | null} */
  user: null,
  mfaToken: null,
  enrolmentRequired: false,
  recoveryCodes: null,
};

let refreshInFlight = null;
let restoreInFlight = null;

/* ------------------------------------------------------------ storage -- */

function readRefreshToken() {
  try {
    return window.sessionStorage.getItem(REFRESH_KEY);
  } catch {
    return null;
  }
}

function writeRefreshToken(value) {
  try {
    if (value) window.sessionStorage.setItem(REFRESH_KEY, value);
    else window.sessionStorage.removeItem(REFRESH_KEY);
  } catch {
    // Storage unavailable (private mode, policy): the session then lasts
    // only as long as this page.
  }
}

/* ----------------------------------------------------------- requests -- */

function buildUrl(path, query) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value === undefined || value === null || value === '') continue;
    url.searchParams.set(key, String(value));
  }
  return url.pathname + url.search;
}

async function readBody(response) {
  if (response.status === 204 || response.status === 205) return null;
  const text = await response.text();
  if (!text) return null;
  if (JSON_TYPES.test(response.headers.get('Content-Type') || '')) {
    try {
      return JSON.parse(text);
    } catch {
      return null;
    }
  }
  return null;
}

/** Build an ApiError from a problem document (or whatever came back). */
function toError(status, body, headers = null) {
  if (!body || typeof body !== 'object') return new ApiError({ status, headers });
  let { detail } = body;
  let errors = Array.isArray(body.errors) ? body.errors : [];
  // Tolerate framework-default validation errors: {detail: [{loc, msg}]}.
  if (Array.isArray(detail)) {
    errors = detail.map((d) => ({
      field: Array.isArray(d.loc) ? d.loc.filter((p) => p !== 'body').join('.') : '',
      message: d.msg || String(d),
    }));
    detail = undefined;
  }
  errors = errors
    .filter((e) => e && typeof e === 'object')
    .map((e) => ({ field: e.field ? String(e.field) : '', message: e.message ? String(e.message) : '' }));
  return new ApiError({
    status,
    type: typeof body.type === 'string' ? body.type : 'about:blank',
    title: typeof body.title === 'string' ? body.title : undefined,
    detail: typeof detail === 'string' ? detail : undefined,
    errors,
    problem: Array.isArray(body) ? null : body,
    headers,
  });
}

/**
 * fetch() for a Blob body whose sending is reported as it goes: fetch() says
 * nothing until the answer, so an upload's bar would jump a whole chunk at a
 * time; XMLHttpRequest's upload events say how much has left. Resolves a
 * Response like fetch's; rejects as fetch does (TypeError when the request
 * did not get through, AbortError when cancelled).
 * @param {string} url
 * @param {{ method: string, headers: Record<string, string>, body: Blob, signal?: AbortSignal }} init
 * @param {(sent: number, total: number) => void} onProgress
 * @returns {Promise<Response>}
 */
function sendWithProgress(url, { method, headers, body, signal }, onProgress) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new DOMException('The request was cancelled.', 'AbortError'));
      return;
    }
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    xhr.responseType = 'blob';
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    xhr.upload.addEventListener('progress', (event) => {
      onProgress(event.loaded, event.lengthComputable ? event.total : body.size);
    });
    xhr.addEventListener('load', () => {
      const answered = new Headers();
      for (const line of xhr.getAllResponseHeaders().trim().split(/[\r\n]+/)) {
        const colon = line.indexOf(':');
        if (colon > 0) answered.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
      }
      const empty = xhr.status === 204 || xhr.status === 304;
      resolve(new Response(empty ? null : xhr.response, { status: xhr.status, headers: answered }));
    });
    xhr.addEventListener('error', () => reject(new TypeError('The request did not get through.')));
    xhr.addEventListener('timeout', () => reject(new TypeError('The request timed out.')));
    xhr.addEventListener('abort', () => reject(new DOMException('The request was cancelled.', 'AbortError')));
    signal?.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(body);
  });
}

/**
 * Make an API request and return the parsed JSON body (null for 204).
 * options: method, body (JSON-encoded), query (object), signal,
 *   auth (default true: send the bearer token and refresh on 401),
 *   retry (default true: refresh and retry once on 401),
 *   expireOnFailure (default true: end the session when a 401 persists),
 *   as (default "json"; "blob" resolves the body as a Blob, for downloads),
 *   headers (extra request headers, e.g. If-Match),
 *   withHeaders (default false: resolve { data, headers } instead of the body,
 *     for reading an ETag),
 *   onUploadProgress (sent, total) => void: called as a Blob body leaves the
 *     browser (a chunk of an upload), so a progress bar moves within a request.
 * @param {string} path
 * @param {{
 *   method?: string, body?: any, query?: Record<string, any>, signal?: AbortSignal,
 *   auth?: boolean, retry?: boolean, expireOnFailure?: boolean, as?: 'json' | 'blob',
 *   headers?: Record<string, string>, withHeaders?: boolean,
 *   onUploadProgress?: (sent: number, total: number) => void,
 * }} [options]
 * @returns {Promise<any>}
 */
export async function request(path, options = {}) {
  const {
    method = 'GET', body, query, signal, auth = true, retry = true, expireOnFailure = true,
    as = 'json', headers: extraHeaders, withHeaders = false, onUploadProgress,
  } = options;

  // After a reload we have a refresh token but no access token yet.
  if (auth && !state.accessToken && readRefreshToken()) {
    await refreshTokens();
  }

  /** @type {Record<string, string>} */
  const headers = {
    ...(extraHeaders || {}),
    Accept: as === 'blob' ? '*/*' : 'application/json, application/problem+json',
  };
  // A Blob (a chunk of a file being uploaded) goes as its bytes; anything else as JSON.
  const raw = typeof Blob !== 'undefined' && body instanceof Blob;
  if (body !== undefined) headers['Content-Type'] = raw ? 'application/octet-stream' : 'application/json';
  const sentToken = auth ? state.accessToken : null;
  if (sentToken) headers.Authorization = `Bearer ${sentToken}`;

  let response;
  try {
    const init = {
      method,
      headers,
      body: body === undefined || raw ? body : JSON.stringify(body),
      signal,
      credentials: /** @type {RequestCredentials} */ ('same-origin'),
      cache: /** @type {RequestCache} */ ('no-store'),
    };
    response = raw && onUploadProgress
      ? await sendWithProgress(buildUrl(path, query), init, onUploadProgress)
      : await fetch(buildUrl(path, query), init);
  } catch (error) {
    if (error && error.name === 'AbortError') throw error;
    throw new ApiError({ status: 0 });
  }

  if (response.status === 401 && auth) {
    const hadSession = Boolean(sentToken || readRefreshToken());
    if (retry && readRefreshToken()) {
      const refreshed = await refreshTokens();
      if (refreshed) return request(path, { ...options, retry: false });
    }
    const error = toError(401, await readBody(response), response.headers);
    if (expireOnFailure && hadSession) expireSession();
    throw error;
  }

  if (as === 'blob' && response.ok) return response.blob();
  const data = await readBody(response);
  if (!response.ok) throw toError(response.status, data, response.headers);
  return withHeaders ? { data, headers: response.headers } : data;
}

/**
 * Fetch a file with the session's credentials and hand it to the browser as a
 * download (through a short-lived blob: URL, so no token goes in a link).
 * @param {string} path
 * @param {string} filename
 * @param {{ signal?: AbortSignal }} [options]
 */
export async function download(path, filename, { signal } = {}) {
  const blob = await request(path, { as: 'blob', signal });
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/* ------------------------------------------------------ token handling -- */

function emitChange() {
  authEvents.dispatchEvent(new Event('change'));
}

function applyTokens(data, { fresh }) {
  if (!data || typeof data.access_token !== 'string') {
    throw new ApiError({ status: 500, detail: 'The sign-in response was not understood. Try again.' });
  }
  state.accessToken = data.access_token;
  state.expiresAt = Date.now() + (Number(data.expires_in) || 0) * 1000;
  if (data.refresh_token) writeRefreshToken(data.refresh_token);
  if (data.user) state.user = data.user;
  else if (fresh) state.user = null;
  if (fresh || 'mfa_enrolment_required' in data) {
    state.enrolmentRequired = data.mfa_enrolment_required === true;
  }
}

/** Refresh the tokens once, sharing one request between concurrent callers. */
function refreshTokens() {
  if (!refreshInFlight) {
    refreshInFlight = (async () => {
      const refreshToken = readRefreshToken();
      if (!refreshToken) return false;
      let data;
      try {
        data = await request('/api/v1/auth/refresh', {
          method: 'POST', body: { refresh_token: refreshToken }, auth: false,
        });
      } catch (error) {
        // Keep the session through outages; drop it when it is refused.
        if (error.status === 0 || error.status === 429 || error.status >= 500) throw error;
        clearSession();
        return false;
      }
      if (!data || !data.access_token) {
        clearSession();
        return false;
      }
      applyTokens(data, { fresh: false });
      return true;
    })().finally(() => {
      refreshInFlight = null;
    });
  }
  return refreshInFlight;
}

function clearSession() {
  const had = Boolean(state.accessToken || state.user || readRefreshToken());
  state.accessToken = null;
  state.expiresAt = 0;
  state.user = null;
  state.mfaToken = null;
  state.enrolmentRequired = false;
  state.recoveryCodes = null;
  writeRefreshToken(null);
  if (had) emitChange();
  return had;
}

function expireSession() {
  clearSession();
  authEvents.dispatchEvent(new Event('expired'));
}

async function loadUser() {
  state.user = await request('/api/v1/auth/me');
  return state.user;
}

/**
 * Handle a tokens response from login, MFA, or SSO exchange.
 * Returns "mfa" (a code is needed), "enrol" (MFA set-up is needed) or
 * "signed-in".
 */
async function completeSignIn(data) {
  if (data && data.mfa_required) {
    clearSession();
    state.mfaToken = data.mfa_token;
    return 'mfa';
  }
  applyTokens(data, { fresh: true });
  state.mfaToken = null;
  state.recoveryCodes = null;
  if (!state.user) await loadUser();
  emitChange();
  return state.enrolmentRequired ? 'enrol' : 'signed-in';
}

/* ---------------------------------------------------------- public API -- */

/** @returns {User | null} */
export function getUser() {
  return state.user;
}

export function isSignedIn() {
  return Boolean(state.accessToken && state.user);
}

export function hasRefreshToken() {
  return Boolean(readRefreshToken());
}

export function hasPendingMfa() {
  return Boolean(state.mfaToken);
}

/** Signed in, but must finish MFA enrolment before anything else. */
export function isRestricted() {
  return state.enrolmentRequired || Boolean(state.recoveryCodes);
}

export async function login(email, password) {
  const data = await request('/api/v1/auth/login', {
    method: 'POST', body: { email, password }, auth: false,
  });
  return completeSignIn(data);
}

export async function verifyLoginCode(code) {
  if (!state.mfaToken) {
    throw new ApiError({ status: 401, detail: 'Your sign-in has timed out. Sign in again.' });
  }
  const data = await request('/api/v1/auth/login/mfa', {
    method: 'POST', body: { mfa_token: state.mfaToken, code }, auth: false,
  });
  return completeSignIn(data);
}

export async function exchangeSsoCode(code) {
  const data = await request('/api/v1/auth/sso/exchange', {
    method: 'POST', body: { code }, auth: false,
  });
  return completeSignIn(data);
}

/**
 * @param {{ signal?: AbortSignal }} [options]
 */
export function startEnrolment({ signal } = {}) {
  return request('/api/v1/auth/mfa/enrol', { method: 'POST', signal });
}

/** Confirm enrolment; keeps the recovery codes until acknowledged. */
export async function verifyEnrolment(code) {
  const data = await request('/api/v1/auth/mfa/verify', {
    method: 'POST', body: { code }, expireOnFailure: false,
  });
  applyTokens(data, { fresh: false });
  state.enrolmentRequired = false;
  state.recoveryCodes = Array.isArray(data.recovery_codes) ? data.recovery_codes.map(String) : [];
  if (!data.user) await loadUser();
  emitChange();
  return state.recoveryCodes;
}

export function pendingRecoveryCodes() {
  return state.recoveryCodes;
}

export function acknowledgeRecoveryCodes() {
  state.recoveryCodes = null;
  emitChange();
}

/**
 * Re-establish the session from the stored refresh token (after a reload).
 * Resolves true when signed in. Throws ApiError (status 0 or 5xx) when
 * the service could not be reached, leaving the stored token in place.
 */
export function restoreSession() {
  if (isSignedIn()) return Promise.resolve(true);
  if (!restoreInFlight) {
    restoreInFlight = (async () => {
      if (!(await refreshTokens())) return false;
      if (!state.user) await loadUser();
      emitChange();
      return isSignedIn();
    })().finally(() => {
      restoreInFlight = null;
    });
  }
  return restoreInFlight;
}

/* ------------------------------------------------ realtime connection -- */

/** The current access token (for the realtime socket's handshake), or null. */
export function accessToken() {
  return state.accessToken;
}

/** When the current access token expires, in epoch milliseconds (0 when none). */
export function accessTokenExpiresAt() {
  return state.accessToken ? state.expiresAt : 0;
}

/**
 * A fresh access token for the realtime socket, by refreshing the session.
 * Resolves null (and ends the session, dispatching "expired") when the
 * refresh token is refused. Throws ApiError when the service could not be
 * reached, so the caller can try again later.
 */
export async function renewAccessToken() {
  if (!readRefreshToken()) {
    if (state.accessToken || state.user) expireSession();
    return null;
  }
  if (await refreshTokens()) return state.accessToken;
  expireSession();
  return null;
}

/** The server ended this session (signed out elsewhere, revoked, deactivated). */
export function endSession() {
  expireSession();
}

/** Revoke the refresh token (best effort) and forget both tokens. */
export async function logout() {
  const revoke = () => request('/api/v1/auth/logout', {
    method: 'POST', body: { refresh_token: readRefreshToken() }, retry: false, expireOnFailure: false,
  });
  try {
    if (readRefreshToken()) {
      try {
        await revoke();
      } catch (error) {
        // The access token may have expired: refresh (which rotates the
        // refresh token) and revoke the new one.
        if (error.status === 401 && (await refreshTokens())) await revoke();
      }
    }
  } catch {
    // The local session is cleared regardless.
  } finally {
    clearSession();
  }
}

/** Forget a half-finished sign-in (e.g. "Back to sign in" from MFA). */
export function cancelPendingSignIn() {
  state.mfaToken = null;
}
