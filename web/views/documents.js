// Documents where each person looks for them (docs/api.md, "Documents"):
// the Documents section of a client's record (folders CV, letters, forms,
// other), a client's "My documents", the files of a conversation and the
// papers of a meeting. One panel serves every place; the place decides the
// folders, who may upload and whether "Visible to client" is offered.
//
// Nothing of a file is fetched with the session: a preview or a download asks
// for a short-lived link (/files/<token>) and the browser opens that, in a
// sandboxed frame or an <img> for a preview. The list follows the
// document.added and document.changed frames of /ws, so a file someone else
// adds appears without a reload.

import { request } from '../api.js';
import * as rt from '../realtime.js';
import { uploadControl } from '../upload.js';
import {
  h, heading, page, uid, emptyState, problemMessage, formatDateTime,
} from '../ui.js';

export const FOLDER_LABELS = {
  cv: 'CV',
  letters: 'Letters',
  forms: 'Forms',
  other: 'Other',
  attachment: 'Files',
  agenda: 'Agenda',
  notes: 'Notes',
};

/** What each scan status says to a person; "clean" is never claimed where nothing was checked. */
const SCAN_TEXT = {
  pending: 'Checking for viruses…',
  clean: 'Checked for viruses',
  not_scanned: 'Not scanned',
  infected: 'Malware found — removed',
};

/** The folders of each place, in the order they are shown. */
const PLACE_KINDS = {
  client: ['cv', 'letters', 'forms', 'other'],
  conversation: ['attachment'],
  meeting: ['agenda', 'notes'],
};

/** The documents of a place, as this person may see them. */
function listOf(place, id, signal) {
  const key = encodeURIComponent(id);
  if (place === 'client') return request(`/api/v1/clients/${key}/documents`, { signal });
  if (place === 'conversation') return request(`/api/v1/conversations/${key}/documents`, { signal });
  return request(`/api/v1/meetings/${key}/documents`, { signal });
}

/** Whether a document.* frame is about this place. */
function concerns(frame, place, id) {
  const d = frame && frame.document;
  if (!d) return false;
  if (place === 'client') return d.client_id === id;
  if (place === 'conversation') return d.conversation_id === id;
  return d.meeting_id === id;
}

