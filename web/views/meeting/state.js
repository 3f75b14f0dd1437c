// What a meeting room knows while it is open, and the two ways it speaks to
// the person: a polite announcement for screen readers and a visible notice.
//
// The room's parts (media, controls, pre-join, lobby, people, stage,
// signalling) each hold the room and call one another through `hooks`, which
// meeting.js fills in once every part is made: a part may call a hook at any
// time after the room is drawn, never while the parts are being made.

import { h } from '../../ui.js';
import { videoTile } from './tiles.js';

/**
 * Someone else in the call.
 * @typedef {object} Person
 * @property {Record<string, any>} info their participant (participant_id, name, role, audio, video, screen, hand, state)
 * @property {import('./tiles.js').VideoTile} tile
 * @property {string} connection connecting | connected | problem (from call.js)
 * @property {HTMLElement} item their line in "In this meeting"
 * @property {HTMLElement} nameEl
 * @property {HTMLElement} details
 * @property {HTMLElement} remove the "Remove" button, for those who run the meeting
 */

/**
 * @typedef {object} RoomState
 * @property {string} phase prejoin | joining | lobby | room | over
 * @property {{ stream: MediaStream | null, audio: MediaStreamTrack | null, video: MediaStreamTrack | null, note: string }} media
 * @property {Promise<void> | null} mediaReady
 * @property {boolean} micOn
 * @property {boolean} cameraOn
 * @property {MediaStreamTrack | null} screen the screen track while sharing
 * @property {boolean} hand
 * @property {string | null} selfId our participant id
 * @property {boolean} canManage we run the meeting: admit, decline, remove, end
 * @property {boolean} wasInLobby
 * @property {object[]} iceServers
 * @property {Map<string, Person>} people participant_id → the person
 * @property {{ participant_id: string, name?: string, since?: string }[]} waiting
 * @property {Set<string>} seenWaiting
 * @property {ReturnType<typeof import('../../call.js').createMesh> | null} mesh
 * @property {boolean} soundAlerts
 * @property {boolean} rejoining
 */

/**
 * @typedef {object} Hooks
 * @property {() => void} drawStage
 * @property {() => void} drawControls
 * @property {() => void} drawDevicesNote
 * @property {() => void} drawPeopleList
 * @property {(message: string, options?: { rejoin?: boolean, takeBack?: boolean }) => void} finish
 * @property {() => Promise<void>} join
 * @property {() => Promise<void>} leaveMeeting
 * @property {() => Promise<void>} endMeeting
 */

/**
 * @typedef {object} Room
 * @property {import('../../app.js').ViewContext} ctx
 * @property {Record<string, any>} meeting
 * @property {string} meetingId
 * @property {boolean} isClient
 * @property {string} myName
 * @property {RoomState} state
 * @property {HTMLElement} announcer
 * @property {HTMLElement} statusNote
 * @property {HTMLElement} stage where the phase's content is drawn
 * @property {import('./tiles.js').VideoTile} selfTile
 * @property {(text: string) => void} announce
 * @property {(text: string, kind?: string) => void} showStatus
 * @property {Hooks} hooks
 */

/**
 * @param {import('../../app.js').ViewContext} ctx
 * @param {Record<string, any>} meeting
 * @returns {Room}
 */
export function createRoom(ctx, meeting) {
  const myName = ctx.user.display_name || 'You';
  /** @type {RoomState} */
  const state = {
    phase: 'prejoin',
    media: { stream: null, audio: null, video: null, note: '' },
    mediaReady: null,
    micOn: true,
    cameraOn: true,
    screen: null,
    hand: false,
    selfId: null,
    canManage: false,
    wasInLobby: false,
    iceServers: [],
    people: new Map(),
    waiting: [],
    seenWaiting: new Set(),
    mesh: null,
    soundAlerts: true,
    rejoining: false,
  };

  const announcer = h('div', { class: 'visually-hidden', role: 'status', 'aria-live': 'polite' });
  const statusNote = h('div', { class: 'notice notice--warning meeting__notice', role: 'status', hidden: true });

  return {
    ctx,
    meeting,
    meetingId: String(meeting.id),
    isClient: ctx.user.role === 'client',
    myName,
    state,
    announcer,
    statusNote,
    stage: h('div', { class: 'meeting__stage' }),
    selfTile: videoTile({ name: myName, suffix: ' (you)', self: true }),
    announce(text) {
      announcer.textContent = '';
      setTimeout(() => {
        announcer.textContent = text;
      }, 100);
    },
    showStatus(text, kind = 'warning') {
      statusNote.textContent = text || '';
      statusNote.className = `notice notice--${kind} meeting__notice`;
      statusNote.hidden = !text;
    },
    hooks: /** @type {Hooks} */ ({}),
  };
}
