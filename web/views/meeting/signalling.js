// The room's conversation with Teamwell over /ws (docs/realtime.md, "Meeting
// signalling"): joining (straight in, or to the lobby), entering the call and
// making the peer connections (call.js), the server's meeting frames, taking
// our seat again on a new socket, leaving and ending.

import * as rt from '../../realtime.js';
import { createMesh, unlockSound, chime } from '../../call.js';
import { problemMessage } from '../../ui.js';

const CONNECT_TIMEOUT_MS = 20_000;

/**
 * @param {Record<string, any>} object
 * @param {string[]} keys
 */
function pick(object, keys) {
  return Object.fromEntries(keys.map((key) => [key, object[key]]));
}

/**
 * @param {import('./state.js').Room} room
 * @param {{
 *   media: ReturnType<typeof import('./media.js').createMedia>,
 *   prejoin: ReturnType<typeof import('./prejoin.js').createPrejoin>,
 *   lobby: ReturnType<typeof import('./lobby.js').waitingRoom>,
 *   waiting: ReturnType<typeof import('./lobby.js').waitingPanel>,
 *   people: ReturnType<typeof import('./people.js').createPeople>,
 * }} parts
 */
export function connectSignalling(room, { media, prejoin, lobby, waiting, people }) {
  const { ctx, state, stage, meetingId, isClient, announce, showStatus, hooks } = room;
  const cleanups = [];

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
    prejoin.joining();
    try {
      await state.mediaReady;
      await whenConnected();
      if (!ctx.isCurrent() || state.phase !== 'joining') return;
      const reply = await rt.request({
        type: 'meeting.join', meeting_id: meetingId, audio: media.mediaState().audio, video: media.mediaState().video,
      });
      if (!ctx.isCurrent() || state.phase !== 'joining') return;
      onJoinReply(reply);
    } catch (error) {
      if (!ctx.isCurrent() || state.phase === 'over') return;
      if (error && error.code === 'meeting_ended') {
        hooks.finish('This meeting has ended.');
        return;
      }
      state.phase = 'prejoin';
      prejoin.failed(joinProblem(error));
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
        for (const pid of [...state.people.keys()]) people.forgetPerson(pid);
        hooks.drawStage();
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
        const person = state.people.get(pid) || people.addPerson({ participant_id: pid, name: 'Someone' });
        person.tile.setStream(stream);
      },
      onState: (pid, connection) => {
        const person = state.people.get(pid);
        if (!person) return;
        person.connection = connection;
        people.drawPerson(pid);
      },
      onProblem: () => {
        // Shown on the tile through onState; nothing else to do here.
      },
    });
    state.mesh.setTrack('audio', state.media.audio);
    state.mesh.setTrack('video', media.currentVideoTrack());
    const present = new Set();
    for (const info of frame.participants || []) {
      const pid = String(info.participant_id);
      present.add(pid);
      const person = people.addPerson(info);
      person.connection = 'connecting';
      person.info = { ...info };
      people.drawPerson(pid);
      // We are the newcomer: we offer to everyone who is in the call.
      if (info.state !== 'reconnecting') state.mesh.call(pid);
    }
    for (const pid of [...state.people.keys()]) if (!present.has(pid)) people.forgetPerson(pid);
    state.phase = 'room';
    if (first) {
      hooks.drawStage();
      waiting.draw();
      people.drawPeopleList();
      announce(frame.type === 'meeting.admitted' ? 'You have been let in to the meeting.' : 'You have joined the meeting.');
      const title = ctx.isCurrent() ? /** @type {HTMLElement | null} */ (document.querySelector('.page-title')) : null;
      if (title && frame.type === 'meeting.admitted') title.focus({ preventScroll: true });
      if (ctx.isCurrent()) window.scrollTo(0, 0); // the call opens with the pictures in view
    }
    showStatus('');
    media.sendMedia();
  }

  async function leaveMeeting() {
    const wasLobby = state.phase === 'lobby';
    try {
      await rt.request({ type: 'meeting.leave', meeting_id: meetingId });
    } catch {
      // Leaving anyway: the seat is given up when the socket notices.
    }
    hooks.finish(wasLobby ? 'You left the waiting room.' : 'You left the meeting.', { rejoin: true });
  }

  async function endMeeting() {
    try {
      await rt.request({ type: 'meeting.end', meeting_id: meetingId });
    } catch (error) {
      showStatus(`The meeting could not be ended. ${problemMessage(error)}`);
      return;
    }
    hooks.finish('You ended the meeting for everyone.');
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
      people.addPerson(frame.participant);
      announce(`${frame.participant.name || 'Someone'} joined.`);
    })),
    rt.on('meeting.participant', mine((frame) => {
      if (state.phase !== 'room' || !frame.participant) return;
      const pid = String(frame.participant.participant_id);
      if (pid === String(state.selfId)) return;
      const before = state.people.get(pid);
      const wasReconnecting = before && before.info.state === 'reconnecting';
      const handBefore = before && before.info.hand;
      const person = people.addPerson(frame.participant);
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
      const person = people.forgetPerson(pid);
      if (!person) return;
      const name = person.info.name || 'Someone';
      const why = { removed: `${name} was removed from the meeting.`, timeout: `${name} lost their connection and left.` };
      announce(why[frame.reason] || `${name} left.`);
    })),
    rt.on('meeting.lobby', mine((frame) => {
      if (state.phase !== 'room') return;
      if (!state.canManage) {
        state.canManage = true; // only staff who run the meeting hear about the lobby
        hooks.drawStage();
        for (const pid of state.people.keys()) people.drawPerson(pid);
      }
      state.waiting = Array.isArray(frame.waiting) ? frame.waiting : [];
      const arrived = state.waiting.filter((w) => !state.seenWaiting.has(w.participant_id));
      for (const w of arrived) state.seenWaiting.add(w.participant_id);
      waiting.draw();
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
      hooks.finish('You were not let in to this meeting. Your care team may get in touch to arrange another time.');
    })),
    rt.on('meeting.removed', mine(() => hooks.finish('You were removed from the meeting.'))),
    rt.on('meeting.moved', mine(() => hooks.finish('You joined this meeting on another device', { takeBack: true }))),
    rt.on('meeting.ended', mine(() => hooks.finish('The meeting has ended.'))),
    rt.on('meeting.lobby_message', mine((frame) => {
      if (state.phase === 'lobby') lobby.chat.add(frame.from_name || 'Care team', frame.text || '', frame.at, false);
      else if (state.phase === 'room') {
        waiting.chat.add(frame.from_name || 'Someone', frame.text || '', frame.at, false);
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
        const reply = await rt.request({ type: 'meeting.join', meeting_id: meetingId, ...pick(media.mediaState(), ['audio', 'video']) });
        // The meeting may have ended while the join was awaited (hence the cast: not narrowed).
        if (/** @type {string} */ (state.phase) === 'over' || !ctx.isCurrent()) return;
        if (reply.type === 'meeting.joined') {
          enterRoom(reply, { direct: true });
        } else {
          onJoinReply(reply);
        }
        showStatus('');
      } catch (error) {
        if (error && (error.code === 'meeting_ended' || error.code === 'not_invited')) hooks.finish(joinProblem(error));
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
    media.stopLocalMedia();
    for (const fn of cleanups.splice(0)) fn();
  }, { once: true });

  return { join, leaveMeeting, endMeeting };
}
