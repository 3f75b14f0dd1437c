// A meeting room (#/meetings/<id>): camera and microphone check, the waiting
// room (lobby) for clients, and the call itself with video tiles and controls.
//
// Phases: "prejoin" → ("lobby" →) "room" → "over". Signalling is the /ws
// contract in docs/realtime.md; the peer connections live in call.js. Staff
// who join directly run the meeting: they see who is waiting (with a soft
// sound when someone arrives), admit or decline them, can remove someone and
// end the meeting for everyone.
//
// This module opens the meeting and wires the room's parts (meeting/):
//   state.js       what the room knows, and how it speaks to the person
//   media.js       camera, microphone, screen and hand on this device
//   controls.js    the call controls
//   prejoin.js     the check before joining
//   lobby.js       the waiting room, for those waiting and those letting them in
//   people.js      the others in the call: tiles and "In this meeting"
//   tiles.js       one video tile
//   stage.js       what is drawn for each phase, and leaving for good
//   signalling.js  joining, the meeting frames of /ws, leaving and ending
//   guests.js      "Invite a guest": guest links, for staff of a client session
//
// A guest without an account (views/guest.js) enters the same room, as a
// client would, through the waiting room.

import * as api from '../api.js';
import { h, heading, page } from '../ui.js';
import { KIND_LABELS, meetingWhen } from './meeting/labels.js';
import { createRoom } from './meeting/state.js';
import { createMedia } from './meeting/media.js';
import { callControls } from './meeting/controls.js';
import { createPrejoin } from './meeting/prejoin.js';
import { waitingRoom, waitingPanel } from './meeting/lobby.js';
import { createPeople } from './meeting/people.js';
import { createStage, backLink } from './meeting/stage.js';
import { connectSignalling } from './meeting/signalling.js';
import { guestLinksPanel } from './meeting/guests.js';
import { documentsPanel } from './documents.js';

export { KIND_LABELS, meetingWhen };

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

function closedPage(ctx, meeting, message) {
  return page(
    h('div', { class: 'page-header page-header--compact' },
      h('p', { class: 'messaging__back' }, backLink(ctx, meeting)),
      heading(meeting ? meeting.title : 'Meeting')),
    h('div', { class: 'notice', role: 'status' }, message));
}

/**
 * @param {import('../app.js').ViewContext} ctx
 * @param {Record<string, any>} meeting
 */
export function meetingRoom(ctx, meeting) {
  const room = createRoom(ctx, meeting);
  const media = createMedia(room);
  room.state.mediaReady = media.startLocalMedia();
  const controls = callControls(room, media);
  const prejoin = createPrejoin(room, controls);
  const lobby = waitingRoom(room, controls);
  const people = createPeople(room);
  const waiting = waitingPanel(room);
  const stage = createStage(room, { media, controls, prejoin, lobby, people, waiting });
  const signalling = connectSignalling(room, { media, prejoin, lobby, waiting, people });
  Object.assign(room.hooks, {
    drawStage: stage.draw,
    drawControls: controls.draw,
    drawDevicesNote: prejoin.drawDevicesNote,
    drawPeopleList: people.drawPeopleList,
    finish: stage.finish,
    join: signalling.join,
    leaveMeeting: signalling.leaveMeeting,
    endMeeting: signalling.endMeeting,
  });

  media.refreshSelf();
  stage.draw();
  prejoin.drawDevicesNote();
  waiting.draw();

  const kind = KIND_LABELS[meeting.kind] || 'Meeting';
  return page(
    h('div', { class: 'page-header page-header--compact' },
      h('p', { class: 'messaging__back' }, backLink(ctx, meeting)),
      heading(meeting.title || kind),
      h('p', { class: 'lead meeting__when' }, `${kind}, ${meetingWhen(meeting)}`)),
    room.announcer,
    room.statusNote,
    room.stage,
    guestLinksPanel(ctx, meeting),
    // The agenda and notes: read by whoever sees the meeting, added by the staff who run it.
    // A guest without an account (views/guest.js) has no access to them.
    ctx.user.guest ? null : documentsPanel(ctx, {
      place: 'meeting', id: meeting.id, title: 'Agenda and notes', canUpload: ctx.user.role !== 'client',
    }).element);
}
