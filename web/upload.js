// Uploading a file as docs/api.md ("Documents") says: a file no larger than
// one chunk (most files: `chunk_bytes` is 8 MiB by default) goes whole in one
// request; a larger one starts an upload, is sent in chunks of the size the
// server answers with, then completed.
//
// A phone on a poor link loses chunks: a chunk that fails for a passing
// reason (no connection, the server busy or restarting, an offset the server
// did not expect) is not the end of the upload. We ask the server how much
// arrived (`received_bytes`) and go on from there, a bounded number of times
// with a growing pause between tries. A refusal that trying again cannot
// change (too large, the daily limit, a type not allowed, no permission) ends
// the upload at once with the server's own words.
//
// uploadControl() is the control every place uses: a file input, a real
// <progress> bar with its percentage, Cancel, and the outcome said aloud.

import { request, ApiError } from './api.js';
import { h, uid, problemMessage } from './ui.js';

/** How much of the bar the bytes on their way fill; the server's check of the file is the rest. */
const SENT_SHARE = 95;
/** How many failed chunks in a row we try again before giving up. */
const MAX_RETRIES = 5;
/** The first pause after a failed chunk; it doubles with each failure, up to the cap. */
const FIRST_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 8_000;

/** Statuses that may pass if we try again: unreachable, conflict on the offset, server trouble. */
function passing(error) {
  if (!(error instanceof ApiError)) return false;
  return error.status === 0 || error.status === 409 || error.status === 408
    || error.status === 502 || error.status === 503 || error.status === 504 || error.status === 500;
}

function pause(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(new DOMException('The upload was cancelled.', 'AbortError'));
    }, { once: true });
  });
}

/**
 * Send `file` to the place `place` names (client_id, conversation_id, meeting_id or
 * document_id, with kind, title, shared_with_client as docs/api.md allows).
 * `onProgress(sentBytes, totalBytes)` is called as each chunk's bytes leave the browser;
 * `onChecking()` once every byte has arrived, while the server checks the file (its type
 * and, where a scanner is set up, viruses: seconds, for a large file).
 * Resolves the document the server made (or added a version to).
 * @param {File} file
 * @param {Record<string, any>} place
 * @param {{
 *   onProgress?: (sent: number, total: number) => void, onChecking?: () => void,
 *   signal?: AbortSignal,
 * }} [options]
 * @returns {Promise<Record<string, any>>}
 */
export async function sendFile(file, place, { onProgress = () => {}, onChecking = () => {}, signal } = {}) {
  const limits = await uploadLimits(signal);
  if (file.size > 0 && file.size <= limits.chunk_bytes && file.size <= limits.max_bytes) {
    return sendWhole(file, place, { onProgress, onChecking, signal });
  }
  const upload = await request('/api/v1/documents/uploads', {
    method: 'POST', body: { ...place, filename: file.name, size: file.size }, signal,
  });
  const uploadId = encodeURIComponent(upload.id);
  const chunkBytes = Number(upload.chunk_bytes) || file.size;
  let sent = Number(upload.received_bytes) || 0;
  let failures = 0;
  onProgress(sent, file.size);
  while (sent < file.size) {
    const offset = sent;
    const piece = file.slice(offset, Math.min(offset + chunkBytes, file.size));
    try {
      // The bar moves as the chunk's bytes leave, not once per chunk (8 MiB by default).
      const answer = await request(`/api/v1/documents/uploads/${uploadId}/chunks/${offset}`, {
        method: 'PUT', body: piece, signal,
        onUploadProgress: (leaving) => onProgress(offset + Math.min(leaving, piece.size), file.size),
      });
      sent = Number(answer.received_bytes);
      failures = 0;
    } catch (error) {
      if (signal?.aborted || !passing(error)) throw error;
      failures += 1;
      if (failures > MAX_RETRIES) throw error;
      await pause(Math.min(FIRST_BACKOFF_MS * 2 ** (failures - 1), MAX_BACKOFF_MS), signal);
      sent = await receivedSoFar(uploadId, error, signal);
    }
    onProgress(sent, file.size);
  }
  onChecking();
  return request(`/api/v1/documents/uploads/${uploadId}/complete`, { method: 'POST', signal });
}

/** @type {Promise<{chunk_bytes: number, max_bytes: number}> | null} */
let limitsRead = null;

/** The server's upload limits, read once (a failure is read again next time). */
function uploadLimits(signal) {
  if (!limitsRead) {
    limitsRead = request('/api/v1/documents/limits', { signal }).then(
      (limits) => ({ chunk_bytes: Number(limits.chunk_bytes), max_bytes: Number(limits.max_bytes) }),
      (error) => { limitsRead = null; throw error; },
    );
  }
  return limitsRead;
}

/**
 * A file no larger than one chunk, in one request (`POST /api/v1/documents`): where it goes in
 * the query, its bytes as the body; the answer is the document, checked and scanned. A request
 * that fails for a passing reason before all its bytes have left is sent again, a bounded
 * number of times, as a chunk would be; once they have all left, the server may have kept the
 * file, so it is not sent again (that would make a second copy).
 */
