// The plan's history: every saved version with who saved it, when and which
// sections changed, each one shown in full on request. Loaded when opened,
// and again after a save or a live update while it is open.

import { h, uid, time, problemMessage } from '../../ui.js';
import { SECTIONS, SECTION_TITLES, normalise, sectionList } from './state.js';
import { readHistory } from './requests.js';

/**
 * @param {object} options
 * @param {import('../../app.js').ViewContext} options.ctx
 * @param {string} options.clientId
 * @param {import('./sections.js').ReadOnly} options.readOnly
 */
export function planHistory({ ctx, clientId, readOnly }) {
  const historyBody = h('div', { class: 'plan-history__body' });
  const historyDetails = /** @type {HTMLDetailsElement} */ (h('details', { class: 'details plan-history' },
    h('summary', {}, 'Show version history'), historyBody));
  let historyLoading = null;

  async function loadHistory() {
    if (historyLoading) return historyLoading;
    historyLoading = (async () => {
      if (!historyBody.childElementCount) historyBody.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
      try {
        const all = await readHistory(clientId, { signal: ctx.signal });
        if (!ctx.isCurrent()) return;
        const versions = (Array.isArray(all) ? all : []).slice().reverse();
        historyBody.replaceChildren(versions.length
          ? h('ol', { class: 'plan-versions', reversed: true }, versions.map((v) => {
            const show = /** @type {HTMLDetailsElement} */ (h('details', { class: 'details plan-version__content' },
              h('summary', {}, `Show version ${v.version}`)));
            show.addEventListener('toggle', () => {
              if (!show.open || show.childElementCount > 1) return;
              const content = normalise(v.content);
              show.append(h('div', { class: 'plan-version__sections' }, SECTIONS.map((key) => h('div', { class: 'plan-version__section' },
                h('h3', {}, SECTION_TITLES[key]), readOnly(key, content)))));
            });
            return h('li', { class: 'plan-version' },
              h('p', { class: 'plan-version__title' },
                h('strong', {}, `Version ${v.version}`), ' · ', time(v.changed_at, { withTime: true }),
                ' · ', v.changed_by_name || 'Someone'),
              h('p', { class: 'plan-version__sections-changed' }, `Changed: ${sectionList(v.sections || []) || 'nothing'}`),
              show);
          }))
          : h('p', { class: 'muted' }, 'No versions have been saved yet.'));
      } catch (failure) {
        if (!ctx.isCurrent() || (failure && failure.name === 'AbortError')) return;
        historyBody.replaceChildren(h('p', { class: 'field__error' }, `The history could not be loaded. ${problemMessage(failure)}`));
      } finally {
        historyLoading = null;
      }
    })();
    return historyLoading;
  }

  /** Reloads the history when it is open (after a save or an update). */
  function refresh() {
    if (historyDetails.open) loadHistory();
  }
  historyDetails.addEventListener('toggle', () => {
    if (historyDetails.open) loadHistory();
  });

  const titleId = uid('history');
  const element = h('section', { class: 'section plan-history-section', 'aria-labelledby': titleId },
    h('h2', { id: titleId }, 'History'),
    h('p', { class: 'section__intro' }, 'Every saved version: who saved it, when, and which sections changed.'),
    historyDetails);
  return { element, refresh };
}
