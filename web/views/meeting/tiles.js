// A video tile: one person's picture in the call, named, with their initials
// when there is no picture and text flags for muted, camera off, sharing and
// hand raised.

import { h, uid } from '../../ui.js';
import { icon } from './icons.js';

/**
 * The initials shown in place of a picture ("Priya Shah" → "PS"); words in
 * brackets and words that do not start with a letter are left out.
 * @param {string} name
 */
export function initials(name) {
  const parts = String(name || '').replace(/\(.*?\)/g, ' ').trim().split(/\s+/)
    .filter((part) => /^\p{L}/u.test(part));
  if (!parts.length) return '?';
  const letters = parts.length === 1 ? parts[0].slice(0, 1) : parts[0].slice(0, 1) + parts[parts.length - 1].slice(0, 1);
  return letters.toUpperCase();
}

/**
 * @typedef {object} TileLook
 * @property {boolean} [audio]
 * @property {boolean} [video]
 * @property {boolean} [screen]
 * @property {boolean} [hand]
 * @property {string} [state] what is happening to their connection ("Reconnecting…"), or ""
 */

/**
 * @typedef {object} VideoTile
 * @property {HTMLElement} el
 * @property {HTMLVideoElement & { srcObject: MediaStream | null }} video it also plays their sound
 * @property {(text: string) => void} setName
 * @property {(stream: MediaStream | null) => void} setStream
 * @property {(look: TileLook) => void} show
 */

/**
 * A <figure> named after the person, the <video> (which also plays their
 * sound), their initials when there is no picture, and the flags.
 * @param {{ name: string, self?: boolean, suffix?: string }} options
 * @returns {VideoTile}
 */
export function videoTile({ name, self = false, suffix = '' }) {
  const nameId = uid('tile-name');
  const video = h('video', {
    class: 'tile__video',
    autoplay: true,
    playsinline: true,
    muted: self,
    dataset: self ? { local: 'true' } : { remote: 'true' },
  });
  video.muted = self; // the property, not only the attribute: never echo our own sound
  // The suffix (" (you)") is kept whole: on a small picture the name shortens with an ellipsis
  // instead of wrapping over the video.
  const whoEl = h('span', { class: 'tile__who' }, name);
  const nameEl = h('span', { id: nameId, class: 'tile__name' }, whoEl, suffix ? h('span', { class: 'tile__suffix' }, suffix) : null);
  const flags = h('span', { class: 'tile__flags' });
  const stateEl = h('span', { class: 'tile__state' });
  const playButton = h('button', { type: 'button', class: 'button button--small tile__play', hidden: true }, 'Play sound and video');
  const avatar = h('div', { class: 'tile__avatar', 'aria-hidden': 'true' }, h('span', { class: 'tile__initials' }, initials(name)));
  const el = h('figure', { class: ['tile', self ? 'tile--self' : null], 'aria-labelledby': nameId },
    video,
    avatar,
    playButton,
    h('figcaption', { class: 'tile__caption' }, nameEl, flags, stateEl));

  const play = () => {
    const attempt = video.play();
    if (attempt && typeof attempt.then === 'function') {
      attempt.then(() => {
        playButton.hidden = true;
      }).catch((error) => {
        // Blocked until the person interacts with the page: offer a button.
        if (error && error.name === 'NotAllowedError') playButton.hidden = false;
      });
    }
  };
  playButton.addEventListener('click', play);

  return {
    el,
    video,
    setName(text) {
      if (whoEl.textContent !== text) whoEl.textContent = text;
      el.querySelector('.tile__initials').textContent = initials(text);
    },
    setStream(stream) {
      if (video.srcObject !== stream) video.srcObject = stream;
      if (stream) play();
    },
    /** { audio, video, screen, hand, state } → flags and classes. */
    show({ audio = true, video: camera = true, screen = false, hand = false, state = '' }) {
      const items = [];
      if (!audio) items.push(['mic-off', 'Muted']);
      if (!camera && !screen) items.push(['camera-off', 'Camera off']);
      if (screen) items.push(['screen', 'Sharing screen']);
      if (hand) items.push(['hand', 'Hand raised']);
      const signature = JSON.stringify(items);
      if (flags.dataset.signature !== signature) {
        flags.dataset.signature = signature;
        flags.replaceChildren(...items.map(([name, text]) => h('span', { class: ['tile__flag', name === 'hand' ? 'tile__flag--hand' : null] }, icon(name), text)));
      }
      stateEl.textContent = state;
      stateEl.hidden = !state;
      el.classList.toggle('tile--no-video', !camera && !screen);
      el.classList.toggle('tile--screen', Boolean(screen));
      el.classList.toggle('tile--hand', Boolean(hand));
      el.classList.toggle('tile--waiting', Boolean(state));
    },
  };
}
