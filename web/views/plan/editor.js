// Editing the plan: a draft of the version read, saved whole with If-Match:
// <the ETag read>. A 412 means someone saved in between and shows the
// conflict view (conflict.js); a newer version arriving while there are no
// unsaved edits replaces the draft in place ("Updated by … just now").

import { problemMessage } from '../../ui.js';
import { fromView, planState, same, clone, dirtySections } from './state.js';
import { validate } from './validate.js';
import { savePlan } from './requests.js';
import { planSections } from './sections.js';
import { saveBar } from './bar.js';
import { problemSummary } from './problems.js';
import {
  conflictView, readConflict, reapplyMine as reapplyOnTheirs, takeTheirs as takeTheirsInto,
} from './conflict.js';

/**
 * @param {object} options
 * @param {import('../../app.js').ViewContext} options.ctx
 * @param {string} options.clientId
 * @param {import('./state.js').PlanVersion} options.base  the version read
 * @param {boolean} options.isClient
 * @param {string} options.firstName
 * @param {ReturnType<typeof import('./people.js').actionOwners>['ownerOptions']} options.ownerOptions
 * @param {import('./sections.js').ReadOnly} options.readOnly
 * @param {(itemId: string, context: string) => HTMLElement} options.commentBox
 * @param {() => void} options.refreshHistory
 */
export function planEditor({
  ctx, clientId, base, isClient, firstName, ownerOptions, readOnly, commentBox, refreshHistory,
}) {
  const state = planState(base);
  const sections = planSections({
    state, isClient, firstName, ownerOptions, readOnly, commentBox, edited, afterDraw: () => bar.draw(),
  });
  const bar = saveBar({ state, isClient, markUnsaved: sections.markUnsaved });
  const problems = problemSummary(sections.element);
  const conflict = conflictView({ state, readOnly, onReapply: reapplyMine, onUseTheirs: takeTheirs });
  const { saveButton, discardButton } = bar;
  const draw = sections.draw;
  const dirty = () => dirtySections(state);

  /** Called after every change to the draft. */
  function edited() {
    state.message = '';
    if (state.remote && !dirty().length && !state.saving) {
      applyRemote(state.remote); // the edits were undone: catch up now
      return;
    }
    bar.draw();
  }

  /**
   * Show a newer version in place of the draft (there are no unsaved edits to lose).
   * @param {import('./state.js').RemoteUpdate} update
   */
  function applyRemote(update) {
    state.base = {
      version: update.version,
      content: update.content,
      etag: `"${update.version}"`,
      updated_by_name: update.name,
      updated_at: update.at,
    };
    state.draft = clone(update.content);
    state.remote = null;
    state.message = `Updated by ${update.name} just now.`;
    draw();
    refreshHistory();
  }

  /**
   * A newer version saved elsewhere: shown at once when nothing here would be lost, else kept
   * for later and announced in the bar.
   * @param {import('./state.js').RemoteUpdate} update
   */
  function offerRemote(update) {
    if (!dirty().length && !state.saving && !state.conflict) applyRemote(update);
    else {
      state.remote = update;
      bar.draw();
    }
  }

  async function save() {
    if (state.saving) return;
    problems.clear();
    const changed = dirty();
    if (!changed.length) {
      state.message = 'There are no changes to save.';
      bar.draw();
      return;
    }
    const found = validate(state.draft, changed);
    if (found.length) {
      problems.show(found);
      return;
    }
    const sent = clone(state.draft);
    state.saving = true;
    bar.draw();
    try {
      const { data, headers } = await savePlan(clientId, sent, state.base.etag);
      if (!ctx.isCurrent()) return;
      state.saving = false;
      state.base = fromView(data, headers.get('ETag'));
      // Anything typed while the save was under way stays as an unsaved edit.
      if (same(state.draft, sent)) state.draft = clone(state.base.content);
      state.message = `Saved as version ${state.base.version}.`;
      if (state.remote && state.remote.version <= state.base.version) state.remote = null;
      if (state.remote && !dirty().length) {
        applyRemote(state.remote);
      } else {
        draw();
      }
      refreshHistory();
    } catch (failure) {
      if (!ctx.isCurrent()) return;
      state.saving = false;
      bar.draw();
      if (failure && failure.status === 412) {
        await showConflict(failure);
      } else if (failure && failure.status === 422 && failure.errors && failure.errors.length) {
        problems.show(failure.errors.map((e) => ({ key: null, message: `${e.field ? `${e.field}: ` : ''}${e.message}` })),
          problemMessage(failure));
      } else {
        problems.show([], problemMessage(failure));
      }
    }
  }

  async function showConflict(failure) {
    const found = await readConflict(failure, { clientId, signal: ctx.signal, since: state.base.version });
    if (!found) {
      problems.show([], problemMessage(failure));
      return;
    }
    if (!ctx.isCurrent()) return;
    state.conflict = found;
    state.remote = null;
    bar.draw();
    conflict.draw();
  }

  function reapplyMine() {
    reapplyOnTheirs(state);
    conflict.draw();
    draw();
    saveButton.focus();
    save();
  }

  function takeTheirs() {
    takeTheirsInto(state);
    conflict.draw();
    draw();
    refreshHistory();
    saveButton.focus();
  }

  saveButton.addEventListener('click', () => {
    if (saveButton.getAttribute('aria-disabled') === 'true') return;
    if (conflict.reveal()) return;
    save();
  });
  discardButton.addEventListener('click', () => {
    if (state.conflict) {
      takeTheirs();
      return;
    }
    problems.clear();
    state.draft = clone(state.base.content);
    state.message = 'Your unsaved changes were discarded.';
    if (state.remote) applyRemote(state.remote);
    else draw();
    saveButton.focus();
  });

  draw();
  return {
    state,
    /** The parts of the page, in the order they are shown. */
    elements: [conflict.element, problems.element, sections.element, bar.element],
    offerRemote,
  };
}
