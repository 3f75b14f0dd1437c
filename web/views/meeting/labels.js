// How a meeting is named and dated wherever it is listed: its kind, and when it runs.

export const KIND_LABELS = {
  client_session: 'Client session',
  case_meeting: 'Case meeting',
  supervision: 'Supervision',
};

const longDay = new Intl.DateTimeFormat('en-GB', {
  weekday: 'long', day: 'numeric', month: 'long', hour: '2-digit', minute: '2-digit',
});
const clockTime = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit' });

/**
 * "Tuesday 3 March at 14:00 to 15:00" (or both ends in full across midnight).
 * @param {Record<string, any>} meeting with its starts_at and ends_at
 */
export function meetingWhen(meeting) {
  const start = new Date(meeting.starts_at);
  const end = new Date(meeting.ends_at);
  if (Number.isNaN(start.getTime())) return '';
  if (Number.isNaN(end.getTime())) return longDay.format(start);
  const sameDay = start.toDateString() === end.toDateString();
  return `${longDay.format(start)} to ${sameDay ? clockTime.format(end) : longDay.format(end)}`;
}
