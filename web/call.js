// The media side of a meeting: this device's camera and microphone, and one
// RTCPeerConnection per other participant (a mesh). Signalling goes through
// the caller's `send(to, signal)`; see docs/realtime.md, "Meeting signalling".
//
// - The newcomer calls `call(pid)` for each participant already there; the
//   others answer the offer that arrives (`signal(from, signal)`).
// - Each connection has one audio and one video sender. Mute, camera off and
//   screen sharing swap or disable tracks on them (replaceTrack), so none of
//   them needs a new offer.
// - Later offers on the same connection (ICE restarts) follow the "perfect
//   negotiation" pattern; which side gives way in a collision is decided by
//   comparing participant ids.
// - An offer from a new RTCPeerConnection at the other end (its DTLS
//   fingerprint changed: they rejoined after a drop) replaces ours.
// - Candidates trickle as { kind: "candidate", candidate, sdp_mid,
//   sdp_mline_index }; a signal without `candidate` ends them.
//
// Nothing here logs to the console: failures are reported through the
// `onProblem` callback so that the page can say something useful.

const KINDS = ['audio', 'video'];

/* ------------------------------------------------------- local media -- */

/**
 * Ask for the camera and microphone. If there is no camera (or it cannot be
 * started) fall back to sound only; if there is no microphone either, join
 * without media.
 * Resolves { stream, audio: track|null, video: track|null, note } where
 * note is "" or a sentence for the person explaining what is missing.
 */
export async function openLocalMedia() {
  const empty = (note) => ({ stream: new MediaStream(), audio: null, video: null, note });
  const devices = navigator.mediaDevices;
  if (!devices || typeof devices.getUserMedia !== 'function') {
    return empty('This browser cannot use a camera or microphone here. You can still join to see and hear others.');
  }
  let firstError;
  try {
    const stream = await devices.getUserMedia({ audio: true, video: { width: { ideal: 1280 }, height: { ideal: 720 } } });
    return fromStream(stream, '');
  } catch (error) {
    firstError = error;
  }
  try {
    const stream = await devices.getUserMedia({ audio: true });
    const why = firstError && firstError.name === 'NotAllowedError'
      ? 'Teamwell is not allowed to use your camera, so you will join with sound only.'
      : 'No camera could be started, so you will join with sound only.';
    return fromStream(stream, why);
  } catch (error) {
    if ((firstError && firstError.name === 'NotAllowedError') || error.name === 'NotAllowedError') {
      return empty('Teamwell is not allowed to use your camera or microphone. You can still join to see and hear others. To be seen and heard, allow them in your browser’s site settings and reload the page.');
    }
  }
  try {
    const stream = await devices.getUserMedia({ video: true });
    return fromStream(stream, 'No microphone was found, so others will not hear you.');
  } catch {
    return empty('No camera or microphone was found. You can still join to see and hear others.');
  }
}

function fromStream(stream, note) {
  return {
    stream,
    audio: stream.getAudioTracks()[0] || null,
    video: stream.getVideoTracks()[0] || null,
    note,
  };
}

/** A camera track on its own (turning the camera back on). */
export async function openCamera() {
  const stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 1280 }, height: { ideal: 720 } } });
  return stream.getVideoTracks()[0];
}

/** A screen, window or tab to share; rejects when refused or unavailable. */
export async function openScreen() {
  const devices = navigator.mediaDevices;
  if (!devices || typeof devices.getDisplayMedia !== 'function') {
    const error = new Error('Screen sharing is not available in this browser.');
    error.name = 'NotSupportedError';
    throw error;
  }
  const stream = await devices.getDisplayMedia({ video: true, audio: false });
  return stream.getVideoTracks()[0];
}

/* -------------------------------------------------------------- chime -- */

let audioContext = null;

/**
 * Prepare sound alerts. Call it from a click or key press: browsers only let
 * a page start audio after the person has interacted with it.
 */
export function unlockSound() {
  if (audioContext) {
    if (audioContext.state === 'suspended') audioContext.resume().catch(() => {});
    return;
  }
  const Context = window.AudioContext || /** @type {any} */ (window).webkitAudioContext;
  if (!Context) return;
  try {
    audioContext = new Context();
    if (audioContext.state === 'suspended') audioContext.resume().catch(() => {});
  } catch {
    audioContext = null;
  }
}

