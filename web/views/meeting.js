// A meeting room (#/meetings/<id>): camera and microphone check, the waiting
// room (lobby) for clients, and the call itself with video tiles and controls.
//
// Phases: "prejoin" → ("lobby" →) "room" → "over". Signalling is the /ws
// contract in docs/meetings-protocol.md; the peer connections live in
// call.js. Staff who join directly run the meeting: they see who is waiting
// (with a soft sound when someone arrives), admit or decline them, can
// remove someone and end the meeting for everyone.

import * as api from '../api.js';
import * as rt from '../realtime.js';
import {
  openLocalMedia, openCamera, openScreen, createMesh, unlockSound, chime,
} from '../call.js';
import { h, heading, page, uid, problemMessage, roleLabel } from '../ui.js';

export const KIND_LABELS = {
  client_session: 'Client session',
  case_meeting: 'Case meeting',
  supervision: 'Supervision',
};

const LOBBY_MESSAGE_MAX = 280;
const CONNECT_TIMEOUT_MS = 20_000;

const longDay = new Intl.DateTimeFormat('en-GB', {
  weekday: 'long', day: 'numeric', month: 'long', hour: '2-digit', minute: '2-digit',
});
const clockTime = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit' });

/** "Tuesday 3 March at 14:00 to 15:00" (or both ends in full across midnight). */
export function meetingWhen(meeting) {
  const start = new Date(meeting.starts_at);
  const end = new Date(meeting.ends_at);
  if (Number.isNaN(start.getTime())) return '';
  if (Number.isNaN(end.getTime())) return longDay.format(start);
  const sameDay = start.toDateString() === end.toDateString();
  return `${longDay.format(start)} to ${sameDay ? clockTime.format(end) : longDay.format(end)}`;
}

/* --------------------------------------------------------------- icons -- */

const SVG_NS = 'http://www.w3.org/2000/svg';

// Line icons (after Feather and Lucide, MIT/ISC): [tag, attributes] pairs.
const ICONS = {
  mic: [
    ['path', { d: 'M12 1a3 3 0 0 0-3 3v8a3 3 0 0 0 6 0V4a3 3 0 0 0-3-3z' }],
    ['path', { d: 'M19 10v2a7 7 0 0 1-14 0v-2' }],
    ['line', { x1: 12, y1: 19, x2: 12, y2: 23 }],
    ['line', { x1: 8, y1: 23, x2: 16, y2: 23 }],
  ],
  'mic-off': [
    ['line', { x1: 1, y1: 1, x2: 23, y2: 23 }],
    ['path', { d: 'M9 9v3a3 3 0 0 0 5.12 2.12M15 9.34V4a3 3 0 0 0-5.94-.6' }],
    ['path', { d: 'M17 16.95A7 7 0 0 1 5 12v-2m14 0v2a7 7 0 0 1-.11 1.23' }],
    ['line', { x1: 12, y1: 19, x2: 12, y2: 23 }],
    ['line', { x1: 8, y1: 23, x2: 16, y2: 23 }],
  ],
  camera: [
    ['polygon', { points: '23 7 16 12 23 17 23 7' }],
    ['rect', { x: 1, y: 5, width: 15, height: 14, rx: 2, ry: 2 }],
  ],
  'camera-off': [
    ['path', { d: 'M16 16v1a2 2 0 0 1-2 2H3a2 2 0 0 1-2-2V7a2 2 0 0 1 2-2h2m5.66 0H14a2 2 0 0 1 2 2v3.34l1 1L23 7v10' }],
    ['line', { x1: 1, y1: 1, x2: 23, y2: 23 }],
  ],
  screen: [
    ['rect', { x: 2, y: 3, width: 20, height: 14, rx: 2, ry: 2 }],
    ['line', { x1: 8, y1: 21, x2: 16, y2: 21 }],
    ['line', { x1: 12, y1: 17, x2: 12, y2: 21 }],
  ],
  hand: [
    ['path', { d: 'M18 11V6a2 2 0 0 0-4 0' }],
    ['path', { d: 'M14 10V4a2 2 0 0 0-4 0v2' }],
    ['path', { d: 'M10 10.5V6a2 2 0 0 0-4 0v8' }],
    ['path', { d: 'M18 8a2 2 0 1 1 4 0v6a8 8 0 0 1-8 8h-2c-2.8 0-4.5-.86-5.99-2.34l-3.6-3.6a2 2 0 0 1 2.83-2.82L7 15' }],
  ],
  leave: [
    ['path', { d: 'M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4' }],
    ['polyline', { points: '16 17 21 12 16 7' }],
    ['line', { x1: 21, y1: 12, x2: 9, y2: 12 }],
  ],
};

function icon(name) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('class', 'icon');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  for (const [tag, attributes] of ICONS[name] || []) {
    const part = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attributes)) part.setAttribute(key, String(value));
    svg.append(part);
  }
  return svg;
}

