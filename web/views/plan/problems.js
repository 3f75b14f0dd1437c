// The plan's error summary: what stops a save, listed at the top of the page
// and linked to each field it belongs to, which shows it beside itself too
// (aria-invalid, and the message named by aria-describedby).

import { h } from '../../ui.js';

/**
 * @param {HTMLElement} sectionsEl  where the plan's controls are (found by data-key)
 */
export function problemSummary(sectionsEl) {
  const summary = h('div', { class: 'error-summary', role: 'alert', tabindex: '-1' });
  const fieldErrors = {
    /** @type {HTMLElement[]} */
    shown: [],
    clear() {
      for (const el of this.shown) {
        const wrapper = el.closest('.field');
        if (wrapper) {
          wrapper.classList.remove('field--error');
          const message = wrapper.querySelector(':scope > .field__error');
          if (message) message.remove();
        }
        el.removeAttribute('aria-invalid');
        if (el.dataset.describedby !== undefined) {
          if (el.dataset.describedby) el.setAttribute('aria-describedby', el.dataset.describedby);
          else el.removeAttribute('aria-describedby');
          delete el.dataset.describedby;
        }
      }
      this.shown = [];
    },
    set(key, message) {
      const el = /** @type {HTMLElement | null} */ (sectionsEl.querySelector(`[data-key="${CSS.escape(key)}"]`));
      const wrapper = el && el.closest('.field');
      if (!el || !wrapper) return null;
      const errorId = `${el.id}-error`;
      wrapper.classList.add('field--error');
      el.before(h('p', { id: errorId, class: 'field__error' }, h('span', { class: 'visually-hidden' }, 'Error: '), message));
      el.dataset.describedby = el.getAttribute('aria-describedby') || '';
      el.setAttribute('aria-describedby', [el.dataset.describedby, errorId].filter(Boolean).join(' '));
      el.setAttribute('aria-invalid', 'true');
      this.shown.push(el);
      return el;
    },
  };

  /**
   * @param {import('./validate.js').PlanProblem[]} problems
   * @param {string} [detail]  the summary's title
   */
  function show(problems, detail = 'There is a problem') {
    summary.replaceChildren(
      h('h2', { class: 'error-summary__title' }, detail),
      problems.length ? h('ul', { class: 'error-summary__list' }, problems.map(({ key, message }) => {
        const target = key ? fieldErrors.set(key, message) : null;
        if (!target) return h('li', {}, message);
        const link = h('a', { href: `#${target.id}` }, message);
        link.addEventListener('click', (event) => {
          event.preventDefault();
          target.focus();
        });
        return h('li', {}, link);
      })) : null);
    summary.focus();
  }

  function clear() {
    summary.replaceChildren();
    fieldErrors.clear();
  }

  return { element: summary, show, clear };
}
