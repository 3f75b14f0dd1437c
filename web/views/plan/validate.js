// The checks a plan's changed sections pass before a save: each problem names
// the control it belongs to (its data-key), so the error summary can link it.
// The server checks again; these only say it sooner and in the person's words.

/**
 * @typedef {object} PlanProblem
 * @property {string | null} key  the control's data-key, or null for the plan as a whole
 * @property {string} message
 */

/**
 * @param {import('./state.js').PlanContent} draft
 * @param {string[]} sections  the sections to check (those the draft changes)
 * @returns {PlanProblem[]}
 */
export function validate(draft, sections) {
  const problems = [];
  const d = draft;
  const whole = (v, max) => Number.isInteger(v) && v >= 0 && v <= max;
  if (sections.includes('goals')) {
    d.goals.forEach((g, i) => {
      if (!g.text.trim()) problems.push({ key: `goals.${g.id}.text`, message: `Goal ${i + 1}: write the goal, or remove it` });
    });
  }
  if (sections.includes('vocational_profile')) {
    const hours = d.vocational_profile.preferences.hours_per_week;
    if (hours !== null && !whole(hours, 80)) problems.push({ key: 'vp.hours', message: 'Hours per week must be a whole number from 0 to 80' });
    const pay = d.vocational_profile.preferences.min_hourly_pay_pence;
    if (pay !== null && !(whole(pay, 100000) && pay > 0)) problems.push({ key: 'vp.min_pay', message: 'Lowest hourly pay must be an amount in pounds and pence, such as 12.60, up to £1,000' });
  }
  if (sections.includes('actions')) {
    d.actions.forEach((a, i) => {
      if (!a.text.trim()) problems.push({ key: `actions.${a.id}.text`, message: `Action ${i + 1}: say what will be done, or remove the action` });
    });
  }
  if (sections.includes('support_needs')) {
    d.support_needs.forEach((n, i) => {
      if (!n.description.trim()) problems.push({ key: `support_needs.${n.id}.description`, message: `Support need ${i + 1}: say what is needed, or remove it` });
    });
  }
  if (sections.includes('diversion')) {
    d.diversion.forEach((a, i) => {
      if (!a.activity.trim()) problems.push({ key: `diversion.${a.id}.activity`, message: `Activity ${i + 1}: name the activity, or remove it` });
      if (!whole(a.sessions_offered, 500)) problems.push({ key: `diversion.${a.id}.offered`, message: `Activity ${i + 1}: sessions offered must be a whole number from 0 to 500` });
      if (!whole(a.sessions_attended, 500)) {
        problems.push({ key: `diversion.${a.id}.attended`, message: `Activity ${i + 1}: sessions attended must be a whole number from 0 to 500` });
      } else if (whole(a.sessions_offered, 500) && a.sessions_attended > a.sessions_offered) {
        problems.push({ key: `diversion.${a.id}.attended`, message: `Activity ${i + 1}: sessions attended cannot be more than sessions offered` });
      }
    });
  }
  return problems;
}
