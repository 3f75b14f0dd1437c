// The plan's save bar: what state the plan is in (saved as version N, unsaved
// changes to which sections, saving, someone saved first), Save and Discard,
// and a warning when someone saved a newer version while there are unsaved
// edits here.

import { h, formatDateTime } from '../../ui.js';
import { sectionList, dirtySections } from './state.js';

/**
 * @param {object} options
 * @param {import('./state.js').PlanState} options.state
 * @param {boolean} options.isClient
 * @param {(dirty: string[]) => void} options.markUnsaved  shows which sections have unsaved changes
 */
export function saveBar({ state, isClient, markUnsaved }) {
  const remoteNote = h('div', { class: 'notice notice--warning plan-bar__remote', role: 'status' });
  const statusLine = h('p', { class: 'plan-bar__status', role: 'status' });
  const saveButton = h('button', { type: 'button', class: 'button' }, isClient ? 'Save my goals' : 'Save plan');
  const discardButton = h('button', { type: 'button', class: 'button button--secondary' }, 'Discard changes');
  const bar = h('div', { class: 'plan-bar' },
    remoteNote,
    h('div', { class: 'plan-bar__row' }, statusLine, h('div', { class: 'button-row' }, saveButton, discardButton)));

  function savedLine() {
    const { version, updated_by_name: by, updated_at: at } = state.base;
    if (!version) return 'Nothing has been saved in this plan yet.';
    return `Version ${version}, saved ${at ? formatDateTime(at) : ''}${by ? ` by ${by}` : ''}.`;
  }

  function draw() {
    const dirty = dirtySections(state);
    markUnsaved(dirty);
    discardButton.hidden = dirty.length === 0 || state.saving;
    if (state.saving) {
      statusLine.textContent = 'Saving…';
      saveButton.setAttribute('aria-disabled', 'true');
    } else if (state.conflict) {
      saveButton.removeAttribute('aria-disabled');
      statusLine.textContent = 'Someone else saved first: choose “Re-apply my change” or “Use theirs” above.';
    } else {
      saveButton.removeAttribute('aria-disabled');
      statusLine.textContent = dirty.length
        ? `Unsaved changes to ${sectionList(dirty)}.`
        : state.message || savedLine();
    }
    bar.classList.toggle('plan-bar--dirty', dirty.length > 0);
    if (state.remote && dirty.length) {
      remoteNote.textContent = `${state.remote.name} saved a newer version of this plan just now `
        + `(${sectionList(state.remote.sections)}). Your unsaved changes are kept: when you save, `
        + 'you will see both versions and choose how to merge them.';
      remoteNote.hidden = false;
    } else {
      remoteNote.textContent = '';
      remoteNote.hidden = true;
    }
  }

  return { element: bar, saveButton, discardButton, draw };
}