async function sendWhole(file, place, { onProgress, onChecking, signal }) {
  /** @type {Record<string, string>} */
  const query = { filename: file.name };
  for (const [key, value] of Object.entries(place)) {
    if (value !== undefined && value !== null) query[key] = String(value);
  }
  let failures = 0;
  for (;;) {
    let arrived = false;
    onProgress(0, file.size);
    try {
      return await request('/api/v1/documents', {
        method: 'POST', body: file, query, signal,
        onUploadProgress: (leaving) => {
          onProgress(Math.min(leaving, file.size), file.size);
          if (leaving >= file.size && !arrived) {
            arrived = true;
            onChecking();
          }
        },
      });
    } catch (error) {
      if (signal?.aborted || !passing(error) || arrived) throw error;
      failures += 1;
      if (failures > MAX_RETRIES) throw error;
      await pause(Math.min(FIRST_BACKOFF_MS * 2 ** (failures - 1), MAX_BACKOFF_MS), signal);
    }
  }
}

/** Where to go on from: what a 409 said, else what the server says it has now. */
async function receivedSoFar(uploadId, error, signal) {
  const told = error.problem && error.problem.received_bytes;
  if (Number.isInteger(told)) return told;
  try {
    const state = await request(`/api/v1/documents/uploads/${uploadId}`, { signal });
    return Number(state.received_bytes) || 0;
  } catch (failure) {
    if (signal?.aborted) throw failure;
    return 0; // still unreachable: the next chunk's failure counts towards the bound
  }
}

/** A refusal in the person's words: the server's detail, with when to try again for the daily limit. */
export function refusalText(error) {
  const text = problemMessage(error);
  const after = error && error.headers && error.headers.get && error.headers.get('Retry-After');
  if (error && error.status === 429 && after && /^\d+$/.test(after)) {
    const minutes = Math.max(1, Math.ceil(Number(after) / 60));
    return `${text} You can upload again in about ${minutes} minute${minutes === 1 ? '' : 's'}.`;
  }
  return text;
}

/** Whether the document's newest version was found to carry malware. */
export function quarantined(document) {
  const current = document && (document.current || (document.versions || []).slice(-1)[0]);
  return Boolean(current && current.scan_status === 'infected');
}

/**
 * A file picker with its upload: a labelled file input, an "Upload" button,
 * then a progress bar with its percentage and Cancel while it runs.
 * `place()` gives the upload's place and options when the person presses
 * Upload; `onDone(document)` runs once the server has the file.
 * @param {{
 *   label: string, buttonLabel?: string, hint?: string, accept?: string,
 *   place: () => Record<string, any>, onDone: (document: Record<string, any>) => void,
 * }} options
 */
export function uploadControl({ label, buttonLabel = 'Upload', hint, accept, place, onDone }) {
  const inputId = uid('file');
  const hintId = hint ? `${inputId}-hint` : null;
  const progressLabelId = uid('progress');
  const input = h('input', {
    id: inputId, type: 'file', class: 'input upload__input', 'aria-describedby': hintId, accept,
  });
  const start = h('button', { type: 'button', class: 'button button--small' }, buttonLabel);
  const bar = h('progress', { class: 'upload__bar', max: '100', value: '0', 'aria-labelledby': progressLabelId });
  const percent = h('span', { class: 'upload__percent' }, '0%');
  const cancel = h('button', { type: 'button', class: 'button button--small button--secondary' }, 'Cancel upload');
  const progressName = h('span', { id: progressLabelId });
  const running = h('div', { class: 'upload__progress', hidden: true },
    h('p', { class: 'upload__label' }, progressName, ' ', percent), bar, ' ', cancel);
  const outcome = h('p', { class: 'upload__outcome', role: 'status' });
  const refusal = h('p', { class: 'field__error upload__error', role: 'alert' });
  let controller = null;

  // The bytes on their way fill the bar to SENT_SHARE; the server's check of the whole file
  // (a virus scan takes seconds for a large one) is the rest, so a full bar means done.
  function fill(value) {
    bar.setAttribute('value', String(value));
    percent.textContent = `${value}%`;
  }
  function show(sent, total) {
    fill(total ? Math.floor((sent / total) * SENT_SHARE) : SENT_SHARE);
  }
  function checking(name) {
    progressName.textContent = `Checking ${name}`;
    fill(SENT_SHARE);
  }

  start.addEventListener('click', async () => {
    if (controller) return;
    const file = input.files && input.files[0];
    refusal.textContent = '';
    outcome.textContent = '';
    if (!file) {
      refusal.textContent = 'Choose a file to upload first.';
      input.focus();
      return;
    }
    let where;
    try {
      where = place();
    } catch (problem) {
      refusal.textContent = problem.message;
      return;
    }
    controller = new AbortController();
    progressName.textContent = `Uploading ${file.name}`;
    show(0, file.size);
    running.hidden = false;
    start.setAttribute('aria-disabled', 'true');
    try {
      const document = await sendFile(file, where, {
        onProgress: show, onChecking: () => checking(file.name), signal: controller.signal,
      });
      fill(100);
      input.value = '';
      if (quarantined(document)) {
        refusal.textContent = `Malware found — ${file.name} was removed and not shared with anyone.`;
      } else {
        outcome.textContent = `${file.name} uploaded.`;
      }
      onDone(document);
    } catch (error) {
      if (error && error.name === 'AbortError') outcome.textContent = 'Upload cancelled.';
      else refusal.textContent = refusalText(error);
    } finally {
      controller = null;
      running.hidden = true;
      start.removeAttribute('aria-disabled');
    }
  });
  cancel.addEventListener('click', () => controller?.abort());

  return h('div', { class: 'upload' },
    h('label', { for: inputId, class: 'field__label' }, label),
    hint ? h('p', { id: hintId, class: 'field__hint' }, hint) : null,
    h('div', { class: 'upload__row' }, input, start),
    running,
    outcome,
    refusal);
}
