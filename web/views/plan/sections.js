// The plan's five sections, each editable or read-only: editable from the
// draft for staff (a client edits only their goals), read-only for the rest,
// for the conflict view and for past versions. A redraw rebuilds them from
// the draft and keeps focus (and the caret) where it was.

import { h, badge, time, label, emptyState } from '../../ui.js';
import { today } from '../record-fields.js';
import {
  SECTIONS, SECTION_TITLES, ACTION_STATUS, SUPPORT_KINDS, REFERRAL_STATUS, DIVERSION_KINDS, newId,
} from './state.js';
import { field, button, draftControls } from './fields.js';
import { SECTORS } from '../employers.js';

/**
 * @typedef {(key: string, content: import('./state.js').PlanContent, options?: { withComments?: boolean }) => HTMLElement | null} ReadOnly
 * A section shown read-only; `withComments` adds the comment boxes.
 */

/**
 * @param {object} options
 * @param {(ownerId: any) => string} options.ownerName
 * @param {(itemId: string, context: string) => HTMLElement} options.commentBox
 * @returns {ReadOnly}
 */
export function readOnlyView({ ownerName, commentBox }) {
  return function readOnly(key, content, { withComments = false } = {}) {
    const comment = (id, context) => (withComments ? commentBox(id, context) : null);
    const c = content;
    switch (key) {
      case 'goals':
        return c.goals.length
          ? h('ol', { class: 'plan-readonly' }, c.goals.map((g, i) => h('li', { class: 'plan-readonly__item' },
            h('p', { class: 'plan-readonly__text' }, g.text), comment(g.id, `on goal ${i + 1}`))))
          : h('p', { class: 'muted' }, 'No goals yet.');
      case 'vocational_profile': {
        const vp = c.vocational_profile;
        const row = (term, value) => h('div', { class: 'summary-list__row' }, h('dt', {}, term), h('dd', {}, value || h('span', { class: 'muted' }, '—')));
        return h('dl', { class: 'summary-list plan-profile' },
          row('Types of work wanted', vp.preferences.types.join(', ')),
          row('Where', vp.preferences.locations.join(', ')),
          row('Hours per week', vp.preferences.hours_per_week === null ? '' : String(vp.preferences.hours_per_week)),
          row('Sectors', SECTORS.filter(([code]) => vp.preferences.sectors.includes(code)).map(([, name]) => name).join(', ')),
          row('Lowest hourly pay', vp.preferences.min_hourly_pay_pence === null ? '' : `£${(vp.preferences.min_hourly_pay_pence / 100).toFixed(2)}`),
          row('Skills', vp.skills.join(', ')),
          row('Work history', vp.work_history),
          row('What helps', vp.what_helps),
          row('What gets in the way', vp.what_gets_in_the_way));
      }
      case 'actions': {
        const now = today();
        return c.actions.length
          ? h('ol', { class: 'plan-readonly' }, c.actions.map((a, i) => h('li', { class: 'plan-readonly__item' },
            h('p', { class: 'plan-readonly__text' }, a.text),
            h('p', { class: 'plan-readonly__meta' },
              `Who: ${ownerName(a.owner_id)}`,
              a.due_on ? [' · Due by ', time(a.due_on)] : '',
              ' · ', badge(label(ACTION_STATUS, a.status), a.status === 'done' ? 'outcome-ok' : a.status === 'cancelled' ? 'inactive' : 'neutral'),
              a.status === 'open' && a.due_on && a.due_on < now ? [' ', badge('Overdue', 'outcome-bad')] : null),
            comment(a.id, `on action ${i + 1}`))))
          : h('p', { class: 'muted' }, 'No actions yet.');
      }
      case 'support_needs':
        return c.support_needs.length
          ? h('ol', { class: 'plan-readonly' }, c.support_needs.map((n, i) => h('li', { class: 'plan-readonly__item' },
            h('p', { class: 'plan-readonly__text' }, h('strong', {}, label(SUPPORT_KINDS, n.kind)), `: ${n.description}`),
            h('p', { class: 'plan-readonly__meta' }, 'Referral: ', badge(label(REFERRAL_STATUS, n.referral_status))),
            comment(n.id, `on support need ${i + 1}`))))
          : h('p', { class: 'muted' }, 'No support needs recorded.');
      case 'diversion':
        return c.diversion.length
          ? h('ol', { class: 'plan-readonly' }, c.diversion.map((d, i) => h('li', { class: 'plan-readonly__item' },
            h('p', { class: 'plan-readonly__text' }, h('strong', {}, label(DIVERSION_KINDS, d.kind)), `: ${d.activity}`),
            h('p', { class: 'plan-readonly__meta' }, `Attended ${d.sessions_attended} of ${d.sessions_offered} sessions offered`),
            comment(d.id, `on activity ${i + 1}`))))
          : h('p', { class: 'muted' }, 'No diversion activities.');
      default:
        return null;
    }
  };
}

