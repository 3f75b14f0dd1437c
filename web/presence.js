// Presence on screen: the coloured dot (always next to a text label, never
// colour alone) and the header's status menu.

import * as rt from './realtime.js';
import { h, uid } from './ui.js';

const KNOWN = new Set(['online', 'away', 'busy', 'in_session', 'offline']);

function safeState(state) {
  return KNOWN.has(state) ? state : 'offline';
}

/** A decorative dot; pair it with presenceText() or a label. */
export function presenceDot(state) {
  return h('span', { class: ['presence-dot', `presence-dot--${safeState(state).replace('_', '-')}`], 'aria-hidden': 'true' });
}

export function setDot(dot, state) {
  dot.className = `presence-dot presence-dot--${safeState(state).replace('_', '-')}`;
}

/**
 * The header's status menu: a menu button (WAI-ARIA menu pattern) with one
 * radio item per state. Returns the element; it keeps itself up to date.
 */
export function statusMenu() {
  const menuId = uid('status-menu');
  const dot = presenceDot(rt.ownState());
  const label = h('span', { class: 'status-menu__label' }, rt.presenceLabel(rt.ownState()));
  const button = h('button', {
    type: 'button',
    class: 'status-menu__button',
    'aria-haspopup': 'menu',
    'aria-expanded': 'false',
    'aria-controls': menuId,
  },
  h('span', { class: 'visually-hidden' }, 'Your status: '),
  dot,
  label,
  h('span', { class: 'status-menu__caret', 'aria-hidden': 'true' }));

  const items = rt.PRESENCE_STATES.map((state) => h('li', {
    role: 'menuitemradio',
    tabindex: '-1',
    class: 'status-menu__item',
    'aria-checked': 'false',
    dataset: { state },
  }, presenceDot(state), h('span', {}, rt.PRESENCE_LABELS[state])));
  const menu = h('ul', {
    id: menuId, role: 'menu', class: 'status-menu__list', 'aria-label': 'Set your status', hidden: true,
  }, items);
  const note = h('span', { class: 'visually-hidden', role: 'status' });
  const root = h('div', { class: 'status-menu' }, button, menu, note);

  function draw() {
    const state = rt.ownState();
    setDot(dot, state);
    label.textContent = rt.presenceLabel(state);
    for (const item of items) item.setAttribute('aria-checked', String(item.dataset.state === state));
  }

  function isOpen() {
    return !menu.hidden;
  }

  function openMenu(focusLast = false) {
    menu.hidden = false;
    button.setAttribute('aria-expanded', 'true');
    const checked = items.find((item) => item.getAttribute('aria-checked') === 'true');
    (focusLast ? items[items.length - 1] : checked || items[0]).focus();
    document.addEventListener('pointerdown', onOutside, true);
  }

  function closeMenu({ focusButton = true } = {}) {
    if (!isOpen()) return;
    menu.hidden = true;
    button.setAttribute('aria-expanded', 'false');
    document.removeEventListener('pointerdown', onOutside, true);
    if (focusButton) button.focus();
  }

  function onOutside(event) {
    if (!root.contains(event.target)) closeMenu({ focusButton: false });
  }

  async function choose(state) {
    closeMenu();
    try {
      await rt.setPresence(state);
      note.textContent = `Your status is now ${rt.presenceLabel(state)}.`;
    } catch (error) {
      note.textContent = `Your status could not be changed. ${error.message || ''}`.trim();
    }
  }

  button.addEventListener('click', () => (isOpen() ? closeMenu() : openMenu()));
  button.addEventListener('keydown', (event) => {
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      openMenu(event.key === 'ArrowUp');
    }
  });
  menu.addEventListener('click', (event) => {
    const item = event.target.closest('[role="menuitemradio"]');
    if (item) choose(item.dataset.state);
  });
  menu.addEventListener('keydown', (event) => {
    const index = items.indexOf(document.activeElement);
    const move = (to) => {
      event.preventDefault();
      items[(to + items.length) % items.length].focus();
    };
    switch (event.key) {
      case 'ArrowDown': move(index + 1); break;
      case 'ArrowUp': move(index - 1); break;
      case 'Home': move(0); break;
      case 'End': move(items.length - 1); break;
      case 'Escape':
        event.preventDefault();
        closeMenu();
        break;
      case 'Tab':
        closeMenu({ focusButton: false });
        break;
      case 'Enter':
      case ' ':
        event.preventDefault();
        if (index !== -1) choose(items[index].dataset.state);
        break;
      default: {
        // Type-ahead: the first item starting with the letter.
        const letter = event.key.length === 1 ? event.key.toLowerCase() : '';
        const found = letter && items.findIndex((item) => item.textContent.trim().toLowerCase().startsWith(letter));
        if (letter && found !== -1) move(found);
      }
    }
  });

  rt.on('self', draw);
  draw();
  return root;
}