export function formatBytes(size) {
  const n = Number(size) || 0;
  if (n < 1024) return `${n} bytes`;
  if (n < 1024 * 1024) return `${Math.round(n / 1024)} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

/** A short-lived link to one version: inline (a preview) or as an attachment. */
export async function versionLink(document, number, inline) {
  const path = `/api/v1/documents/${encodeURIComponent(document.id)}/versions/${number}/download`;
  const answer = await request(path, { method: 'POST', body: { inline } });
  return String(answer.url);
}

/** Have the browser download a version through its link (no session goes with it). */
export async function downloadVersion(document, number) {
  const url = await versionLink(document, number, false);
  const link = h('a', { href: url, download: '', hidden: true });
  window.document.body.append(link);
  link.click();
  link.remove();
}

function hidden(text) {
  return h('span', { class: 'visually-hidden' }, text);
}

function smallButton(text, name, secondary = true) {
  return h('button', { type: 'button', class: ['button', 'button--small', secondary ? 'button--secondary' : null] },
    text, hidden(` ${name}`));
}

/**
 * The documents of one place, with uploading.
 * @param {import('../app.js').ViewContext} ctx
 * @param {{
 *   place: 'client' | 'conversation' | 'meeting', id: string, title?: string,
 *   level?: number, canUpload?: boolean, canShare?: boolean, intro?: string,
 *   uploadKinds?: string[], onDraw?: () => void,
 * }} options
 */
export function documentsPanel(ctx, {
  place, id, title = 'Documents', level = 2, canUpload = true, canShare = false, intro, uploadKinds,
  onDraw = () => {},
}) {
  const isClient = ctx.user.role === 'client';
  const headingId = uid('documents');
  const status = h('p', { class: 'documents__status muted', role: 'status' }, 'Loading documents…');
  const listError = h('p', { class: 'field__error', role: 'alert' });
  const folders = h('div', { class: 'documents__folders' });
  const kinds = PLACE_KINDS[place];
  let documents = [];
  let loading = null;
  let again = false;

  /** Read the list again. A change told while a read is under way may have missed it: read once more after. */
  async function reload() {
    if (loading) {
      again = true;
      return loading;
    }
    loading = (async () => {
      do {
        again = false;
        try {
          documents = await listOf(place, id, ctx.signal);
          listError.textContent = '';
          draw();
        } catch (error) {
          if (error.name === 'AbortError' || !ctx.isCurrent()) return;
          listError.textContent = `The documents could not be loaded. ${problemMessage(error)}`;
        }
      } while (again && ctx.isCurrent());
    })().finally(() => {
      loading = null;
      status.textContent = '';
    });
    return loading;
  }

  function draw() {
    folders.replaceChildren();
    const shown = kinds.length > 1 ? kinds : [kinds[0]];
    let any = false;
    for (const kind of shown) {
      const inFolder = documents.filter((d) => (kinds.length > 1 ? d.kind === kind : true));
      if (kinds.length > 1 && !inFolder.length) continue;
      any = any || inFolder.length > 0;
      const folderId = uid('folder');
      folders.append(h('section', { class: 'documents__folder', 'aria-labelledby': folderId },
        kinds.length > 1 ? h(`h${level + 1}`, { id: folderId }, FOLDER_LABELS[kind] || kind)
          : h(`h${level + 1}`, { id: folderId, class: 'visually-hidden' }, title),
        inFolder.length
          ? h('ul', { class: 'documents__list' }, inFolder.map((d) => documentItem(d)))
          : emptyState('No files yet.')));
    }
    if (!any && kinds.length > 1) folders.append(emptyState('No documents yet.'));
    onDraw();
  }

  /* ----- one document ----- */

  function mayChange(d) {
    if (d.deleted_at) return false;
    if (isClient) return d.created_by === ctx.user.id;
    if (place === 'conversation') return d.created_by === ctx.user.id;
    return true;
  }

  /** One document: in a list (li), or as a card in a conversation's timeline (compact, a div). */
  function documentItem(d, { tag = 'li', compact = false } = {}) {
    const current = d.current;
    const shared = place === 'client' && canShare && !isClient ? shareToggle(d) : null;
    const actions = h('div', { class: 'button-row documents__actions' });
    const preview = h('div', { class: 'documents__preview', hidden: true });
    const error = h('p', { class: 'field__error', role: 'alert' });
    const usable = current && current.available && current.scan_status !== 'infected';

    if (usable && current.previewable) {
      const button = smallButton('Preview', d.title);
      button.addEventListener('click', () => showPreview(d, current, preview, error, button));
      actions.append(button);
    }
    if (usable) {
      const button = smallButton('Download', d.title);
      button.addEventListener('click', () => {
        error.textContent = '';
        downloadVersion(d, current.number).catch((failure) => {
          error.textContent = problemMessage(failure);
        });
      });
      actions.append(button);
    }
    const extras = [];
    if (mayChange(d) && !compact) {
      extras.push(renameForm(d, error), newVersion(d), deleteButton(d, error));
    }
    return h(tag, { class: 'document' },
      h('p', { class: 'document__title' }, d.title),
      current ? h('p', { class: 'document__meta' },
        `Version ${current.number} · ${current.filename} · ${formatBytes(current.size)} · `,
        `${current.uploaded_by_name || 'Someone'}, ${formatDateTime(current.uploaded_at)}`) : null,
      current ? h('p', { class: ['document__scan', `document__scan--${current.scan_status}`] },
        scanText(current)) : null,
      shared,
      actions,
      error,
      preview,
      compact ? null : history(d),
      ...extras);
  }

  function scanText(version) {
    const text = SCAN_TEXT[version.scan_status] || version.scan_status;
    return version.scan_status === 'infected' && version.scan_detail && !isClient
      ? `${text} (${version.scan_detail})` : text;
  }

  function shareToggle(d) {
    const inputId = uid('shared');
    const input = h('input', { id: inputId, type: 'checkbox', checked: d.shared_with_client || false });
    const note = h('span', { class: 'field__error', role: 'alert' });
    input.addEventListener('change', async () => {
      const wanted = /** @type {HTMLInputElement} */ (input).checked;
      note.textContent = '';
      try {
        const changed = await request(`/api/v1/documents/${encodeURIComponent(d.id)}`, {
          method: 'PATCH', body: { shared_with_client: wanted },
        });
        Object.assign(d, changed);
      } catch (failure) {
        /** @type {HTMLInputElement} */ (input).checked = !wanted;
        note.textContent = problemMessage(failure);
      }
    });
    return h('p', { class: 'checkbox documents__shared' }, input, ' ',
      h('label', { for: inputId }, 'Visible to client', hidden(` for ${d.title}`)), ' ', note);
  }

  async function showPreview(d, version, area, error, button) {
    error.textContent = '';
    if (!area.hidden) {
      area.hidden = true;
      area.replaceChildren();
      button.firstChild.textContent = 'Preview';
      return;
    }
    try {
      const url = await versionLink(d, version.number, true);
      const label = `Preview of ${d.title}`;
      const shown = version.media_type === 'application/pdf'
        ? h('iframe', { src: url, title: label, sandbox: '', class: 'documents__frame' })
        : h('img', { src: url, alt: label, class: 'documents__image' });
      area.replaceChildren(shown);
      area.hidden = false;
      button.firstChild.textContent = 'Close preview';
    } catch (failure) {
      error.textContent = problemMessage(failure);
    }
  }

  function history(d) {
    const versions = d.versions || [];
    if (versions.length < 1) return null;
    const details = h('details', { class: 'documents__history' },
      h('summary', {}, `Versions (${versions.length})`, hidden(` of ${d.title}`)));
    details.addEventListener('toggle', async () => {
      if (!(/** @type {HTMLDetailsElement} */ (details)).open || details.dataset.loaded) return;
      details.dataset.loaded = 'yes';
      let full = d;
      try {
        full = await request(`/api/v1/documents/${encodeURIComponent(d.id)}`, { signal: ctx.signal });
      } catch {
        // The list's copy of the history is shown instead.
      }
      details.append(h('ol', { class: 'documents__versions' }, (full.versions || []).slice().reverse().map((v) => {
        const row = h('li', {},
          `Version ${v.number}: ${v.filename}, ${formatBytes(v.size)}, `,
          `${v.uploaded_by_name || 'Someone'}, ${formatDateTime(v.uploaded_at)} · ${scanText(v)} `);
        if (v.available && v.scan_status !== 'infected') {
          const button = smallButton(`Download version ${v.number}`, d.title);
          button.addEventListener('click', () => downloadVersion(d, v.number).catch(() => {}));
          row.append(button);
        }
        return row;
      })));
    });
    return details;
  }

  function renameForm(d, error) {
    const inputId = uid('title');
    const input = h('input', { id: inputId, class: 'input', type: 'text', value: d.title, maxlength: '200' });
    const form = h('form', { class: 'documents__rename', novalidate: true },
      h('label', { for: inputId, class: 'field__label' }, 'New title', hidden(` for ${d.title}`)),
      h('div', { class: 'upload__row' }, input,
        h('button', { type: 'submit', class: 'button button--small' }, 'Save title')));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      error.textContent = '';
      try {
        await request(`/api/v1/documents/${encodeURIComponent(d.id)}`, {
          method: 'PATCH', body: { title: /** @type {HTMLInputElement} */ (input).value },
        });
        await reload();
      } catch (failure) {
        error.textContent = problemMessage(failure);
      }
    });
    return h('details', { class: 'documents__more' },
      h('summary', {}, 'Rename', hidden(` ${d.title}`)), form);
  }

  function newVersion(d) {
    return h('details', { class: 'documents__more' },
      h('summary', {}, 'New version', hidden(` of ${d.title}`)),
      uploadControl({
        label: `A new version of ${d.title}`,
        buttonLabel: 'Upload new version',
        place: () => ({ document_id: d.id }),
        onDone: () => reload(),
      }));
  }

  function deleteButton(d, error) {
    const dialogId = uid('delete');
    const reasonId = uid('reason');
    const reason = h('textarea', { id: reasonId, class: 'input', rows: '3', maxlength: '500' });
    const reasonError = h('p', { class: 'field__error', role: 'alert' });
    const confirm = h('button', { type: 'submit', class: 'button button--danger' }, 'Delete document');
    const cancel = h('button', { type: 'button', class: 'button button--secondary' }, 'Cancel');
    const form = h('form', { method: 'dialog', novalidate: true },
      h('h2', { id: dialogId }, `Delete ${d.title}?`),
      h('p', {}, 'Every version is removed for everyone. Who deleted it, when and why are kept.'),
      h('label', { for: reasonId, class: 'field__label' }, 'Reason for deleting'),
      reason, reasonError,
      h('div', { class: 'button-row' }, confirm, cancel));
    const dialog = /** @type {HTMLDialogElement} */ (h('dialog', { class: 'documents__dialog', 'aria-labelledby': dialogId }, form));
    const open = smallButton('Delete', d.title);
    open.addEventListener('click', () => {
      reasonError.textContent = '';
      if (!dialog.isConnected) window.document.body.append(dialog);
      dialog.showModal();
      reason.focus();
    });
    cancel.addEventListener('click', () => dialog.close());
    dialog.addEventListener('close', () => dialog.remove());
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const text = /** @type {HTMLTextAreaElement} */ (reason).value.trim();
      if (text.length < 3) {
        reasonError.textContent = 'Say why it is being deleted (at least 3 characters).';
        reason.focus();
        return;
      }
      try {
        await request(`/api/v1/documents/${encodeURIComponent(d.id)}`, {
          method: 'DELETE', body: { reason: text },
        });
        dialog.close();
        await reload();
      } catch (failure) {
        reasonError.textContent = problemMessage(failure);
        error.textContent = '';
      }
    });
    ctx.signal.addEventListener('abort', () => {
      if (dialog.open) dialog.close();
      dialog.remove();
    }, { once: true });
    return h('p', { class: 'documents__delete' }, open);
  }

  /* ----- uploading ----- */

  let upload = null;
  if (canUpload) {
    const choices = uploadKinds || kinds;
    const kindId = uid('kind');
    const kindSelect = choices.length > 1
      ? h('select', { id: kindId, class: 'input' },
        choices.map((k) => h('option', { value: k }, FOLDER_LABELS[k] || k)))
      : null;
    const shareId = uid('share');
    const share = canShare && !isClient
      ? h('input', { id: shareId, type: 'checkbox' }) : null;
    const placeKey = { client: 'client_id', conversation: 'conversation_id', meeting: 'meeting_id' }[place];
    upload = h('div', { class: 'documents__upload' },
      kindSelect ? h('p', { class: 'field' },
        h('label', { for: kindId, class: 'field__label' }, 'Folder'), kindSelect) : null,
      share ? h('p', { class: 'checkbox' }, share, ' ',
        h('label', { for: shareId }, 'Visible to client')) : null,
      uploadControl({
        label: place === 'conversation' ? 'Attach file' : 'Choose a file',
        buttonLabel: place === 'conversation' ? 'Send file' : 'Upload',
        hint: 'PDF, images, Word, Excel, PowerPoint, OpenDocument, RTF or plain text.',
        place: () => ({
          [placeKey]: id,
          kind: kindSelect ? /** @type {HTMLSelectElement} */ (kindSelect).value : kinds[0],
          ...(share ? { shared_with_client: /** @type {HTMLInputElement} */ (share).checked } : {}),
        }),
        onDone: () => reload(),
      }));
  }

  /* ----- wiring ----- */

  const onFrame = (frame) => {
    if (concerns(frame, place, id)) reload();
  };
  const offs = [rt.on('document.added', onFrame), rt.on('document.changed', onFrame)];
  ctx.signal.addEventListener('abort', () => offs.forEach((off) => off()), { once: true });
  reload();

  return {
    element: h('section', { class: 'documents', 'aria-labelledby': headingId },
      h(`h${level}`, { id: headingId }, title),
      intro ? h('p', { class: 'documents__intro' }, intro) : null,
      upload,
      status,
      listError,
      folders),
    reload,
    documents: () => documents,
    item: documentItem,
  };
}

/* ------------------------------------------------------ conversations -- */

/**
 * The files of a conversation: "Attach file" for the composer, a card in the
 * timeline for each file (merged with the messages by time), and the Files
 * list. `onChange()` runs when the files change, for the thread to redraw.
 * @param {import('../app.js').ViewContext} ctx
 * @param {{ id: string }} conversation
 * @param {{ onChange: () => void, nameOf: (userId: string) => string | null }} options
 */
export function conversationFiles(ctx, conversation, { onChange, nameOf }) {
  const panel = documentsPanel(ctx, {
    place: 'conversation', id: conversation.id, title: 'Files', level: 3, canUpload: false, onDraw: () => onChange(),
  });
  const cards = new Map(); // document id → { signature, li }

  function cardFor(d) {
    const current = d.current || {};
    const signature = JSON.stringify([d.title, current.number, current.scan_status, current.available]);
    const known = cards.get(d.id);
    if (known && known.signature === signature) return known.li;
    const own = d.created_by === ctx.user.id;
    const li = h('li', { class: ['message', 'message--file', own ? 'message--own' : null] },
      h('p', { class: 'message__meta' },
        h('span', { class: 'message__sender' }, own ? 'You' : (current.uploaded_by_name || nameOf(d.created_by) || 'Someone')),
        ' ',
        h('time', { class: 'message__time', datetime: d.created_at, title: formatDateTime(d.created_at) },
          formatDateTime(d.created_at))),
      h('p', { class: 'message__body' }, `Shared a file: ${d.title}`),
      panel.item(d, { tag: 'div', compact: true }));
    if (known) known.li.replaceWith(li);
    cards.set(d.id, { signature, li });
    return li;
  }

  /**
   * The thread's entries ([key, li, created_at], in order) with the file cards placed by
   * time among them; cards of files no longer there are taken off the page.
   * @param {Array<[string, HTMLElement, string]>} entries
   */
  function merge(entries) {
    const files = panel.documents().filter((d) => !d.deleted_at)
      .slice().sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at));
    const wanted = new Set(files.map((d) => d.id));
    for (const [docId, { li }] of cards) {
      if (!wanted.has(docId)) {
        li.remove();
        cards.delete(docId);
      }
    }
    const merged = [];
    let next = 0;
    for (const entry of entries) {
      while (next < files.length && Date.parse(files[next].created_at) <= Date.parse(entry[2])) {
        merged.push([`file:${files[next].id}`, cardFor(files[next]), files[next].created_at]);
        next += 1;
      }
      merged.push(entry);
    }
    for (; next < files.length; next += 1) {
      merged.push([`file:${files[next].id}`, cardFor(files[next]), files[next].created_at]);
    }
    return merged;
  }

  const attachPanel = h('div', { class: 'composer__attach', hidden: true },
    uploadControl({
      label: 'File to send',
      buttonLabel: 'Send file',
      hint: 'Everyone in this conversation can open it once it has been checked.',
      place: () => ({ conversation_id: conversation.id, kind: 'attachment' }),
      onDone: () => panel.reload(),
    }));
  const attach = h('button', {
    type: 'button', class: 'button button--small button--secondary', 'aria-expanded': 'false',
  }, 'Attach file');
  attach.addEventListener('click', () => {
    attachPanel.hidden = !attachPanel.hidden;
    attach.setAttribute('aria-expanded', String(!attachPanel.hidden));
    if (!attachPanel.hidden) attachPanel.querySelector('input')?.focus();
  });
  const list = h('details', { class: 'thread__files' },
    h('summary', {}, 'Files in this conversation'),
    panel.element);

  return { attach, attachPanel, list, merge };
}

/* ------------------------------------------------------ "My documents" -- */

/** #/my-documents: a client's documents, those shared with them and their own. */
export async function render(ctx) {
  const list = await request('/api/v1/clients', { query: { limit: 1, offset: 0 }, signal: ctx.signal });
  const items = Array.isArray(list) ? list : (list && list.items) || [];
  if (!items.length) {
    return page(
      h('div', { class: 'page-header' }, heading('My documents')),
      emptyState('We could not find your record. Please speak to your keyworker.'));
  }
  const panel = documentsPanel(ctx, {
    place: 'client',
    id: items[0].id,
    title: 'Your files',
    intro: 'Documents your team has shared with you, and the ones you have added (such as your CV). Your team can see what you upload.',
    uploadKinds: ['cv', 'letters', 'forms', 'other'],
  });
  return page(h('div', { class: 'page-header' }, heading('My documents')), panel.element);
}