/* ---------------------------------------------------------------- page -- */

/** @param {import('../app.js').ViewContext} ctx */
export async function render(ctx) {
  let meeting;
  try {
    meeting = await api.request(`/api/v1/meetings/${encodeURIComponent(ctx.params.id)}`, { signal: ctx.signal });
  } catch (error) {
    if (error && error.status === 410) return closedPage(ctx, null, 'This meeting has ended.');
    throw error;
  }
  if (meeting.cancelled_at) return closedPage(ctx, meeting, 'This meeting was cancelled.');
  if (meeting.state === 'ended') return closedPage(ctx, meeting, 'This meeting has ended.');
  return meetingRoom(ctx, meeting);
}

function backLink(ctx, meeting) {
  if (ctx.user.role === 'client') return h('a', { href: '#/my-record' }, 'Back to my record');
  if (meeting && meeting.client_id) {
    return h('a', { href: `#/clients/${encodeURIComponent(meeting.client_id)}` }, 'Back to the client’s record');
  }
  return h('a', { href: '#/clients' }, 'Back to clients');
}

function closedPage(ctx, meeting, message) {
  return page(
    h('div', { class: 'page-header page-header--compact' },
      h('p', { class: 'messaging__back' }, backLink(ctx, meeting)),
      heading(meeting ? meeting.title : 'Meeting')),
    h('div', { class: 'notice', role: 'status' }, message));
}

function initials(name) {
  const parts = String(name || '').replace(/\(.*?\)/g, ' ').trim().split(/\s+/)
    .filter((part) => /^\p{L}/u.test(part));
  if (!parts.length) return '?';
  const letters = parts.length === 1 ? parts[0].slice(0, 1) : parts[0].slice(0, 1) + parts[parts.length - 1].slice(0, 1);
  return letters.toUpperCase();
}

/* --------------------------------------------------------------- tiles -- */

/**
 * A video tile: <figure> named after the person, the <video> (which also
 * plays their sound), their initials when there is no picture, and text
 * flags for muted / camera off / sharing / hand raised.
 */
