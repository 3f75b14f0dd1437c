// "Waiting to join your team": people an admin proposed for a team, shown to
// those who confirm them (the team's supervisors, or its clinical members when
// it has no supervisor). A proposed member reads nothing of the team until
// confirmed: the admin controls every account it makes.

import { request } from '../api.js';
import { h, emptyState, formatDate, problemMessage, roleLabel } from '../ui.js';

export function teamJoinsArea(ctx, initial) {
  const area = h('div', { class: 'team-joins' });
  const draw = (pending) => {
    if (!pending.length) {
      area.replaceChildren(emptyState('No one is waiting to join your team.'));
      return;
    }
    area.replaceChildren(h('ul', { class: 'team-join-list', 'aria-label': 'Waiting to join your team' },
      pending.map((p) => {
        const error = h('p', { class: 'field__error', role: 'alert' });
        const decide = (verb) => async (event) => {
          for (const b of item.querySelectorAll('button')) b.disabled = true;
          try {
            await request(`/api/v1/teams/${encodeURIComponent(p.team_id)}/members/${encodeURIComponent(p.user_id)}/${verb}`,
              { method: 'POST', signal: ctx.signal });
            draw(await request('/api/v1/teams/pending-members', { signal: ctx.signal }));
          } catch (err) {
            if (err.name === 'AbortError') return;
            error.textContent = problemMessage(err);
            for (const b of item.querySelectorAll('button')) b.disabled = false;
            event.target.focus();
          }
        };
        const item = h('li', { class: 'team-join', dataset: { userId: p.user_id, teamId: p.team_id } },
          h('p', {}, h('strong', {}, p.display_name), ` (${p.email}, ${roleLabel(p.role)}) for `,
            h('strong', {}, p.team_name),
            `, proposed${p.proposed_by_name ? ` by ${p.proposed_by_name}` : ''} on ${formatDate(p.proposed_at)}. `
            + 'Once confirmed they read the team’s conversation, join its meetings and see who is online.'),
          h('div', { class: 'form__actions' },
            h('button', { type: 'button', class: 'button button--small', onClick: decide('confirm') },
              `Confirm ${p.display_name}`),
            h('button', { type: 'button', class: 'button button--small button--secondary', onClick: decide('decline') },
              `Decline ${p.display_name}`)),
          error);
        return item;
      })));
  };
  draw(initial);
  return area;
}