/** Two soft rising notes (someone is waiting). Silent until unlockSound(). */
export function chime() {
  if (!audioContext || audioContext.state !== 'running') return;
  const start = audioContext.currentTime + 0.02;
  [[587.33, 0], [880, 0.18]].forEach(([frequency, offset]) => {
    const oscillator = audioContext.createOscillator();
    const gain = audioContext.createGain();
    oscillator.type = 'sine';
    oscillator.frequency.value = frequency;
    const at = start + offset;
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(0.18, at + 0.03);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.5);
    oscillator.connect(gain);
    gain.connect(audioContext.destination);
    oscillator.start(at);
    oscillator.stop(at + 0.55);
  });
}

/* --------------------------------------------------------------- mesh -- */

function fingerprint(sdp) {
  const match = /^a=fingerprint:(.+)$/m.exec(sdp || '');
  return match ? match[1].trim() : '';
}

/**
 * options:
 *   selfId       this device's participant_id
 *   iceServers   from meeting.joined / meeting.admitted
 *   send(to, signal)
 *   onStream(pid, MediaStream)   remote media arrived (or changed)
 *   onState(pid, state)          "connecting" | "connected" | "problem" | "closed"
 *   onProblem(pid, error)        something failed that the page may mention
 */
export function createMesh({ selfId, iceServers = [], send, onStream, onState, onProblem }) {
  const peers = new Map(); // pid → peer
  const tracks = { audio: null, video: null };
  const queues = new Map(); // pid → the promise of the last signal handled
  let closed = false;

  function report(pid, error) {
    if (onProblem) onProblem(pid, error);
  }

  function newPeer(pid) {
    const pc = new RTCPeerConnection({ iceServers, bundlePolicy: 'max-bundle' });
    const peer = {
      pid,
      pc,
      polite: String(selfId) < String(pid),
      makingOffer: false,
      ignoreOffer: false,
      answerPending: false,
      senders: { audio: null, video: null },
      stream: new MediaStream(),
      state: 'connecting',
    };
    pc.addEventListener('icecandidate', ({ candidate }) => {
      if (peers.get(pid) !== peer) return;
      if (candidate && candidate.candidate) {
        send(pid, {
          kind: 'candidate',
          candidate: candidate.candidate,
          sdp_mid: candidate.sdpMid ?? undefined,
          sdp_mline_index: candidate.sdpMLineIndex ?? undefined,
        });
      } else if (!candidate) {
        send(pid, { kind: 'candidate' });
      }
    });
    pc.addEventListener('track', ({ track }) => {
      if (peers.get(pid) !== peer) return;
      for (const old of peer.stream.getTracks()) {
        if (old.kind === track.kind && old !== track) peer.stream.removeTrack(old);
      }
      if (!peer.stream.getTracks().includes(track)) peer.stream.addTrack(track);
      track.addEventListener('unmute', () => onStream(pid, peer.stream));
      onStream(pid, peer.stream);
    });
    pc.addEventListener('negotiationneeded', () => negotiate(peer));
    pc.addEventListener('connectionstatechange', () => {
      if (peers.get(pid) !== peer) return;
      const s = pc.connectionState;
      let state = 'connecting';
      if (s === 'connected') state = 'connected';
      else if (s === 'failed' || s === 'disconnected') state = 'problem';
      else if (s === 'closed') state = 'closed';
      peer.state = state;
      onState(pid, state);
      // The side that does not give way restarts ICE; the other answers.
      if (s === 'failed' && !peer.polite) {
        try {
          pc.restartIce();
        } catch (error) {
          report(pid, error);
        }
      }
    });
    peers.set(pid, peer);
    onState(pid, 'connecting');
    return peer;
  }

  async function negotiate(peer) {
    if (peers.get(peer.pid) !== peer || closed) return;
    try {
      peer.makingOffer = true;
      await peer.pc.setLocalDescription();
      if (peer.pc.localDescription && peer.pc.localDescription.type === 'offer') {
        send(peer.pid, { kind: 'offer', sdp: peer.pc.localDescription.sdp });
      }
    } catch (error) {
      if (peers.get(peer.pid) === peer) report(peer.pid, error);
    } finally {
      peer.makingOffer = false;
    }
  }

  /** Give the connection's senders our current tracks (after the first offer is applied). */
  async function attachSenders(peer) {
    const seen = new Set();
    for (const transceiver of peer.pc.getTransceivers()) {
      const kind = transceiver.receiver.track && transceiver.receiver.track.kind;
      if (!KINDS.includes(kind) || transceiver.currentDirection === 'stopped') continue;
      if (seen.has(kind)) {
        transceiver.direction = 'recvonly';
        continue;
      }
      seen.add(kind);
      transceiver.direction = 'sendrecv';
      peer.senders[kind] = transceiver.sender;
      if (transceiver.sender.track !== tracks[kind]) await transceiver.sender.replaceTrack(tracks[kind]);
    }
  }

  async function handle(pid, signal) {
    if (closed) return;
    let peer = peers.get(pid);
    if (signal.kind === 'offer') {
      if (peer && peer.pc.remoteDescription
          && fingerprint(peer.pc.remoteDescription.sdp) !== fingerprint(signal.sdp)) {
        // A new connection at their end (they rejoined): start again.
        drop(pid, { quiet: true });
        peer = null;
      }
      const fresh = !peer;
      if (fresh) peer = newPeer(pid);
      const { pc } = peer;
      const ready = !peer.makingOffer && (pc.signalingState === 'stable' || peer.answerPending);
      peer.ignoreOffer = !peer.polite && !ready;
      if (peer.ignoreOffer) return;
      await pc.setRemoteDescription({ type: 'offer', sdp: signal.sdp });
      if (fresh || !peer.senders.audio || !peer.senders.video) await attachSenders(peer);
      await pc.setLocalDescription();
      send(pid, { kind: 'answer', sdp: pc.localDescription.sdp });
      return;
    }
    if (!peer) return; // an answer or candidate for a connection we no longer have
    const { pc } = peer;
    if (signal.kind === 'answer') {
      if (pc.signalingState !== 'have-local-offer') return;
      peer.answerPending = true;
      try {
        await pc.setRemoteDescription({ type: 'answer', sdp: signal.sdp });
      } finally {
        peer.answerPending = false;
      }
      return;
    }
    if (signal.kind === 'candidate') {
      try {
        if (signal.candidate) {
          await pc.addIceCandidate({
            candidate: signal.candidate,
            sdpMid: signal.sdp_mid ?? null,
            sdpMLineIndex: signal.sdp_mline_index ?? null,
          });
        } else {
          await pc.addIceCandidate();
        }
      } catch (error) {
        // Candidates for an offer we ignored, or that came after a restart, fail harmlessly.
        if (!peer.ignoreOffer && pc.remoteDescription) report(pid, error);
      }
    }
  }

  /** Offer to a participant (we are the newcomer). */
  function call(pid) {
    if (closed) return;
    if (peers.has(pid)) drop(pid, { quiet: true });
    const peer = newPeer(pid);
    for (const kind of KINDS) {
      const transceiver = peer.pc.addTransceiver(tracks[kind] || kind, { direction: 'sendrecv' });
      peer.senders[kind] = transceiver.sender;
    }
    // "negotiationneeded" now fires and sends the offer.
  }

  /** Handle one signal; signals from the same participant are handled in order. */
  function signal(from, message) {
    const key = String(from);
    const previous = queues.get(key) || Promise.resolve();
    const next = previous.then(() => handle(key, message)).catch((error) => report(key, error));
    queues.set(key, next);
    next.then(() => {
      if (queues.get(key) === next) queues.delete(key);
    });
    return next;
  }

  function drop(pid, { quiet = false } = {}) {
    const peer = peers.get(String(pid));
    if (!peer) return;
    peers.delete(String(pid));
    for (const track of peer.stream.getTracks()) peer.stream.removeTrack(track);
    try {
      peer.pc.close();
    } catch {
      // Already closed.
    }
    if (!quiet) onState(String(pid), 'closed');
  }

  /** Send this track (or nothing, for null) as our audio or video to everyone. */
  async function setTrack(kind, track) {
    tracks[kind] = track || null;
    const jobs = [];
    for (const peer of peers.values()) {
      const sender = peer.senders[kind];
      if (sender && sender.track !== tracks[kind]) {
        jobs.push(sender.replaceTrack(tracks[kind]).catch((error) => report(peer.pid, error)));
      }
    }
    await Promise.all(jobs);
  }

  function close() {
    closed = true;
    for (const pid of [...peers.keys()]) drop(pid, { quiet: true });
  }

  return {
    call,
    signal,
    drop,
    setTrack,
    close,
    has: (pid) => peers.has(String(pid)),
    streamOf: (pid) => (peers.get(String(pid)) || {}).stream || null,
    /** The live RTCPeerConnections, by participant id (for diagnostics). */
    connections: () => new Map([...peers].map(([pid, peer]) => [pid, peer.pc])),
  };
}
