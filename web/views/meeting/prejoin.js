// Before joining: our own picture to check how we look and sound, what the
// browser found of camera and microphone, and "Join".

import { h, uid } from '../../ui.js';

/**
 * @param {import('./state.js').Room} room
 * @param {{ element: HTMLElement }} controls
 */
export function createPrejoin(room, controls) {
  const { state, selfTile, isClient, hooks } = room;
  const devicesNote = h('p', { class: 'prejoin__devices', role: 'status' }, 'Checking your camera and microphone…');
  const joinError = h('p', { class: 'field__error', role: 'alert' });
  const joinButton = h('button', { type: 'button', class: 'button prejoin__join' }, 'Join');
  joinButton.addEventListener('click', () => hooks.join());

  function drawDevicesNote() {
    const { media } = state;
    if (media.note) devicesNote.textContent = media.note;
    else if (media.audio && media.video) devicesNote.textContent = 'Your camera and microphone are ready. Check how you look and sound before joining.';
    else devicesNote.textContent = 'Checking your camera and microphone…';
    devicesNote.classList.toggle('prejoin__devices--warning', Boolean(media.note));
  }

  function stage() {
    const titleId = uid('prejoin');
    return h('div', { class: 'prejoin' },
      h('div', { class: 'prejoin__preview' }, selfTile.el),
      h('section', { class: 'prejoin__panel card', 'aria-labelledby': titleId },
        h('h2', { id: titleId }, 'Ready to join?'),
        devicesNote,
        h('p', { class: 'muted' }, isClient
          ? 'When you join, you will wait in a waiting room until someone from your care team lets you in.'
          : 'You will join straight away. Anyone waiting to be let in will show here.'),
        joinError,
        h('div', { class: 'button-row' }, joinButton),
        controls.element));
  }

  /** "Join" was pressed: it waits for the answer. */
  function joining() {
    joinButton.setAttribute('aria-disabled', 'true');
    joinButton.textContent = 'Joining…';
    joinError.textContent = '';
  }

  /** @param {string} message why joining did not work; "Join" can be pressed again */
  function failed(message) {
    joinButton.removeAttribute('aria-disabled');
    joinButton.textContent = 'Join';
    joinError.textContent = message;
  }

  return { stage, drawDevicesNote, joining, failed };
}
