// When a save is refused with 412 (someone saved since the version read):
// their version beside ours, section by section, and the person chooses.
// "Re-apply my change" keeps their sections wherever we changed nothing and
// puts ours on top; "Use theirs" drops our unsaved changes. Nothing is ever
// overwritten silently.

import { h, uid, time } from '../../ui.js';
import {
  SECTIONS, SECTION_TITLES, normalise, changedSections, sectionList, clone, dirtySections,
} from './state.js';
import { readHistory } from './requests.js';

/**
 * Their version, from the 412's problem (`current`), and the versions saved since ours, from the
 * history (who saved is a nicety: without it the comparison still works). Null when the problem
 * carries no current version.
 * @param {any} failure  the ApiError of the refused save
 * @param {{ clientId: string, signal: AbortSignal, since: number }} options  since: our base version
 * @returns {Promise<{ theirs: import('./state.js').PlanVersion, versions: any[] } | null>}
 */
export async function readConflict(failure, { clientId, signal, since }) {
  const current = failure.problem && failure.problem.current;
  if (!current) return null;
  const theirs = {
    version: Number(current.version) || 0,
    content: normalise(current.content),
    etag: (failure.headers && failure.headers.get('ETag')) || `"${Number(current.version) || 0}"`,
    updated_by_name: null,
    updated_at: null,
  };
  let versions = [];
  try {
    const all = await readHistory(clientId, { signal });
    versions = (Array.isArray(all) ? all : []).filter((v) => v.version > since && v.version <= theirs.version);
  } catch {
    // Who saved is a nicety; the comparison works without it.
  }
  const latest = versions[versions.length - 1];
  if (latest) {
    theirs.updated_by_name = latest.changed_by_name;
    theirs.updated_at = latest.changed_at;
  }
  return { theirs, versions };
}

/** Their version with our changed sections on top; the conflict is over. @param {import('./state.js').PlanState} state */
export function reapplyMine(state) {
  const { theirs } = state.conflict;
  const merged = clone(theirs.content);
  for (const key of dirtySections(state)) merged[key] = clone(state.draft[key]);
  state.base = theirs;
  state.draft = merged;
  state.conflict = null;
}

/** Their version, our unsaved changes dropped; the conflict is over. @param {import('./state.js').PlanState} state */
export function takeTheirs(state) {
  const { theirs } = state.conflict;
  state.base = theirs;
  state.draft = clone(theirs.content);
  state.conflict = null;
  state.message = `Showing version ${theirs.version}${theirs.updated_by_name ? `, saved by ${theirs.updated_by_name}` : ''}. Your changes were discarded.`;
}

/**
 * The place the comparison is shown, above the plan.
 * @param {object} options
 * @param {import('./state.js').PlanState} options.state
 * @param {import('./sections.js').ReadOnly} options.readOnly
 * @param {() => void} options.onReapply
 * @param {() => void} options.onUseTheirs
 */
export function conflictView({ state, readOnly, onReapply, onUseTheirs }) {
  const holder = h('div', {});

  /** Shows the comparison for state.conflict (and takes focus to it), or nothing without one. */
  function draw() {
    const { conflict } = state;
    if (!conflict) {
      holder.replaceChildren();
      return;
    }
    const { theirs, versions } = conflict;
    const mine = dirtySections(state);
    const theirsChanged = changedSections(state.base.content, theirs.content);
    const both = mine.filter((k) => theirsChanged.includes(k));
    const who = [...new Set(versions.map((v) => v.changed_by_name || 'Someone'))];
    const titleId = uid('conflict');
    const reapply = h('button', { type: 'button', class: 'button' }, 'Re-apply my change');
    const useTheirs = h('button', { type: 'button', class: 'button button--secondary' }, 'Use theirs');
    reapply.addEventListener('click', () => onReapply());
    useTheirs.addEventListener('click', () => onUseTheirs());

    const sections = SECTIONS.filter((k) => mine.includes(k) || theirsChanged.includes(k)).map((key) => {
      let note;
      let columns;
      if (both.includes(key)) {
        note = 'You both changed this section. If you re-apply your change, your version replaces theirs here.';
        columns = [
          h('div', { class: 'plan-compare__col' }, h('p', { class: 'plan-compare__label' }, 'Their version'), readOnly(key, theirs.content)),
          h('div', { class: 'plan-compare__col plan-compare__col--mine' }, h('p', { class: 'plan-compare__label' }, 'Your version'), readOnly(key, state.draft)),
        ];
      } else if (theirsChanged.includes(key)) {
        note = 'Changed by them. You did not change this section, so their version is kept.';
        columns = [h('div', { class: 'plan-compare__col' }, h('p', { class: 'plan-compare__label' }, 'Their version'), readOnly(key, theirs.content))];
      } else {
        note = 'Changed by you only. Re-applying your change keeps your version of this section.';
        columns = [h('div', { class: 'plan-compare__col plan-compare__col--mine' }, h('p', { class: 'plan-compare__label' }, 'Your version'), readOnly(key, state.draft))];
      }
      return h('div', { class: 'plan-compare' },
        h('h3', {}, SECTION_TITLES[key]),
        h('p', { class: 'plan-compare__note' }, note),
        h('div', { class: 'plan-compare__cols' }, columns));
    });

    const panel = h('section', { class: 'plan-conflict', 'aria-labelledby': titleId, tabindex: '-1' },
      h('h2', { id: titleId }, 'Someone else saved the plan while you were editing'),
      h('p', {},
        `${who.length ? who.join(' and ') : 'Someone'} saved version ${theirs.version}`,
        theirs.updated_at ? [' at ', time(theirs.updated_at, { withTime: true })] : '',
        '. Nothing has been overwritten: your changes are still here, not yet saved.'),
      versions.length ? h('ul', { class: 'plan-conflict__versions' }, versions.map((v) => h('li', {},
        `Version ${v.version} by ${v.changed_by_name || 'someone'}: ${sectionList(v.sections || [])}`))) : null,
      sections,
      h('div', { class: 'button-row plan-conflict__actions' }, reapply, useTheirs),
      h('p', { class: 'field__hint' },
        `“Re-apply my change” saves their version with your changes to ${sectionList(mine).toLowerCase() || 'nothing'} on top. `
        + '“Use theirs” drops your unsaved changes.'));
    holder.replaceChildren(panel);
    panel.focus();
    panel.scrollIntoView({ block: 'start' });
  }

  /** Takes the person to the comparison when one is shown; false when there is none. */
  function reveal() {
    const panel = /** @type {HTMLElement | null} */ (holder.firstElementChild);
    if (!state.conflict || !panel) return false;
    panel.focus();
    panel.scrollIntoView({ block: 'start' });
    return true;
  }

  return { element: holder, draw, reveal };
}
