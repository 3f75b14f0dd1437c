"""Meeting invitations as iCalendar (RFC 5545) objects sent by email (iMIP, RFC 6047).

One meeting is one VEVENT whose UID never changes: an update is the same UID with a higher
SEQUENCE (``METHOD:REQUEST``), a cancellation the same UID with ``METHOD:CANCEL`` and
``STATUS:CANCELLED``. Pure: the caller passes every value, the clock's ``now`` included, and
chooses a neutral title and description — nothing clinical belongs in a calendar entry.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Literal

from icalendar import Calendar, Event, vCalAddress, vText

from app.clock import as_utc
from auth.email import Attachment

PRODID = "-//Teamwell//Meetings//EN"

InvitationMethod = Literal["REQUEST", "CANCEL"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Control characters and the double quote cannot appear in a property parameter (a CN).
_NOT_IN_PARAMETER = re.compile(r'[\x00-\x1f\x7f"]+')


def meeting_ics(
    *,
    uid: str,
    sequence: int,
    title: str,
    starts_at: datetime,
    ends_at: datetime,
    organiser_email: str,
    organiser_name: str,
    attendees: list[tuple[str, str]],
    url: str,
    description: str,
    method: InvitationMethod,
    now: datetime,
) -> bytes:
    """A VCALENDAR with one VEVENT inviting ``attendees`` ((email, name) pairs) to a meeting.

    Times are written in UTC (naive datetimes are taken as UTC, as Teamwell stores them).
    """
    if method not in ("REQUEST", "CANCEL"):
        raise ValueError(f"method must be REQUEST or CANCEL, not {method!r}")
    if not uid.strip() or _CONTROL.search(uid):
        raise ValueError("uid must be a non-empty line of text")
    if sequence < 0:
        raise ValueError("sequence must not be negative")
    start, end = _utc(starts_at), _utc(ends_at)
    if end <= start:
        raise ValueError("a meeting must end after it starts")

    event = Event()
    event.add("uid", uid)
    event.add("sequence", sequence)
    event.add("dtstamp", _utc(now))
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("summary", title)
    event.add("organizer", _address(organiser_email, organiser_name), encode=False)
    for email, name in attendees:
        attendee = _address(email, name)
        attendee.params["ROLE"] = "REQ-PARTICIPANT"
        attendee.params["PARTSTAT"] = "NEEDS-ACTION"
        attendee.params["RSVP"] = "TRUE"
        event.add("attendee", attendee, encode=False)
    event.add("url", url)
    event.add("description", description)
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", method)
    calendar.add_component(event)
    return calendar.to_ical()


def invitation_attachment(ics: bytes, *, method: InvitationMethod) -> Attachment:
    """The .ics as an email attachment; the MIME ``method`` lets mail clients act on it."""
    filename = "cancel.ics" if method == "CANCEL" else "invite.ics"
    return Attachment(filename, f"text/calendar; method={method}; charset=UTF-8", ics)


def _utc(value: datetime) -> datetime:
    return as_utc(value).astimezone(UTC)


def _address(email: str, name: str) -> vCalAddress:
    email = email.strip()
    if "@" not in email or _NOT_IN_PARAMETER.search(email) or any(c in email for c in " ,;:<>"):
        raise ValueError(f"not an email address: {email!r}")
    address = vCalAddress(f"mailto:{email}")
    common_name = " ".join(_NOT_IN_PARAMETER.sub(" ", name).split())
    if common_name:
        address.params["CN"] = vText(common_name)
    return address
