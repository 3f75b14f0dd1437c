// The plan's API (docs/plans.md), one function a call, each with its whole
// address written out: what the plan page asks of the server is read here.

import * as api from '../../api.js';

/**
 * The plan as it is now, with its ETag (sent back as If-Match on a save).
 * @param {string} clientId
 * @param {{ signal?: AbortSignal }} options
 */
export function readPlan(clientId, { signal }) {
  return api.request(`/api/v1/clients/${encodeURIComponent(clientId)}/plan`, { signal, withHeaders: true });
}

/**
 * Save the whole plan over the version read: a 412 when someone saved in between.
 * @param {string} clientId
 * @param {import('./state.js').PlanContent} content
 * @param {string} etag  the version read
 */
export function savePlan(clientId, content, etag) {
  return api.request(`/api/v1/clients/${encodeURIComponent(clientId)}/plan`, {
    method: 'PUT', body: content, headers: { 'If-Match': etag }, withHeaders: true,
  });
}

/**
 * Every saved version, oldest first.
 * @param {string} clientId
 * @param {{ signal?: AbortSignal }} options
 */
export function readHistory(clientId, { signal }) {
  return api.request(`/api/v1/clients/${encodeURIComponent(clientId)}/plan/history`, { signal });
}

/**
 * Every comment on the plan.
 * @param {string} clientId
 * @param {{ signal?: AbortSignal }} options
 */
export function readComments(clientId, { signal }) {
  return api.request(`/api/v1/clients/${encodeURIComponent(clientId)}/plan/comments`, { signal });
}

/**
 * Comment on an item or a section.
 * @param {string} clientId
 * @param {string} itemId
 * @param {string} text
 */
export function postComment(clientId, itemId, text) {
  return api.request(`/api/v1/clients/${encodeURIComponent(clientId)}/plan/comments`, {
    method: 'POST', body: { item_id: itemId, text },
  });
}
