// Page not found.

import { h, heading, page } from '../ui.js';

/**
 * @param {{ home?: string, detail?: string }} [options]
 */
export function render({ home = '#/', detail } = {}) {
  return page(
    h('div', { class: 'page-header' }, heading('Page not found')),
    h('p', {}, detail || 'If you typed the web address, check it is correct. If you followed a link, the page may have moved or you may not have access to it.'),
    h('p', {}, h('a', { href: home }, 'Go to your home page')));
}
