// The plan kept live: plan.updated for this client brings a newer version
// (shown in place, or announced while there are unsaved edits), plan.comment
// a new comment, and after a reconnection whatever was missed is read again.
// Leaving the page with unsaved edits asks first.

import * as rt from '../../realtime.js';
import {
  SECTIONS, normalise, fromView, changedSections, dirtySections,
} from './state.js';
import { readPlan, readComments } from './requests.js';

/**
 * @param {object} options
 * @param {import('../../app.js').ViewContext} options.ctx
 * @param {any} options.client
 * @param {ReturnType<typeof import('./editor.js').planEditor>} options.editor
 * @param {(comment: any) => boolean} options.addComment
 * @returns {(() => void)[]} what undoes it, for when the page is left
 */
export function followPlan({ ctx, client, editor, addComment }) {
  const { state } = editor;
  const cleanups = [];

  cleanups.push(rt.on('plan.updated', (frame) => {
    if (!frame || String(frame.client_id) !== String(client.id)) return;
    const version = Number(frame.version) || 0;
    if (version <= state.base.version) return;
    if (state.remote && version <= state.remote.version) return;
    const mineNow = state.saving && String(frame.updated_by) === String(ctx.user.id);
    if (mineNow) return; // our own save: its response brings the new version
    const update = {
      version,
      content: normalise(frame.content),
      name: String(frame.updated_by) === String(ctx.user.id) ? 'you (in another window)' : frame.updated_by_name || 'Someone',
      sections: Array.isArray(frame.sections) ? frame.sections : [],
      at: new Date().toISOString(),
    };
    // Several saves while we edit: say every section they changed.
    if (state.remote) update.sections = SECTIONS.filter((k) => update.sections.includes(k) || state.remote.sections.includes(k));
    editor.offerRemote(update);
  }));

  cleanups.push(rt.on('plan.comment', (frame) => {
    if (!frame || String(frame.client_id) !== String(client.id)) return;
    addComment(frame.comment);
  }));

  // After a reconnection, catch up on anything missed.
  cleanups.push(rt.on('connected', async ({ resumed }) => {
    if (!resumed) return;
    try {
      const [fresh, all] = await Promise.all([
        readPlan(client.id, { signal: ctx.signal }),
        readComments(client.id, { signal: ctx.signal }),
      ]);
      if (!ctx.isCurrent()) return;
      for (const c of Array.isArray(all) ? all : []) addComment(c);
      const view = fromView(fresh.data, fresh.headers.get('ETag'));
      if (view.version <= state.base.version) return;
      editor.offerRemote({
        version: view.version, content: view.content, name: view.updated_by_name || 'Someone', sections: changedSections(state.base.content, view.content), at: view.updated_at,
      });
    } catch {
      // The next update or reload will do.
    }
  }));

  const beforeUnload = (event) => {
    if (dirtySections(state).length) {
      event.preventDefault();
      event.returnValue = '';
    }
  };
  window.addEventListener('beforeunload', beforeUnload);
  cleanups.push(() => window.removeEventListener('beforeunload', beforeUnload));
  return cleanups;
}
