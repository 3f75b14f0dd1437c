// Both sides of the waiting room (lobby): the client's (or another invitee's)
// wait until they are let in, and the "Waiting to join" panel of the staff who
// run the meeting, who admit or decline them (with a soft sound when someone
// arrives). The two sides exchange short notes ("Running 5 minutes late").

import * as rt from '../../realtime.js';
import { unlockSound } from '../../call.js';
import { h, uid, problemMessage } from '../../ui.js';

const LOBBY_MESSAGE_MAX = 280;

const messageTime = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit' });

/**
 * The waiting-room messages: a log and a one-line form.
 * send(text) → Promise; resolves when the server acknowledged it.
 * @param {{ label: string, hint: string, logLabel: string, send: (text: string) => Promise<unknown> }} options
 */
function lobbyChat({ label, hint, logLabel, send }) {
  const inputId = uid('lobby-message');
  const hintId = `${inputId}-hint`;
  const list = h('ol', { class: 'lobby-chat__log', role: 'log', 'aria-label': logLabel });
  const input = h('input', {
    id: inputId,
    class: 'input',
    type: 'text',
    name: 'text',
    maxlength: String(LOBBY_MESSAGE_MAX),
    autocomplete: 'off',
    'aria-describedby': hintId,
  });
  const error = h('p', { class: 'field__error', role: 'alert' });
  const button = h('button', { type: 'submit', class: 'button button--secondary' }, 'Send');
  const form = h('form', { class: 'lobby-chat__form', novalidate: true },
    h('label', { for: inputId, class: 'field__label' }, label),
    h('p', { id: hintId, class: 'field__hint' }, hint),
    error,
    h('div', { class: 'lobby-chat__row' }, input, button));

  /**
   * @param {string} who
   * @param {string} text
   * @param {string | null} at when it was sent (now if not given)
   * @param {boolean} own
   */
  const add = (who, text, at, own) => {
    const when = at ? new Date(at) : new Date();
    list.append(h('li', { class: ['lobby-chat__message', own ? 'lobby-chat__message--own' : null] },
      h('span', { class: 'lobby-chat__who' }, own ? 'You' : who),
      ' ',
      h('time', { class: 'lobby-chat__time', datetime: when.toISOString() }, messageTime.format(when)),
      h('span', { class: 'lobby-chat__text' }, text)));
    list.hidden = false;
  };
  list.hidden = true;

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text || button.getAttribute('aria-disabled') === 'true') {
      input.focus();
      return;
    }
    error.textContent = '';
    button.setAttribute('aria-disabled', 'true');
    try {
      await send(text);
      add('', text, null, true);
      input.value = '';
    } catch (failure) {
      error.textContent = `Not sent. ${problemMessage(failure)}`;
    } finally {
      button.removeAttribute('aria-disabled');
      input.focus();
    }
  });

  return { element: h('div', { class: 'lobby-chat' }, list, form), add };
}

/**
 * The waiting room as the person waiting sees it: their picture, a note, and
 * messages with the care team.
 * @param {import('./state.js').Room} room
 * @param {{ element: HTMLElement }} controls
 */
export function waitingRoom(room, controls) {
  const { selfTile, meetingId } = room;
  const chat = lobbyChat({
    label: 'Message your care team',
    hint: 'For example: “Running 5 minutes late”. Only your care team sees this.',
    logLabel: 'Messages with your care team',
    send: (text) => rt.request({ type: 'meeting.lobby_message', meeting_id: meetingId, text }),
  });

  function stage() {
    const titleId = uid('lobby');
    return h('div', { class: 'lobby' },
      h('div', { class: 'lobby__preview' }, selfTile.el),
      h('section', { class: 'lobby__panel card', 'aria-labelledby': titleId },
        h('h2', { id: titleId, tabindex: '-1' }, 'Waiting for your care team to let you in'),
        h('p', {}, 'You will join as soon as someone lets you in. Please keep this page open. You can check your camera and microphone while you wait.'),
        chat.element,
        controls.element));
  }

  return { stage, chat };
}

/**
 * "Waiting to join", beside the call for those who run it: who is waiting and
 * since when, Admit and Decline, the arrival sound, and messages to everyone
 * waiting.
 * @param {import('./state.js').Room} room
 */
export function waitingPanel(room) {
  const { state, meetingId, announce } = room;
  const waitingList = h('ul', { class: 'waiting-list' });
  const waitingEmpty = h('p', { class: 'muted waiting-list__empty' }, 'No one is waiting.');
  const waitingError = h('p', { class: 'field__error', role: 'alert' });
  const chat = lobbyChat({
    label: 'Message everyone waiting',
    hint: 'For example: “We will let you in in a moment”.',
    logLabel: 'Waiting room messages',
    send: (text) => rt.request({ type: 'meeting.lobby_message', meeting_id: meetingId, text }),
  });
  const soundId = uid('sound');
  const soundToggle = h('input', { id: soundId, type: 'checkbox', class: 'checkbox__input', checked: true });
  soundToggle.addEventListener('change', () => {
    state.soundAlerts = soundToggle.checked;
    if (soundToggle.checked) unlockSound();
  });
  const waitingTitle = uid('waiting');
  const element = h('section', { class: 'meeting__panel', 'aria-labelledby': waitingTitle },
    h('h2', { id: waitingTitle, class: 'meeting__panel-title' }, 'Waiting to join'),
    waitingError,
    waitingList,
    waitingEmpty,
    h('div', { class: 'checkbox' }, soundToggle,
      h('label', { for: soundId, class: 'checkbox__label' }, 'Play a sound when someone is waiting')),
    chat.element);

  function draw() {
    waitingList.replaceChildren(...state.waiting.map((w) => {
      const admit = h('button', { type: 'button', class: 'button button--small' }, 'Admit',
        h('span', { class: 'visually-hidden' }, ` ${w.name}`));
      const decline = h('button', { type: 'button', class: 'button button--small button--secondary' }, 'Decline',
        h('span', { class: 'visually-hidden' }, ` ${w.name}`));
      admit.addEventListener('click', () => decide(admit, 'meeting.admit', w));
      decline.addEventListener('click', () => decide(decline, 'meeting.decline', w));
      const since = w.since ? new Date(w.since) : null;
      return h('li', { class: 'waiting-list__item' },
        h('span', { class: 'waiting-list__name' }, w.name || 'Someone'),
        since && !Number.isNaN(since.getTime())
          ? h('span', { class: 'waiting-list__since' }, 'Waiting since ', h('time', { datetime: since.toISOString() }, messageTime.format(since)))
          : null,
        h('span', { class: 'button-row' }, admit, decline));
    }));
    waitingEmpty.hidden = state.waiting.length > 0;
    waitingList.hidden = state.waiting.length === 0;
  }

  async function decide(button, type, waiting) {
    if (button.getAttribute('aria-disabled') === 'true') return;
    button.setAttribute('aria-disabled', 'true');
    waitingError.textContent = '';
    try {
      await rt.request({ type, meeting_id: meetingId, participant_id: waiting.participant_id });
      announce(type === 'meeting.admit' ? `${waiting.name} was let in.` : `${waiting.name} was not let in.`);
    } catch (error) {
      waitingError.textContent = problemMessage(error);
      button.removeAttribute('aria-disabled');
    }
  }

  return { element, draw, chat };
}
