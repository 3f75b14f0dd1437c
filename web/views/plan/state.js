// The shared plan's content (docs/plans.md) and what the plan page knows of
// it: the version read (the base), the person's draft of it, a newer version
// announced meanwhile and a conflict found on saving. No DOM here.

import { humanise } from '../../ui.js';

export const SECTIONS = ['goals', 'vocational_profile', 'actions', 'support_needs', 'diversion'];
export const SECTION_TITLES = {
  goals: 'Goals',
  vocational_profile: 'Vocational profile',
  actions: 'Actions',
  support_needs: 'Support needs',
  diversion: 'Diversion activities',
};
export const ACTION_STATUS = { open: 'Open', done: 'Done', cancelled: 'Cancelled' };
export const SUPPORT_KINDS = {
  housing: 'Housing',
  debt_advice: 'Debt advice',
  welfare_benefits: 'Welfare-benefits counselling',
  other: 'Other',
};
export const REFERRAL_STATUS = {
  to_refer: 'To refer',
  referred: 'Referred',
  accepted: 'Accepted',
  declined: 'Declined',
  completed: 'Completed',
};
export const DIVERSION_KINDS = { life_skills: 'Life skills', vocational_skills: 'Vocational skills' };

/** JSON with sorted keys, so equal content compares equal whatever the key order. */
function stable(value) {
  if (Array.isArray(value)) return `[${value.map(stable).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${stable(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value === undefined ? null : value);
}

export const same = (a, b) => stable(a) === stable(b);
export const clone = (value) => JSON.parse(JSON.stringify(value));

export function newId() {
  const bytes = new Uint8Array(6);
  window.crypto.getRandomValues(bytes);
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

const arr = (v) => (Array.isArray(v) ? v.filter((x) => x && typeof x === 'object') : []);
const str = (v) => (typeof v === 'string' ? v : '');
const strings = (v) => (Array.isArray(v) ? v.map(String) : []);
const count = (v) => (Number.isInteger(v) ? v : 0);

/** The plan content in full (a plan never saved is `{}` in a 412). */
export function normalise(content) {
  const c = content && typeof content === 'object' ? content : {};
  const vp = c.vocational_profile && typeof c.vocational_profile === 'object' ? c.vocational_profile : {};
  const prefs = vp.preferences && typeof vp.preferences === 'object' ? vp.preferences : {};
  return {
    goals: arr(c.goals).map((g) => ({ id: String(g.id || newId()), text: str(g.text) })),
    vocational_profile: {
      preferences: {
        types: strings(prefs.types),
        locations: strings(prefs.locations),
        hours_per_week: Number.isInteger(prefs.hours_per_week) ? prefs.hours_per_week : null,
        sectors: strings(prefs.sectors),
        min_hourly_pay_pence: Number.isInteger(prefs.min_hourly_pay_pence) ? prefs.min_hourly_pay_pence : null,
      },
      work_history: str(vp.work_history),
      skills: strings(vp.skills),
      what_helps: str(vp.what_helps),
      what_gets_in_the_way: str(vp.what_gets_in_the_way),
    },
    actions: arr(c.actions).map((a) => ({
      id: String(a.id || newId()),
      text: str(a.text),
      owner_id: a.owner_id || null,
      due_on: a.due_on || null,
      status: a.status || 'open',
    })),
    support_needs: arr(c.support_needs).map((n) => ({
      id: String(n.id || newId()),
      kind: n.kind || 'other',
      description: str(n.description),
      referral_status: n.referral_status || 'to_refer',
    })),
    diversion: arr(c.diversion).map((d) => ({
      id: String(d.id || newId()),
      kind: d.kind || 'life_skills',
      activity: str(d.activity),
      sessions_offered: count(d.sessions_offered),
      sessions_attended: count(d.sessions_attended),
    })),
  };
}

/** @typedef {ReturnType<typeof normalise>} PlanContent */

export function changedSections(before, after) {
  return SECTIONS.filter((key) => !same(before[key], after[key]));
}

/** "Goals", "Goals and Actions", "Goals, Actions and Diversion activities". */
export function sectionList(keys) {
  const names = keys.map((k, i) => (i === 0 ? SECTION_TITLES[k] || humanise(k) : (SECTION_TITLES[k] || humanise(k)).toLowerCase()));
  if (names.length <= 1) return names.join('');
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

/**
 * One saved version of the plan, as the page holds it.
 * @typedef {object} PlanVersion
 * @property {number} version
 * @property {PlanContent} content
 * @property {string} etag  sent back as If-Match on the next save
 * @property {string | null} updated_by_name
 * @property {string | null} updated_at
 */

/**
 * A newer version announced by someone else (plan.updated, or found after a reconnection).
 * @typedef {object} RemoteUpdate
 * @property {number} version
 * @property {PlanContent} content
 * @property {string} name  who saved it, as the page says it
 * @property {string[]} sections  the sections it changed
 * @property {string | null} at
 */

/**
 * @typedef {object} PlanState
 * @property {PlanVersion} base  the version the draft was made from
 * @property {PlanContent} draft  the person's copy, with their unsaved edits
 * @property {boolean} saving
 * @property {RemoteUpdate | null} remote  a newer version announced while there were unsaved edits
 * @property {{ theirs: PlanVersion, versions: any[] } | null} conflict  a save refused with 412
 * @property {string} message  the last thing that happened ("Saved as version 4.")
 */

/**
 * A version as the API gives it (GET or PUT /plan), with the ETag it came with.
 * @returns {PlanVersion}
 */
export function fromView(view, etag) {
  return {
    version: Number(view.version) || 0,
    content: normalise(view.content),
    etag: etag || `"${Number(view.version) || 0}"`,
    updated_by_name: view.updated_by_name || null,
    updated_at: view.updated_at || null,
  };
}

/**
 * @param {PlanVersion} base
 * @returns {PlanState}
 */
export function planState(base) {
  return {
    base,
    draft: clone(base.content),
    saving: false,
    remote: null,
    conflict: null,
    message: '',
  };
}

/** The sections the draft changes. @param {PlanState} state */
export const dirtySections = (state) => changedSections(state.base.content, state.draft);