/**
 * @param {object} options
 * @param {import('./state.js').PlanState} options.state
 * @param {boolean} options.isClient
 * @param {string} options.firstName  the client's, for the sections' introductions
 * @param {ReturnType<typeof import('./people.js').actionOwners>['ownerOptions']} options.ownerOptions
 * @param {ReadOnly} options.readOnly
 * @param {(itemId: string, context: string) => HTMLElement} options.commentBox
 * @param {() => void} options.edited  called after every change to the draft
 * @param {() => void} options.afterDraw  called once the sections are rebuilt, before focus returns
 */
export function planSections({ state, isClient, firstName, ownerOptions, readOnly, commentBox, edited, afterDraw }) {
  const canEdit = (key) => !isClient || key === 'goals';
  const controls = draftControls(edited);
  const { textArea, textInput, numberInput, poundsInput, checkboxes, listArea, select, dateInput } = controls;

  const inBase = (key, id) => state.base.content[key].some((item) => item.id === id);

  function itemComments(key, id, context) {
    return inBase(key, id)
      ? commentBox(id, context)
      : h('p', { class: 'muted plan-item__note' }, 'New: save the plan to comment on it.');
  }

  function addItem(key, item, focusField) {
    state.draft[key].push(item);
    edited();
    draw({ focusKey: `${key}.${item.id}.${focusField}` });
  }

  function removeItem(key, id) {
    state.draft[key] = state.draft[key].filter((item) => item.id !== id);
    edited();
    draw({ focusKey: `${key}.add` });
  }

  /* ---------------------------------------------------- editable views -- */

  function editGoals() {
    const goals = state.draft.goals;
    return [
      goals.length
        ? h('ol', { class: 'plan-items' }, goals.map((goal, i) => h('li', { class: 'plan-item' },
          field(`Goal ${i + 1}`, textArea(`goals.${goal.id}.text`, goal.text, (v) => { goal.text = v; })),
          h('div', { class: 'plan-item__tools' },
            itemComments('goals', goal.id, `on goal ${i + 1}`),
            button('Remove', `goals.${goal.id}.remove`, () => removeItem('goals', goal.id), { hidden: `goal ${i + 1}` })))))
        : emptyState(isClient ? 'You have not written any goals yet.' : 'No goals yet.'),
      button('Add a goal', 'goals.add', () => addItem('goals', { id: newId(), text: '' }, 'text'), { secondary: false }),
    ];
  }

  function editProfile() {
    const vp = state.draft.vocational_profile;
    const prefs = vp.preferences;
    return [h('div', { class: 'plan-grid' },
      field('Types of work wanted', listArea('vp.types', prefs.types, (v) => { prefs.types = v; }), { hint: 'One per line' }),
      field('Where', listArea('vp.locations', prefs.locations, (v) => { prefs.locations = v; }), { hint: 'Places or areas, one per line' }),
      field('Hours per week', numberInput('vp.hours', prefs.hours_per_week, (v) => { prefs.hours_per_week = v; }, { max: 80 }), { hint: 'Leave empty if not decided' }),
      field('Lowest hourly pay (£)', poundsInput('vp.min_pay', prefs.min_hourly_pay_pence, (v) => { prefs.min_hourly_pay_pence = v; }), { hint: 'Vacancies paying less are not suggested. Leave empty if not decided' }),
      checkboxes('vp.sectors', 'Sectors wanted', SECTORS, prefs.sectors, (v) => { prefs.sectors = v; }, { hint: 'Vacancies with employers in other sectors are not suggested. Choose none to see every sector' }),
      field('Skills', listArea('vp.skills', vp.skills, (v) => { vp.skills = v; }), { hint: 'One per line' }),
      field('Work history', textArea('vp.work_history', vp.work_history, (v) => { vp.work_history = v; }, { rows: 4, maxlength: 4000 }), { className: 'plan-grid__wide' }),
      field('What helps', textArea('vp.what_helps', vp.what_helps, (v) => { vp.what_helps = v; }, { rows: 3, maxlength: 2000 })),
      field('What gets in the way', textArea('vp.what_gets_in_the_way', vp.what_gets_in_the_way, (v) => { vp.what_gets_in_the_way = v; }, { rows: 3, maxlength: 2000 })))];
  }

  function editActions() {
    const actions = state.draft.actions;
    const now = today();
    return [
      actions.length
        ? h('ol', { class: 'plan-items' }, actions.map((action, i) => {
          const overdue = action.status === 'open' && action.due_on && action.due_on < now;
          return h('li', { class: 'plan-item' },
            h('fieldset', { class: 'plan-fieldset' },
              h('legend', { class: 'plan-fieldset__legend' }, `Action ${i + 1}`, overdue ? [' ', badge('Overdue', 'outcome-bad')] : null),
              field('What will be done', textArea(`actions.${action.id}.text`, action.text, (v) => { action.text = v; })),
              h('div', { class: 'plan-item__row' },
                field('Who', select(`actions.${action.id}.owner`, action.owner_id || '', ownerOptions(action.owner_id), (v) => { action.owner_id = v || null; })),
                field('Due by', dateInput(`actions.${action.id}.due`, action.due_on, (v) => { action.due_on = v; })),
                field('Status', select(`actions.${action.id}.status`, action.status, Object.entries(ACTION_STATUS), (v) => { action.status = v; })))),
            h('div', { class: 'plan-item__tools' },
              itemComments('actions', action.id, `on action ${i + 1}`),
              button('Remove', `actions.${action.id}.remove`, () => removeItem('actions', action.id), { hidden: `action ${i + 1}` })));
        }))
        : emptyState('No actions yet.'),
      button('Add an action', 'actions.add', () => addItem('actions', {
        id: newId(), text: '', owner_id: null, due_on: null, status: 'open',
      }, 'text'), { secondary: false }),
    ];
  }

  function editSupport() {
    const needs = state.draft.support_needs;
    return [
      needs.length
        ? h('ol', { class: 'plan-items' }, needs.map((need, i) => h('li', { class: 'plan-item' },
          h('fieldset', { class: 'plan-fieldset' },
            h('legend', { class: 'plan-fieldset__legend' }, `Support need ${i + 1}`),
            h('div', { class: 'plan-item__row' },
              field('Type of support', select(`support_needs.${need.id}.kind`, need.kind, Object.entries(SUPPORT_KINDS), (v) => { need.kind = v; })),
              field('Referral', select(`support_needs.${need.id}.referral`, need.referral_status, Object.entries(REFERRAL_STATUS), (v) => { need.referral_status = v; }))),
            field('What is needed', textArea(`support_needs.${need.id}.description`, need.description, (v) => { need.description = v; }))),
          h('div', { class: 'plan-item__tools' },
            itemComments('support_needs', need.id, `on support need ${i + 1}`),
            button('Remove', `support_needs.${need.id}.remove`, () => removeItem('support_needs', need.id), { hidden: `support need ${i + 1}` })))))
        : emptyState('No support needs recorded.'),
      button('Add a support need', 'support_needs.add', () => addItem('support_needs', {
        id: newId(), kind: 'housing', description: '', referral_status: 'to_refer',
      }, 'description'), { secondary: false }),
    ];
  }

  function editDiversion() {
    const activities = state.draft.diversion;
    return [
      activities.length
        ? h('ol', { class: 'plan-items' }, activities.map((activity, i) => h('li', { class: 'plan-item' },
          h('fieldset', { class: 'plan-fieldset' },
            h('legend', { class: 'plan-fieldset__legend' }, `Activity ${i + 1}`),
            h('div', { class: 'plan-item__row' },
              field('Type', select(`diversion.${activity.id}.kind`, activity.kind, Object.entries(DIVERSION_KINDS), (v) => { activity.kind = v; })),
              field('Activity', textInput(`diversion.${activity.id}.activity`, activity.activity, (v) => { activity.activity = v; }), { className: 'plan-item__grow' })),
            h('div', { class: 'plan-item__row' },
              field('Sessions offered', numberInput(`diversion.${activity.id}.offered`, activity.sessions_offered, (v) => { activity.sessions_offered = v; }, { max: 500, empty: 0 })),
              field('Sessions attended', numberInput(`diversion.${activity.id}.attended`, activity.sessions_attended, (v) => { activity.sessions_attended = v; }, { max: 500, empty: 0 })))),
          h('div', { class: 'plan-item__tools' },
            itemComments('diversion', activity.id, `on activity ${i + 1}`),
            button('Remove', `diversion.${activity.id}.remove`, () => removeItem('diversion', activity.id), { hidden: `activity ${i + 1}` })))))
        : emptyState('No diversion activities.'),
      button('Add an activity', 'diversion.add', () => addItem('diversion', {
        id: newId(), kind: 'life_skills', activity: '', sessions_offered: 0, sessions_attended: 0,
      }, 'activity'), { secondary: false }),
    ];
  }

  const EDITORS = {
    goals: editGoals,
    vocational_profile: editProfile,
    actions: editActions,
    support_needs: editSupport,
    diversion: editDiversion,
  };

  /* ------------------------------------------------------------ layout -- */

  const intros = {
    goals: isClient
      ? 'In your own words. You can add, change or remove your goals; your care team sees them straight away.'
      : `In ${firstName}’s own words: write them as ${firstName} says them.`,
    vocational_profile: isClient ? null : 'Job preferences, work history and skills, and what helps or gets in the way.',
    actions: isClient ? null : `What someone will do, by when. The owner can be anyone on the care team, or ${firstName}.`,
    support_needs: isClient ? null : 'Support from other services, and where each referral stands.',
    diversion: isClient ? null : 'Life-skills and vocational-skills activities offered instead of a sanction, with attendance.',
  };

  const sectionBadges = new Map(SECTIONS.map((key) => [key, badge('Unsaved changes', 'unsaved')]));
  const sectionsEl = h('div', { class: 'plan-sections' });

  function sectionEl(key) {
    const titleId = `plan-section-${key}`;
    const editable = canEdit(key);
    const marker = sectionBadges.get(key);
    return h('section', { class: ['plan-section', editable ? 'plan-section--editable' : null], 'aria-labelledby': titleId },
      h('div', { class: 'plan-section__head' }, h('h2', { id: titleId, tabindex: '-1' }, SECTION_TITLES[key]), marker),
      intros[key] ? h('p', { class: 'section__intro' }, intros[key]) : null,
      !editable ? h('p', { class: 'section__intro' }, 'Your care team keeps this part up to date. You can comment on anything.') : null,
      editable ? EDITORS[key]() : readOnly(key, state.draft, { withComments: true }),
      h('div', { class: 'plan-section__comments' }, commentBox(key, `on the ${SECTION_TITLES[key].toLowerCase()} section`)));
  }

  /**
   * Rebuild the sections from the draft, keeping focus where it was.
   * @param {{ focusKey?: string | null }} [options]  focusKey: the control to focus instead
   */
  function draw({ focusKey = null } = {}) {
    // A text control when it has a selection to keep (checked below), else any element.
    const active = /** @type {HTMLInputElement | null} */ (document.activeElement);
    const activeKey = active && sectionsEl.contains(active) && active.dataset ? active.dataset.key : null;
    const start = active && typeof active.selectionStart === 'number' ? active.selectionStart : null;
    const end = active && typeof active.selectionEnd === 'number' ? active.selectionEnd : null;
    sectionsEl.replaceChildren(...SECTIONS.map(sectionEl));
    afterDraw();
    const key = focusKey || activeKey;
    const target = key ? /** @type {HTMLInputElement | null} */ (sectionsEl.querySelector(`[data-key="${CSS.escape(key)}"]`)) : null;
    if (target) {
      target.focus({ preventScroll: !focusKey });
      if (!focusKey && start !== null && typeof target.setSelectionRange === 'function') {
        try {
          target.setSelectionRange(Math.min(start, target.value.length), Math.min(end, target.value.length));
        } catch {
          // Not a text control after all.
        }
      }
    } else if (active && active !== document.body && active.isConnected && document.activeElement !== active) {
      active.focus({ preventScroll: true }); // a comment box, moved with the redraw
    }
  }

  /** Marks the sections the draft changes ("Unsaved changes" beside their titles). @param {string[]} dirty */
  function markUnsaved(dirty) {
    for (const [key, marker] of sectionBadges) marker.hidden = !dirty.includes(key);
  }

  return { element: sectionsEl, draw, markUnsaved };
}
