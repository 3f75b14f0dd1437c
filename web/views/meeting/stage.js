// The room's stage, drawn for its phase: "prejoin" → ("lobby" →) "room" →
// "over". Leaving the call for good (left, ended, removed, declined, moved to
// another device) ends on the "over" stage, which may offer to join again or
// to take the call back from the other device.

import { h } from '../../ui.js';

/**
 * Back to where the person came from: their own record (a client), the
 * client's record (a case's meeting), or the clients.
 * @param {import('../../app.js').ViewContext} ctx
 * @param {Record<string, any> | null} meeting
 */
export function backLink(ctx, meeting) {
  // A guest (no account) has nowhere in Teamwell to go back to.
  if (ctx.user.guest) return null;
  if (ctx.user.role === 'client') return h('a', { href: '#/my-record' }, 'Back to my record');
  if (meeting && meeting.client_id) {
    return h('a', { href: `#/clients/${encodeURIComponent(meeting.client_id)}` }, 'Back to the client’s record');
  }
  return h('a', { href: '#/clients' }, 'Back to clients');
}

/**
 * @param {import('./state.js').Room} room
 * @param {{
 *   media: ReturnType<typeof import('./media.js').createMedia>,
 *   controls: { element: HTMLElement, draw: () => void },
 *   prejoin: { stage: () => HTMLElement },
 *   lobby: { stage: () => HTMLElement },
 *   people: ReturnType<typeof import('./people.js').createPeople>,
 *   waiting: { element: HTMLElement },
 * }} parts
 */
export function createStage(room, { media, controls, prejoin, lobby, people, waiting }) {
  const { ctx, meeting, state, stage, selfTile, announce, showStatus, hooks } = room;
  let overMessage = '';
  let overRejoin = false;
  let overTakeBack = false;

  function roomStage() {
    return h('div', { class: 'meeting__room' },
      h('div', { class: 'meeting__call' }, people.videoArea, controls.element),
      h('div', { class: 'meeting__side' }, state.canManage ? waiting.element : null, people.panel));
  }

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

  function draw() {
    let content;
    if (state.phase === 'lobby') content = lobby.stage();
    else if (state.phase === 'room') content = roomStage();
    else if (state.phase === 'over') content = overStage();
    else content = prejoin.stage();
    stage.replaceChildren(content);
    stage.dataset.phase = state.phase;
    people.drawVideoArea();
    controls.draw();
    // Keep our own picture playing after it moved in the document.
    if (selfTile.video.srcObject) selfTile.setStream(selfTile.video.srcObject);
    for (const person of state.people.values()) {
      if (person.tile.video.srcObject) person.tile.setStream(person.tile.video.srcObject);
    }
  }

  /**
   * Leave the call for good (left, ended, removed, declined, moved to another device).
   * @param {string} message
   * @param {{ rejoin?: boolean, takeBack?: boolean }} [options]
   */
  function finish(message, { rejoin = false, takeBack = false } = {}) {
    if (state.phase === 'over') return;
    state.phase = 'over';
    overMessage = message;
    overRejoin = rejoin;
    overTakeBack = takeBack;
    if (state.mesh) state.mesh.close();
    state.mesh = null;
    for (const pid of [...state.people.keys()]) people.forgetPerson(pid);
    media.stopLocalMedia();
    showStatus('');
    draw();
    announce(message);
    const title = stage.querySelector('h2');
    if (title) title.focus();
  }

  /** The person joined on another device, which now holds the seat: join again from here
   * (meeting.join moves the seat back, and the other device is told in its turn). */
  function takeCallBack() {
    if (state.phase !== 'over' || !ctx.isCurrent()) return;
    state.phase = 'prejoin';
    state.mediaReady = media.startLocalMedia();
    draw();
    hooks.join();
  }

  return { draw, finish };
}
