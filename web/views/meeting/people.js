// The people in the call: a tile each on the video area (ours floats in a
// corner once someone else is here) and a line each under "In this meeting",
// with "Remove" for those who run the meeting.

import * as rt from '../../realtime.js';
import { h, uid, problemMessage, roleLabel, confirmingButton } from '../../ui.js';
import { videoTile } from './tiles.js';

/** @typedef {import('./state.js').Person} Person */

/**
 * @param {import('./state.js').Room} room
 */
export function createPeople(room) {
  const { ctx, state, selfTile, meetingId, isClient, myName, announce, showStatus } = room;
  const tiles = h('div', { class: 'tiles' });
  const alone = h('p', { class: 'meeting__alone' }, 'No one else is here yet.');
  const videoArea = h('div', { class: 'meeting__video-area' }, tiles, alone);
  const peopleList = h('ul', { class: 'people-in-call' });
  const peopleTitle = uid('in-call');
  const panel = h('section', { class: 'meeting__panel', 'aria-labelledby': peopleTitle },
    h('h2', { id: peopleTitle, class: 'meeting__panel-title' }, 'In this meeting'),
    peopleList);

  /** Our own tile floats in a corner once someone else is here; alone, it fills the area. */
  function drawVideoArea() {
    const others = state.people.size;
    videoArea.classList.toggle('meeting__video-area--alone', others === 0);
    alone.hidden = others > 0;
    if (state.phase === 'room' && selfTile.el.parentNode !== videoArea) videoArea.append(selfTile.el);
  }

  /** @param {Person} person */
  function personLabel(person) {
    const { info } = person;
    if (info.state === 'reconnecting') return 'Reconnecting…';
    if (person.connection === 'problem') return 'Connection problem, trying again…';
    if (person.connection !== 'connected') return 'Connecting…';
    return '';
  }

  /** @param {string} pid */
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

  /**
   * Someone is in the call (or their details changed): their tile and line, made or updated.
   * @param {Record<string, any>} info their participant
   * @returns {Person}
   */
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
      hiddenLabel: info.name ? ` ${info.name}` : '',
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

  /**
   * They left: their tile, line and connection go.
   * @param {string} pid
   * @returns {Person | null}
   */
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

  /** @param {string} pid */
  async function removePerson(pid) {
    const person = state.people.get(pid);
    try {
      await rt.request({ type: 'meeting.remove', meeting_id: meetingId, participant_id: pid });
      announce(`${(person && person.info.name) || 'They'} left the meeting.`);
    } catch (error) {
      showStatus(`They could not be removed. ${problemMessage(error)}`);
    }
  }

  return { videoArea, panel, drawVideoArea, drawPerson, drawPeopleList, addPerson, forgetPerson };
}
