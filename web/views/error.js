// Error pages: no access, and a general failure with "Try again".

import { h, heading, page, problemMessage } from '../ui.js';

/**
 * @param {{ home?: string, detail?: string }} [options]
 */
export function renderForbidden({ home = '#/', detail } = {}) {
  return page(
    h('div', { class: 'page-header' }, heading('You do not have access to this page')),
    h('p', {}, detail || 'Your role does not include this part of Teamwell. If you think you need access, ask your administrator.'),
    h('p', {}, h('a', { href: home }, 'Go to your home page')));
}

/**
 * @param {{ error?: any, onRetry?: () => void }} [options]
 */
export function render({ error, onRetry } = {}) {
  const offline = error && error.status === 0;
  return page(
    h('div', { class: 'page-header' },
      heading(offline ? 'We could not reach Teamwell' : 'Sorry, something went wrong')),
    h('div', { class: 'error-summary', role: 'alert' }, h('p', { class: 'error-summary__detail' }, problemMessage(error))),
    onRetry ? h('p', {}, h('button', { type: 'button', class: 'button', onclick: onRetry }, 'Try again')) : null);
}
