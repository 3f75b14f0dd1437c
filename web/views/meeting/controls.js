// The call controls: microphone, camera, screen, hand, leave, and "End
// meeting for all" for those who run the meeting. One bar, shown in the
// pre-join panel, the waiting room and the call; each button's icon and label
// follow the state.

import { h, confirmingButton } from '../../ui.js';
import { icon } from './icons.js';

/**
 * A call control: icon + visible label that changes with the state.
 * @param {string} [extraClass]
 */
function controlButton(extraClass) {
  const iconSlot = h('span', { class: 'call-control__icon' });
  const text = h('span', { class: 'call-control__label' });
  const button = h('button', { type: 'button', class: ['button', 'button--secondary', 'call-control', extraClass] }, iconSlot, text);
  return {
    element: button,
    /**
     * @param {string} iconName
     * @param {string} label
     * @param {{ active?: boolean, disabled?: boolean }} [options]
     */
    set(iconName, label, { active = false, disabled = false } = {}) {
      iconSlot.replaceChildren(icon(iconName));
      text.textContent = label;
      button.classList.toggle('call-control--active', active);
      button.disabled = disabled;
    },
  };
}

/**
 * @param {import('./state.js').Room} room
 * @param {ReturnType<typeof import('./media.js').createMedia>} media
 * @returns {{ element: HTMLElement, draw: () => void }}
 */
export function callControls(room, media) {
  const { state, hooks } = room;
  const mic = controlButton();
  const camera = controlButton();
  const screen = controlButton();
  const hand = controlButton();
  const leave = controlButton('call-control--leave');
  mic.element.addEventListener('click', () => media.setMic(!state.micOn));
  camera.element.addEventListener('click', () => media.setCamera(!state.cameraOn));
  screen.element.addEventListener('click', () => (state.screen ? media.stopScreenShare() : media.startScreenShare()));
  hand.element.addEventListener('click', () => media.setHand(!state.hand));
  leave.element.addEventListener('click', () => hooks.leaveMeeting());

  const endAll = confirmingButton({
    label: 'End meeting for all',
    question: 'End the meeting for everyone?',
    confirmLabel: 'End meeting',
    className: 'button--danger call-control--end',
    action: () => hooks.endMeeting(),
  });

  const element = h('div', { class: 'call-controls', role: 'group', 'aria-label': 'Call controls' },
    mic.element, camera.element, screen.element, hand.element, leave.element, endAll);

  function draw() {
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
    element.hidden = state.phase === 'over' || state.phase === 'joining';
  }

  return { element, draw };
}
