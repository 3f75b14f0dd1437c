// Who an action can belong to: anyone on the client's care team, or the
// client. A former member keeps the actions they owned (shown as former);
// an owner no longer on the care team at all is still named as such.

import { roleLabel } from '../../ui.js';

/**
 * @param {any} client  the client as GET /clients/{id} answers (with care_team)
 * @param {{ isClient: boolean, firstName: string }} who  whether the client is the reader
 */
export function actionOwners(client, { isClient, firstName }) {
  const members = (client.care_team || []).filter((m) => m && m.user_id);
  const names = new Map(members.map((m) => [String(m.user_id), m.display_name || 'Someone']));
  const clientLabel = isClient ? 'You' : `${firstName} (the client)`;
  const ownerName = (ownerId) => (ownerId ? names.get(String(ownerId)) || 'Someone no longer on the care team' : clientLabel);
  /** @returns {[string, string][]} value and text of each option */
  const ownerOptions = (current) => {
    /** @type {[string, string][]} */
    const options = [['', clientLabel]];
    for (const m of members) {
      if (m.until && String(m.user_id) !== String(current)) continue;
      const role = m.role_on_team ? roleLabel(m.role_on_team) : '';
      options.push([String(m.user_id), `${m.display_name || 'Someone'}${role ? ` (${role})` : ''}${m.until ? ', former' : ''}`]);
    }
    if (current && !options.some(([v]) => v === String(current))) {
      options.push([String(current), 'Someone no longer on the care team']);
    }
    return options;
  };
  return { ownerName, ownerOptions };
}
