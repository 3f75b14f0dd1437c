// Comments on the plan's items and sections (docs/plans.md): one folded box
// per item, kept across redraws so an open box and a half-written comment
// survive a live update; comments arriving live (plan.comment) join their box.

import { h, uid, time, problemMessage } from '../../ui.js';
import { postComment } from './requests.js';

/**
 * @param {object} options
 * @param {import('../../app.js').ViewContext} options.ctx
 * @param {string} options.clientId
 * @param {any[]} options.initial  the comments read with the page
 */
export function planComments({ ctx, clientId, initial }) {
  const comments = new Map(); // item_id → [comment], oldest first
  const boxes = new Map(); // item_id → comment box

  /** Adds a comment not seen before; false for one already shown. */
  function add(comment) {
    if (!comment || !comment.item_id) return false;
    const list = comments.get(comment.item_id) || [];
    if (list.some((c) => c.id === comment.id)) return false;
    list.push(comment);
    list.sort((a, b) => String(a.created_at).localeCompare(String(b.created_at)));
    comments.set(comment.item_id, list);
    const box = boxes.get(comment.item_id);
    if (box) box.update();
    return true;
  }
  for (const c of initial) add(c);

  /**
   * The comment box of an item or section.
   * @param {string} itemId
   * @param {string} context  what it is on, for a screen reader ("on goal 2")
   * @returns {HTMLElement}
   */
  function box(itemId, context) {
    let found = boxes.get(itemId);
    if (!found) {
      const summaryText = h('span', {});
      const contextText = h('span', { class: 'visually-hidden' });
      const listEl = h('ul', { class: 'comment-list' });
      const inputId = uid('comment');
      const input = /** @type {HTMLTextAreaElement} */ (h('textarea', {
        id: inputId, class: 'input comment-form__input', rows: '2', maxlength: '2000', dataset: { comment: itemId },
      }));
      const error = h('p', { class: 'field__error', role: 'alert' });
      const post = h('button', { type: 'submit', class: 'button button--small button--secondary' }, 'Post comment');
      const labelEl = h('label', { for: inputId, class: 'field__label' }, 'Add a comment');
      const form = h('form', { class: 'comment-form' }, labelEl, input, error, post);
      const element = h('details', { class: 'plan-comments' }, h('summary', {}, summaryText, contextText), listEl, form);
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        const text = input.value.trim();
        error.textContent = '';
        if (!text) {
          error.textContent = 'Write a comment first.';
          input.focus();
          return;
        }
        if (post.getAttribute('aria-disabled') === 'true') return;
        post.setAttribute('aria-disabled', 'true');
        try {
          const saved = await postComment(clientId, itemId, text);
          if (!ctx.isCurrent()) return;
          add(saved);
          input.value = '';
          input.focus();
        } catch (failure) {
          if (!ctx.isCurrent()) return;
          error.textContent = problemMessage(failure);
        } finally {
          post.removeAttribute('aria-disabled');
        }
      });
      found = {
        element,
        setContext(text) {
          contextText.textContent = ` ${text}`;
          labelEl.replaceChildren('Add a comment', h('span', { class: 'visually-hidden' }, ` ${text}`));
        },
        update() {
          const list = comments.get(itemId) || [];
          summaryText.textContent = list.length ? `Comments (${list.length})` : 'Comment';
          listEl.replaceChildren(...list.map((c) => h('li', { class: 'comment' },
            h('p', { class: 'comment__meta' },
              h('span', { class: 'comment__author' }, String(c.author_id) === String(ctx.user.id) ? 'You' : c.author_name || 'Someone'),
              ' · ', time(c.created_at, { withTime: true })),
            h('p', { class: 'comment__text' }, c.text))));
          listEl.hidden = list.length === 0;
        },
      };
      boxes.set(itemId, found);
    }
    found.setContext(context);
    found.update();
    return found.element;
  }

  return { add, box };
}