function videoTile({ name, self = false, suffix = '' }) {
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

/* ------------------------------------------------------- small widgets -- */

/** A call control: icon + visible label that changes with the state. */
function controlButton(extraClass) {
  const iconSlot = h('span', { class: 'call-control__icon' });
  const text = h('span', { class: 'call-control__label' });
  const button = h('button', { type: 'button', class: ['button', 'button--secondary', 'call-control', extraClass] }, iconSlot, text);
  return {
    element: button,
    set(iconName, label, { active = false, disabled = false } = {}) {
      iconSlot.replaceChildren(icon(iconName));
      text.textContent = label;
      button.classList.toggle('call-control--active', active);
      button.disabled = disabled;
    },
  };
}

/**
 * A button that asks first: the first click shows "question [confirm] [Cancel]"
 * in place. `action` runs on confirm.
 */
function confirmingButton({ label, hiddenLabel = '', question, confirmLabel, className, action }) {
  const start = h('button', { type: 'button', class: ['button', 'button--small', className] }, label,
    hiddenLabel ? h('span', { class: 'visually-hidden' }, ` ${hiddenLabel}`) : null);
  const yes = h('button', { type: 'button', class: 'button button--small button--danger' }, confirmLabel);
  const no = h('button', { type: 'button', class: 'button button--small button--secondary' }, 'Cancel');
  const ask = h('span', { class: 'confirm', role: 'group', 'aria-label': question, hidden: true },
    h('span', { class: 'confirm__question' }, question), ' ', yes, ' ', no);
  const element = h('span', { class: 'confirming' }, start, ask);
  start.addEventListener('click', () => {
    start.hidden = true;
    ask.hidden = false;
    yes.focus();
  });
  no.addEventListener('click', () => {
    ask.hidden = true;
    start.hidden = false;
    start.focus();
  });
  yes.addEventListener('click', async () => {
    if (yes.getAttribute('aria-disabled') === 'true') return;
    yes.setAttribute('aria-disabled', 'true');
    try {
      await action();
    } finally {
      yes.removeAttribute('aria-disabled');
      ask.hidden = true;
      start.hidden = false;
    }
  });
  return element;
}

const messageTime = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit' });

/**
 * The waiting-room messages: a log and a one-line form.
 * send(text) → Promise; resolves when the server acknowledged it.
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

/* ---------------------------------------------------------------- room -- */

function meetingRoom(ctx, meeting) {
  const meetingId = String(meeting.id);
  const isClient = ctx.user.role === 'client';
  const myName = ctx.user.display_name || 'You';

  const state = {
    phase: 'prejoin', // prejoin | joining | lobby | room | over
    media: { stream: null, audio: null, video: null, note: '' },
    mediaReady: null,
    micOn: true,
    cameraOn: true,
    screen: null, // the screen track while sharing
    hand: false,
    selfId: null,
    canManage: false,
    wasInLobby: false,
    iceServers: [],
    people: new Map(), // participant_id → { info, tile, connection, item }
    waiting: [],
    seenWaiting: new Set(),
    mesh: null,
    soundAlerts: true,
    rejoining: false,
  };
  const cleanups = [];

  /* ----- page furniture ----- */

  const announcer = h('div', { class: 'visually-hidden', role: 'status', 'aria-live': 'polite' });
  const statusNote = h('div', { class: 'notice notice--warning meeting__notice', role: 'status', hidden: true });
  const stage = h('div', { class: 'meeting__stage' });
  const selfTile = videoTile({ name: myName, suffix: ' (you)', self: true });

  function announce(text) {
    announcer.textContent = '';
    setTimeout(() => {
      announcer.textContent = text;
    }, 100);
  }

  function showStatus(text, kind = 'warning') {
    statusNote.textContent = text || '';
    statusNote.className = `notice notice--${kind} meeting__notice`;
    statusNote.hidden = !text;
  }

  /* ----- local media ----- */

  function currentVideoTrack() {
    if (state.screen) return state.screen;
    return state.cameraOn ? state.media.video : null;
  }

  function refreshSelf() {
    const track = currentVideoTrack();
    const current = selfTile.video.srcObject;
    const shown = current && current.getVideoTracks()[0];
    if (shown !== track) selfTile.setStream(track ? new MediaStream([track]) : null);
    selfTile.show({
      audio: state.micOn && Boolean(state.media.audio),
      video: Boolean(state.cameraOn && state.media.video),
      screen: Boolean(state.screen),
      hand: state.hand,
    });
    if (state.phase === 'room') drawPeopleList();
  }

  function mediaState() {
    return {
      audio: state.micOn && Boolean(state.media.audio),
      video: Boolean(state.cameraOn && state.media.video),
      screen: Boolean(state.screen),
      hand: state.hand,
    };
  }

  function sendMedia() {
    if (state.phase !== 'room') return;
    rt.send({ type: 'meeting.media', meeting_id: meetingId, ...mediaState() });
  }

  function stopLocalMedia() {
    for (const track of [state.media.audio, state.media.video, state.screen]) {
      if (track) track.stop();
    }
    state.media = { stream: null, audio: null, video: null, note: '' };
    state.screen = null;
    selfTile.setStream(null);
  }

  // Opened for the prejoin preview, and again when the call is taken back from another device.
  const startLocalMedia = () => openLocalMedia().then((media) => {
    if (state.phase === 'over' || ctx.signal.aborted) {
      for (const track of media.stream.getTracks()) track.stop();
      return;
    }
    state.media = media;
    if (!media.audio) state.micOn = false;
    if (!media.video) state.cameraOn = false;
    if (state.mesh) {
      state.mesh.setTrack('audio', media.audio);
      state.mesh.setTrack('video', currentVideoTrack());
    }
    refreshSelf();
    drawControls();
    drawDevicesNote();
    sendMedia();
  });
  state.mediaReady = startLocalMedia();

  function setMic(on) {
    if (!state.media.audio) return;
    state.micOn = on;
    state.media.audio.enabled = on;
    refreshSelf();
    drawControls();
    sendMedia();
    announce(on ? 'Microphone on.' : 'You are muted.');
  }

  async function setCamera(on) {
    if (on) {
      if (!state.media.video || state.media.video.readyState === 'ended') {
        try {
          const track = await openCamera();
          if (state.phase === 'over') {
            track.stop();
            return;
          }
          state.media.video = track;
        } catch (error) {
          showStatus(error && error.name === 'NotAllowedError'
            ? 'Teamwell is not allowed to use your camera. You can allow it in your browser’s site settings.'
            : 'Your camera could not be started. Check that no other program is using it.');
          return;
        }
      }
      state.cameraOn = true;
    } else {
      state.cameraOn = false;
      if (state.media.video) state.media.video.stop(); // the camera light goes off
      state.media.video = null;
    }
    if (state.mesh && !state.screen) await state.mesh.setTrack('video', currentVideoTrack());
    refreshSelf();
    drawControls();
    sendMedia();
    announce(on ? 'Camera on.' : 'Camera off.');
  }

  async function startScreenShare() {
    let track;
    try {
      track = await openScreen(); // first: it needs the click's user activation
    } catch (error) {
      const name = error && error.name;
      if (name === 'NotAllowedError' || name === 'AbortError') {
        showStatus('Your screen is not being shared: sharing was cancelled or is not allowed.', 'info');
      } else if (name === 'NotSupportedError') {
        showStatus('Screen sharing is not available in this browser.', 'info');
      } else {
        showStatus('Your screen could not be shared. Try again, or choose a different window.');
      }
      return;
    }
    if (state.phase !== 'room') {
      track.stop();
      return;
    }
    showStatus('');
    state.screen = track;
    track.addEventListener('ended', () => {
      if (state.screen === track) stopScreenShare();
    });
    if (state.mesh) await state.mesh.setTrack('video', track);
    refreshSelf();
    drawControls();
    sendMedia();
    announce('You are sharing your screen.');
  }

  async function stopScreenShare() {
    const track = state.screen;
    state.screen = null;
    if (track) track.stop();
    if (state.mesh) await state.mesh.setTrack('video', currentVideoTrack());
    refreshSelf();
    drawControls();
    sendMedia();
    announce('You stopped sharing your screen.');
  }

  function setHand(up) {
    state.hand = up;
    refreshSelf();
    drawControls();
    sendMedia();
    announce(up ? 'Your hand is raised.' : 'Your hand is lowered.');
  }

  /* ----- controls ----- */

  const mic = controlButton();
  const camera = controlButton();
  const screen = controlButton();
  const hand = controlButton();
  const leave = controlButton('call-control--leave');
  mic.element.addEventListener('click', () => setMic(!state.micOn));
  camera.element.addEventListener('click', () => setCamera(!state.cameraOn));
  screen.element.addEventListener('click', () => (state.screen ? stopScreenShare() : startScreenShare()));
  hand.element.addEventListener('click', () => setHand(!state.hand));
  leave.element.addEventListener('click', () => leaveMeeting());

  const endAll = confirmingButton({
    label: 'End meeting for all',
    question: 'End the meeting for everyone?',
    confirmLabel: 'End meeting',
    className: 'button--danger call-control--end',
    action: endMeeting,
  });

  const controls = h('div', { class: 'call-controls', role: 'group', 'aria-label': 'Call controls' },
    mic.element, camera.element, screen.element, hand.element, leave.element, endAll);

  function drawControls() {
    const hasMic = Boolean(state.media.audio);
    mic.set(state.micOn && hasMic ? 'mic' : 'mic-off',
      hasMic ? (state.micOn ? 'Mute' : 'Unmute') : 'No microphone',
      { active: !state.micOn, disabled: !hasMic });
    camera.set(state.cameraOn ? 'camera' : 'camera-off', state.cameraOn ? 'Turn camera off' : 'Turn camera on',
      { active: !state.cameraOn });
    screen.set('screen', state.screen ? 'Stop sharing' : 'Share screen', { active: Boolean(state.screen) });
    hand.set('hand', state.hand ? 'Lower hand' : 'Raise hand', { active: state.hand });
    leave.set('leave', state.phase === 'lobby' ? 'Leave the waiting room' : 'Leave');
    const inRoom = state.phase === 'room';
    screen.element.hidden = !inRoom;
    hand.element.hidden = !inRoom;
    leave.element.hidden = !(inRoom || state.phase === 'lobby');
    endAll.hidden = !(inRoom && state.canManage);
    controls.hidden = state.phase === 'over' || state.phase === 'joining';
  }

  /* ----- pre-join ----- */

  const devicesNote = h('p', { class: 'prejoin__devices', role: 'status' }, 'Checking your camera and microphone…');
  const joinError = h('p', { class: 'field__error', role: 'alert' });
  const joinButton = h('button', { type: 'button', class: 'button prejoin__join' }, 'Join');
  joinButton.addEventListener('click', () => join());

  function drawDevicesNote() {
    const { media } = state;
    if (media.note) devicesNote.textContent = media.note;
    else if (media.audio && media.video) devicesNote.textContent = 'Your camera and microphone are ready. Check how you look and sound before joining.';
    else devicesNote.textContent = 'Checking your camera and microphone…';
    devicesNote.classList.toggle('prejoin__devices--warning', Boolean(media.note));
  }

  function prejoinStage() {
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
        controls));
  }

  /* ----- the waiting room (lobby) ----- */

  const clientChat = lobbyChat({
    label: 'Message your care team',
    hint: 'For example: “Running 5 minutes late”. Only your care team sees this.',
    logLabel: 'Messages with your care team',
    send: (text) => rt.request({ type: 'meeting.lobby_message', meeting_id: meetingId, text }),
  });

  function lobbyStage() {
    const titleId = uid('lobby');
    return h('div', { class: 'lobby' },
      h('div', { class: 'lobby__preview' }, selfTile.el),
      h('section', { class: 'lobby__panel card', 'aria-labelledby': titleId },
        h('h2', { id: titleId, tabindex: '-1' }, 'Waiting for your care team to let you in'),
        h('p', {}, 'You will join as soon as someone lets you in. Please keep this page open. You can check your camera and microphone while you wait.'),
        clientChat.element,
        controls));
  }

  /* ----- the call ----- */

  const tiles = h('div', { class: 'tiles' });
  const alone = h('p', { class: 'meeting__alone' }, 'No one else is here yet.');
  const videoArea = h('div', { class: 'meeting__video-area' }, tiles, alone);

  /** Our own tile floats in a corner once someone else is here; alone, it fills the area. */
  function drawVideoArea() {
    const others = state.people.size;
    videoArea.classList.toggle('meeting__video-area--alone', others === 0);
    alone.hidden = others > 0;
    if (state.phase === 'room' && selfTile.el.parentNode !== videoArea) videoArea.append(selfTile.el);
  }
  const peopleList = h('ul', { class: 'people-in-call' });
  const waitingList = h('ul', { class: 'waiting-list' });
  const waitingEmpty = h('p', { class: 'muted waiting-list__empty' }, 'No one is waiting.');
  const waitingError = h('p', { class: 'field__error', role: 'alert' });
  const staffChat = lobbyChat({
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
  const waitingPanel = h('section', { class: 'meeting__panel', 'aria-labelledby': waitingTitle },
    h('h2', { id: waitingTitle, class: 'meeting__panel-title' }, 'Waiting to join'),
    waitingError,
    waitingList,
    waitingEmpty,
    h('div', { class: 'checkbox' }, soundToggle,
      h('label', { for: soundId, class: 'checkbox__label' }, 'Play a sound when someone is waiting')),
    staffChat.element);
  const peopleTitle = uid('in-call');
  const peoplePanel = h('section', { class: 'meeting__panel', 'aria-labelledby': peopleTitle },
    h('h2', { id: peopleTitle, class: 'meeting__panel-title' }, 'In this meeting'),
    peopleList);

  function roomStage() {
    return h('div', { class: 'meeting__room' },
      h('div', { class: 'meeting__call' }, videoArea, controls),
      h('div', { class: 'meeting__side' }, state.canManage ? waitingPanel : null, peoplePanel));
  }

  function personLabel(person) {
    const { info } = person;
    if (info.state === 'reconnecting') return 'Reconnecting…';
    if (person.connection === 'problem') return 'Connection problem, trying again…';
    if (person.connection !== 'connected') return 'Connecting…';
    return '';
  }

  function drawPerson(pid) {
    const person = state.people.get(pid);
    if (!person) return;
    const { info, tile } = person;
    tile.setName(info.name || 'Someone');
    if (person.nameEl.textContent !== (info.name || 'Someone')) person.nameEl.textContent = info.name || 'Someone';
    tile.show({
      audio: info.audio !== false,
      video: info.video !== false,
      screen: Boolean(info.screen),
      hand: Boolean(info.hand),
      state: personLabel(person),
    });
    const flags = [];
    if (info.audio === false) flags.push('muted');
    if (info.hand) flags.push('hand raised');
    if (info.state === 'reconnecting') flags.push('reconnecting');
    person.details.textContent = [info.role ? roleLabel(info.role) : '', ...flags].filter(Boolean).join(', ');
    if (person.remove) person.remove.hidden = !state.canManage;
  }

  function drawPeopleList() {
    const me = h('li', { class: 'people-in-call__item' },
      h('span', { class: 'people-in-call__name' }, `${myName} (you)`),
      h('span', { class: 'people-in-call__details' }, [
        isClient ? '' : roleLabel(ctx.user.role),
        state.hand ? 'hand raised' : '',
        state.micOn && state.media.audio ? '' : 'muted',
      ].filter(Boolean).join(', ')));
    peopleList.replaceChildren(me, ...[...state.people.values()].map((p) => p.item));
  }

  function addPerson(info) {
    const pid = String(info.participant_id);
    let person = state.people.get(pid);
    if (person) {
      person.info = { ...person.info, ...info };
      drawPerson(pid);
      return person;
    }
    const tile = videoTile({ name: info.name || 'Someone' });
    const details = h('span', { class: 'people-in-call__details' });
    const remove = confirmingButton({
      label: 'Remove',
      hiddenLabel: info.name || '',
      question: `Remove ${info.name || 'this person'} from the meeting?`,
      confirmLabel: 'Remove',
      className: 'button--secondary',
      action: () => removePerson(pid),
    });
    const nameEl = h('span', { class: 'people-in-call__name' }, info.name || 'Someone');
    const item = h('li', { class: 'people-in-call__item' }, nameEl, details, remove);
    person = {
      info: { ...info }, tile, connection: 'connecting', item, nameEl, details, remove,
    };
    state.people.set(pid, person);
    tiles.append(tile.el);
    drawVideoArea();
    const stream = state.mesh && state.mesh.streamOf(pid);
    if (stream && stream.getTracks().length) tile.setStream(stream);
    drawPerson(pid);
    drawPeopleList();
    return person;
  }

  function forgetPerson(pid) {
    const person = state.people.get(pid);
    if (!person) return null;
    state.people.delete(pid);
    person.tile.setStream(null);
    person.tile.el.remove();
    if (state.mesh) state.mesh.drop(pid);
    drawPeopleList();
    drawVideoArea();
    return person;
  }

  function drawWaiting() {
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

  async function removePerson(pid) {
    const person = state.people.get(pid);
    try {
      await rt.request({ type: 'meeting.remove', meeting_id: meetingId, participant_id: pid });
      announce(`${(person && person.info.name) || 'They'} left the meeting.`);
    } catch (error) {
      showStatus(`They could not be removed. ${problemMessage(error)}`);
    }
  }

  async function endMeeting() {
    try {
      await rt.request({ type: 'meeting.end', meeting_id: meetingId });
    } catch (error) {
      showStatus(`The meeting could not be ended. ${problemMessage(error)}`);
      return;
    }
    finish('You ended the meeting for everyone.');
  }

  /* ----- stage switching ----- */

  function drawStage() {
    let content;
    if (state.phase === 'lobby') content = lobbyStage();
    else if (state.phase === 'room') content = roomStage();
    else if (state.phase === 'over') content = overStage();
    else content = prejoinStage();
    stage.replaceChildren(content);
    stage.dataset.phase = state.phase;
    drawVideoArea();
    drawControls();
    // Keep our own picture playing after it moved in the document.
    if (selfTile.video.srcObject) selfTile.setStream(selfTile.video.srcObject);
    for (const person of state.people.values()) {
      if (person.tile.video.srcObject) person.tile.setStream(person.tile.video.srcObject);
    }
  }

  let overMessage = '';
  let overRejoin = false;
  let overTakeBack = false;

  function overStage() {
    const rejoin = h('button', { type: 'button', class: 'button button--secondary' }, 'Join again');
    rejoin.addEventListener('click', () => ctx.navigate(window.location.hash));
    const takeBack = h('button', { type: 'button', class: 'button' }, 'Take the call back here');
    takeBack.addEventListener('click', takeCallBack);
    return h('div', { class: 'meeting__over card' },
      h('h2', { tabindex: '-1' }, overMessage),
      h('div', { class: 'button-row' },
        overTakeBack ? takeBack : null, overRejoin ? rejoin : null, h('span', {}, backLink(ctx, meeting))));
  }

  /** Leave the call for good (left, ended, removed, declined, moved to another device). */
  function finish(message, { rejoin = false, takeBack = false } = {}) {
    if (state.phase === 'over') return;
    state.phase = 'over';
    overMessage = message;
    overRejoin = rejoin;
    overTakeBack = takeBack;
    if (state.mesh) state.mesh.close();
    state.mesh = null;
    for (const pid of [...state.people.keys()]) forgetPerson(pid);
    stopLocalMedia();
    showStatus('');
    drawStage();
    announce(message);
    const title = stage.querySelector('h2');
    if (title) title.focus();
  }

  /** The person joined on another device, which now holds the seat: join again from here
   * (meeting.join moves the seat back, and the other device is told in its turn). */
  function takeCallBack() {
    if (state.phase !== 'over' || !ctx.isCurrent()) return;
    state.phase = 'prejoin';
    state.mediaReady = startLocalMedia();
    drawStage();
    join();
  }

  /* ----- joining ----- */

  function whenConnected() {
    if (rt.isOpen()) return Promise.resolve();
    return /** @type {Promise<void>} */ (new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error('Teamwell is not connected. Check your internet connection and try again.'));
      }, CONNECT_TIMEOUT_MS);
      const off = rt.on('connected', () => {
        clearTimeout(timer);
        off();
        resolve();
      });
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        off();
      }, { once: true });
    }));
  }

  function joinProblem(error) {
    const messages = {
      not_invited: 'You are not invited to this meeting.',
      meeting_full: 'The meeting is full. Ask the person running it to let you know when there is room.',
      meeting_ended: 'This meeting has ended.',
      not_found: 'We could not find this meeting.',
      disconnected: 'The connection to Teamwell was lost. Try again in a moment.',
      timeout: 'Teamwell did not answer in time. Try again in a moment.',
    };
    return messages[error && error.code] || problemMessage(error);
  }

  async function join() {
    if (state.phase !== 'prejoin') return;
    unlockSound(); // this click lets the page play the arrival sound later
    state.phase = 'joining';
    joinButton.setAttribute('aria-disabled', 'true');
    joinButton.textContent = 'Joining…';
    joinError.textContent = '';
    try {
      await state.mediaReady;
      await whenConnected();
      if (!ctx.isCurrent() || state.phase !== 'joining') return;
      const reply = await rt.request({
        type: 'meeting.join', meeting_id: meetingId, audio: mediaState().audio, video: mediaState().video,
      });
      if (!ctx.isCurrent() || state.phase !== 'joining') return;
      onJoinReply(reply);
    } catch (error) {
      if (!ctx.isCurrent() || state.phase === 'over') return;
      if (error && error.code === 'meeting_ended') {
        finish('This meeting has ended.');
        return;
      }
      state.phase = 'prejoin';
      joinButton.removeAttribute('aria-disabled');
      joinButton.textContent = 'Join';
      joinError.textContent = joinProblem(error);
    }
  }

  function onJoinReply(reply) {
    state.selfId = reply.participant_id;
    if (reply.type === 'meeting.waiting') {
      const was = state.phase;
      state.wasInLobby = true;
      state.phase = 'lobby';
      if (was !== 'lobby') {
        if (state.mesh) state.mesh.close();
        state.mesh = null;
        for (const pid of [...state.people.keys()]) forgetPerson(pid);
        drawStage();
        const title = stage.querySelector('h2');
        // Opened at the top, the whole of the picture in view (focusing would scroll the
        // heading to the top of a phone's screen, cutting off the video above it).
        if (title) title.focus({ preventScroll: true });
        window.scrollTo(0, 0);
        announce('You are in the waiting room. Your care team will let you in.');
      }
      return;
    }
    enterRoom(reply, { direct: true });
  }

  function enterRoom(frame, { direct }) {
    const first = state.phase !== 'room';
    state.selfId = frame.participant_id;
    state.iceServers = Array.isArray(frame.ice_servers) ? frame.ice_servers : [];
    if (direct && !state.wasInLobby && !isClient) state.canManage = true;
    if (state.mesh) state.mesh.close();
    state.mesh = createMesh({
      selfId: state.selfId,
      iceServers: state.iceServers,
      send: (to, signal) => rt.send({ type: 'meeting.signal', meeting_id: meetingId, to, signal }),
      onStream: (pid, stream) => {
        const person = state.people.get(pid) || addPerson({ participant_id: pid, name: 'Someone' });
        person.tile.setStream(stream);
      },
      onState: (pid, connection) => {
        const person = state.people.get(pid);
        if (!person) return;
        person.connection = connection;
        drawPerson(pid);
      },
      onProblem: () => {
        // Shown on the tile through onState; nothing else to do here.
      },
    });
    state.mesh.setTrack('audio', state.media.audio);
    state.mesh.setTrack('video', currentVideoTrack());
    const present = new Set();
    for (const info of frame.participants || []) {
      const pid = String(info.participant_id);
      present.add(pid);
      const person = addPerson(info);
      person.connection = 'connecting';
      person.info = { ...info };
      drawPerson(pid);
      // We are the newcomer: we offer to everyone who is in the call.
      if (info.state !== 'reconnecting') state.mesh.call(pid);
    }
    for (const pid of [...state.people.keys()]) if (!present.has(pid)) forgetPerson(pid);
    state.phase = 'room';
    if (first) {
      drawStage();
      drawWaiting();
      drawPeopleList();
      announce(frame.type === 'meeting.admitted' ? 'You have been let in to the meeting.' : 'You have joined the meeting.');
      const title = ctx.isCurrent() ? /** @type {HTMLElement | null} */ (document.querySelector('.page-title')) : null;
      if (title && frame.type === 'meeting.admitted') title.focus({ preventScroll: true });
      if (ctx.isCurrent()) window.scrollTo(0, 0); // the call opens with the pictures in view
    }
    showStatus('');
    sendMedia();
  }

  async function leaveMeeting() {
    const wasLobby = state.phase === 'lobby';
    try {
      await rt.request({ type: 'meeting.leave', meeting_id: meetingId });
    } catch {
      // Leaving anyway: the seat is given up when the socket notices.
    }
    finish(wasLobby ? 'You left the waiting room.' : 'You left the meeting.', { rejoin: true });
  }

  /* ----- server events ----- */

  const mine = (handler) => (frame) => {
    if (!frame || String(frame.meeting_id) !== meetingId) return;
    if (state.phase === 'over' || state.phase === 'prejoin') return;
    handler(frame);
  };

  cleanups.push(
    rt.on('meeting.signal', mine((frame) => {
      if (state.phase === 'room' && state.mesh && frame.from && frame.signal) {
        state.mesh.signal(String(frame.from), frame.signal);
      }
    })),
    rt.on('meeting.participant_joined', mine((frame) => {
      if (state.phase !== 'room' || !frame.participant) return;
      addPerson(frame.participant);
      announce(`${frame.participant.name || 'Someone'} joined.`);
    })),
    rt.on('meeting.participant', mine((frame) => {
      if (state.phase !== 'room' || !frame.participant) return;
      const pid = String(frame.participant.participant_id);
      if (pid === String(state.selfId)) return;
      const before = state.people.get(pid);
      const wasReconnecting = before && before.info.state === 'reconnecting';
      const handBefore = before && before.info.hand;
      const person = addPerson(frame.participant);
      if (wasReconnecting && frame.participant.state === 'admitted') {
        // They are back on a new connection and offer again; call.js replaces ours.
        announce(`${person.info.name} is back.`);
      } else if (frame.participant.state === 'reconnecting' && !wasReconnecting) {
        announce(`${person.info.name} lost their connection. Waiting for them to come back.`);
      }
      if (frame.participant.hand && !handBefore) announce(`${person.info.name} raised their hand.`);
    })),
    rt.on('meeting.participant_left', mine((frame) => {
      const pid = String(frame.participant_id);
      const person = forgetPerson(pid);
      if (!person) return;
      const name = person.info.name || 'Someone';
      const why = { removed: `${name} was removed from the meeting.`, timeout: `${name} lost their connection and left.` };
      announce(why[frame.reason] || `${name} left.`);
    })),
    rt.on('meeting.lobby', mine((frame) => {
      if (state.phase !== 'room') return;
      if (!state.canManage) {
        state.canManage = true; // only staff who run the meeting hear about the lobby
        drawStage();
        for (const pid of state.people.keys()) drawPerson(pid);
      }
      state.waiting = Array.isArray(frame.waiting) ? frame.waiting : [];
      const arrived = state.waiting.filter((w) => !state.seenWaiting.has(w.participant_id));
      for (const w of arrived) state.seenWaiting.add(w.participant_id);
      drawWaiting();
      if (arrived.length) {
        if (state.soundAlerts) chime();
        announce(arrived.length === 1
          ? `${arrived[0].name || 'Someone'} is waiting to join.`
          : `${arrived.length} people are waiting to join.`);
      }
    })),
    rt.on('meeting.admitted', mine((frame) => {
      if (state.phase !== 'lobby') return;
      enterRoom(frame, { direct: false });
    })),
    rt.on('meeting.declined', mine(() => {
      finish('You were not let in to this meeting. Your care team may get in touch to arrange another time.');
    })),
    rt.on('meeting.removed', mine(() => finish('You were removed from the meeting.'))),
    rt.on('meeting.moved', mine(() => finish('You joined this meeting on another device', { takeBack: true }))),
    rt.on('meeting.ended', mine(() => finish('The meeting has ended.'))),
    rt.on('meeting.lobby_message', mine((frame) => {
      if (state.phase === 'lobby') clientChat.add(frame.from_name || 'Care team', frame.text || '', frame.at, false);
      else if (state.phase === 'room') {
        staffChat.add(frame.from_name || 'Someone', frame.text || '', frame.at, false);
        announce(`Message from ${frame.from_name || 'someone'} in the waiting room: ${frame.text || ''}`);
      }
    })),
    rt.on('status', ({ status }) => {
      if (state.phase !== 'room' && state.phase !== 'lobby') return;
      if (status === 'open') showStatus('');
      else if (status === 'reconnecting' || status === 'connecting') showStatus('Reconnecting… The call continues while Teamwell reconnects.');
      else if (status === 'offline') showStatus('You are offline. The call will reconnect when you are back online.');
      else if (status === 'stopped') showStatus('Teamwell is not connected. Reload the page to join again.');
    }),
    rt.on('connected', async () => {
      // A new socket: take our seat again (same participant) and offer afresh.
      if ((state.phase !== 'room' && state.phase !== 'lobby') || state.rejoining) return;
      state.rejoining = true;
      try {
        const reply = await rt.request({ type: 'meeting.join', meeting_id: meetingId, ...pick(mediaState(), ['audio', 'video']) });
        // The meeting may have ended while the join was awaited (hence the cast: not narrowed).
        if (/** @type {string} */ (state.phase) === 'over' || !ctx.isCurrent()) return;
        if (reply.type === 'meeting.joined') {
          enterRoom(reply, { direct: true });
        } else {
          onJoinReply(reply);
        }
        showStatus('');
      } catch (error) {
        if (error && (error.code === 'meeting_ended' || error.code === 'not_invited')) finish(joinProblem(error));
      } finally {
        state.rejoining = false;
      }
    }),
  );

  // Closing the tab: say goodbye so others do not wait for a reconnection.
  const onPageHide = () => {
    if (state.phase === 'room' || state.phase === 'lobby') rt.send({ type: 'meeting.leave', meeting_id: meetingId });
  };
  window.addEventListener('pagehide', onPageHide);
  cleanups.push(() => window.removeEventListener('pagehide', onPageHide));

  ctx.signal.addEventListener('abort', () => {
    onPageHide();
    state.phase = 'over';
    if (state.mesh) state.mesh.close();
    state.mesh = null;
    stopLocalMedia();
    for (const fn of cleanups.splice(0)) fn();
  }, { once: true });

  /* ----- first draw ----- */

  refreshSelf();
  drawStage();
  drawDevicesNote();
  drawWaiting();

  const kind = KIND_LABELS[meeting.kind] || 'Meeting';
  return page(
    h('div', { class: 'page-header page-header--compact' },
      h('p', { class: 'messaging__back' }, backLink(ctx, meeting)),
      heading(meeting.title || kind),
      h('p', { class: 'lead meeting__when' }, `${kind}, ${meetingWhen(meeting)}`)),
    announcer,
    statusNote,
    stage);
}

function pick(object, keys) {
  return Object.fromEntries(keys.map((key) => [key, object[key]]));
}
