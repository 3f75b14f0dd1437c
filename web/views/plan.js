// The shared plan (docs/plans.md): goals in the client's words, vocational
// profile, actions, support needs and diversion activities. This file reads
// the plan and puts the page together; each part has a module in plan/:
//
// - state.js: the plan's content (normalised, compared) and the page's state.
// - editor.js: editing a draft and saving it with If-Match; a 412 opens the
//   conflict view (conflict.js), where the person chooses "Use theirs" or
//   "Re-apply my change". Nothing is ever overwritten silently.
// - sections.js: the five sections, editable or read-only; fields.js their
//   controls; validate.js and problems.js what stops a save.
// - live.js: on plan.updated for this client the page refreshes in place when
//   there are no unsaved edits ("Updated by … just now"); with unsaved edits
//   a banner (bar.js) says the plan changed and the save will need merging.
// - comments.js: comments on every item and section (live through plan.comment).
// - requests.js: the plan's API calls.
// - history.js: every version with who, when and which sections changed.
// - A client edits only their goals; the other sections are read-only for
//   them, and they may comment on anything.

import * as api from '../api.js';
import { h, heading, page } from '../ui.js';
import { fromView } from './plan/state.js';
import { readPlan, readComments } from './plan/requests.js';
import { actionOwners } from './plan/people.js';
import { planComments } from './plan/comments.js';
import { readOnlyView } from './plan/sections.js';
import { planHistory } from './plan/history.js';
import { planEditor } from './plan/editor.js';
import { followPlan } from './plan/live.js';

export { normalise, changedSections } from './plan/state.js';

/** @param {import('../app.js').ViewContext} ctx */
export async function render(ctx) {
  const id = encodeURIComponent(ctx.params.id);
  const [client, read, comments] = await Promise.all([
    api.request(`/api/v1/clients/${id}`, { signal: ctx.signal }),
    readPlan(ctx.params.id, { signal: ctx.signal }),
    readComments(ctx.params.id, { signal: ctx.signal }),
  ]);
  return planPage(ctx, client, read, Array.isArray(comments) ? comments : []);
}

/**
 * @param {import('../app.js').ViewContext} ctx
 * @param {any} client  GET /clients/{id}
 * @param {{ data: any, headers: Headers }} read  GET /clients/{id}/plan, with its ETag
 * @param {any[]} initialComments
 */
function planPage(ctx, client, read, initialComments) {
  const isClient = ctx.user.role === 'client';
  const name = client.display_name || 'this client';
  const firstName = String(client.display_name || '').trim().split(/\s+/)[0] || 'the client';

  const { ownerName, ownerOptions } = actionOwners(client, { isClient, firstName });
  const comments = planComments({ ctx, clientId: client.id, initial: initialComments });
  const readOnly = readOnlyView({ ownerName, commentBox: comments.box });
  const history = planHistory({ ctx, clientId: client.id, readOnly });
  const editor = planEditor({
    ctx,
    clientId: client.id,
    base: fromView(read.data, read.headers.get('ETag')),
    isClient,
    firstName,
    ownerOptions,
    readOnly,
    commentBox: comments.box,
    refreshHistory: history.refresh,
  });
  const cleanups = followPlan({ ctx, client, editor, addComment: comments.add });
  ctx.signal.addEventListener('abort', () => {
    for (const fn of cleanups.splice(0)) fn();
  }, { once: true });

  const recordHref = isClient ? '#/my-record' : `#/clients/${encodeURIComponent(client.id)}`;
  return page(
    h('nav', { class: 'breadcrumbs', 'aria-label': 'Breadcrumb' },
      h('ol', {},
        isClient
          ? h('li', {}, h('a', { href: recordHref }, 'My record'))
          : [h('li', {}, h('a', { href: '#/clients' }, 'Clients')), h('li', {}, h('a', { href: recordHref }, name))],
        h('li', { 'aria-current': 'page' }, isClient ? 'Your plan' : 'Plan'))),
    h('div', { class: 'page-header' },
      heading(isClient ? 'Your plan' : `Plan for ${name}`),
      h('p', { class: 'lead' }, isClient
        ? 'What you are working towards, and what you and your care team have agreed to do.'
        : `Shared by ${firstName} and the care team. Each save is kept as a version, and everyone viewing the plan sees it at once.`)),
    ...editor.elements,
    history.element,
  );
}
