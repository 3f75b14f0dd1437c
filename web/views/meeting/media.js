// This device's side of the call: camera and microphone, screen sharing and
// the raised hand; what our own tile shows; and telling the others
// (meeting.media) whenever any of it changes.

import * as rt from '../../realtime.js';
import { openLocalMedia, openCamera, openScreen } from '../../call.js';

/**
 * @param {import('./state.js').Room} room
 */
export function createMedia(room) {
  const { ctx, state, selfTile, meetingId, announce, showStatus, hooks } = room;

  /** The picture we send: the screen while sharing, else the camera if it is on. */
  function currentVideoTrack() {
    if (state.screen) return state.screen;
    return state.cameraOn ? state.media.video : null;
  }

  /** What the others are told of our sound, picture and hand. */
  function mediaState() {
    return {
      audio: state.micOn && Boolean(state.media.audio),
      video: Boolean(state.cameraOn && state.media.video),
      screen: Boolean(state.screen),
      hand: state.hand,
    };
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
    if (state.phase === 'room') hooks.drawPeopleList();
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

  /** Opened for the prejoin preview, and again when the call is taken back from another device. */
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
    hooks.drawControls();
    hooks.drawDevicesNote();
    sendMedia();
  });

  /** @param {boolean} on */
  function setMic(on) {
    if (!state.media.audio) return;
    state.micOn = on;
    state.media.audio.enabled = on;
    refreshSelf();
    hooks.drawControls();
    sendMedia();
    announce(on ? 'Microphone on.' : 'You are muted.');
  }

  /** @param {boolean} on */
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
    hooks.drawControls();
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
    hooks.drawControls();
    sendMedia();
    announce('You are sharing your screen.');
  }

  async function stopScreenShare() {
    const track = state.screen;
    state.screen = null;
    if (track) track.stop();
    if (state.mesh) await state.mesh.setTrack('video', currentVideoTrack());
    refreshSelf();
    hooks.drawControls();
    sendMedia();
    announce('You stopped sharing your screen.');
  }

  /** @param {boolean} up */
  function setHand(up) {
    state.hand = up;
    refreshSelf();
    hooks.drawControls();
    sendMedia();
    announce(up ? 'Your hand is raised.' : 'Your hand is lowered.');
  }

  return {
    currentVideoTrack,
    mediaState,
    refreshSelf,
    sendMedia,
    startLocalMedia,
    stopLocalMedia,
    setMic,
    setCamera,
    startScreenShare,
    stopScreenShare,
    setHand,
  };
}
