"""Meeting invitations as iCalendar: generated, parsed back with icalendar, and emailed.

Every field of the VCALENDAR is checked after a round trip through the parser; an update keeps
the UID with SEQUENCE + 1; a cancellation is METHOD:CANCEL with STATUS:CANCELLED. The .ics then
goes through a real SMTP server (aiosmtpd on loopback) as a ``text/calendar; method=REQUEST``
part, and through the log sender, which names it without its content.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from icalendar import Calendar, Event

from app.meetings.calendar import PRODID, invitation_attachment, meeting_ics
from auth.email import Attachment, EmailMessage, LogEmailSender, SmtpEmailSender
from tests.support.smtp import Mailbox, SmtpServer

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
UID = "3b9a7c52-5d1e-4f0a-9c1b-2a7e6d4f8e10@teamwell"
STARTS = datetime(2026, 1, 12, 14, 30, tzinfo=UTC)
ENDS = STARTS + timedelta(hours=1)
URL = "https://teamwell.example/#/meetings/3b9a7c52-5d1e-4f0a-9c1b-2a7e6d4f8e10"
TITLE = "Teamwell meeting"
DESCRIPTION = "Join from Teamwell:\nhttps://teamwell.example/#/meetings/3b9a7c52"
ORGANISER = ("jo.lead@tyneside-nhs.example", "Jo Lead")
ATTENDEES = [
    ("erin.walsh@northern-employment.example", "Erin Walsh"),
    ("alex.morgan@example.org", "Alex Morgan"),
]


def ics(**overrides: Any) -> bytes:
    values: dict[str, Any] = {
        "uid": UID,
        "sequence": 0,
        "title": TITLE,
        "starts_at": STARTS,
        "ends_at": ENDS,
        "organiser_email": ORGANISER[0],
        "organiser_name": ORGANISER[1],
        "attendees": ATTENDEES,
        "url": URL,
        "description": DESCRIPTION,
        "method": "REQUEST",
        "now": NOW,
        **overrides,
    }
    return meeting_ics(**values)


def parse(data: bytes) -> tuple[Calendar, Event]:
    calendar = Calendar.from_ical(data)
    assert isinstance(calendar, Calendar)
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    assert len(calendar.subcomponents) == 1  # no VTIMEZONE or anything else: times are UTC
    event = events[0]
    assert isinstance(event, Event)
    return calendar, event


def addresses(event: Event, name: str) -> list[Any]:
    value = event.get(name)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def test_an_invitation_has_every_field() -> None:
    data = ics()
    assert data.startswith(b"BEGIN:VCALENDAR\r\n") and data.endswith(b"END:VCALENDAR\r\n")
    assert all(len(line) <= 75 for line in data.split(b"\r\n"))  # folded per RFC 5545
    calendar, event = parse(data)
    assert calendar["PRODID"] == PRODID == "-//Teamwell//Meetings//EN"
    assert calendar["VERSION"] == "2.0"
    assert calendar["METHOD"] == "REQUEST"

    assert event["UID"] == UID
    assert event["SEQUENCE"] == 0
    assert event.decoded("DTSTAMP") == NOW
    assert event.decoded("DTSTART") == STARTS
    assert event.decoded("DTEND") == ENDS
    assert event["SUMMARY"] == TITLE
    assert event["URL"] == URL
    assert event["DESCRIPTION"] == DESCRIPTION
    assert event["STATUS"] == "CONFIRMED"

    organiser = event["ORGANIZER"]
    assert str(organiser) == f"mailto:{ORGANISER[0]}"
    assert organiser.params["CN"] == ORGANISER[1]


def test_every_attendee_is_asked_to_reply() -> None:
    _, event = parse(ics())
    attendees = addresses(event, "ATTENDEE")
    assert [(str(a), a.params["CN"]) for a in attendees] == [
        (f"mailto:{address}", name) for address, name in ATTENDEES
    ]
    for attendee in attendees:
        assert attendee.params["ROLE"] == "REQ-PARTICIPANT"
        assert attendee.params["PARTSTAT"] == "NEEDS-ACTION"
        assert attendee.params["RSVP"] == "TRUE"


def test_times_are_written_in_utc_whatever_zone_they_come_in() -> None:
    newcastle_summer = timezone(timedelta(hours=1))
    data = ics(
        starts_at=datetime(2026, 7, 1, 10, 0, tzinfo=newcastle_summer),
        ends_at=datetime(2026, 7, 1, 11, 0, tzinfo=newcastle_summer),
        now=datetime(2026, 6, 1, 10, 0),  # naive: taken as UTC, as Teamwell stores times
    )
    assert b"DTSTART:20260701T090000Z\r\n" in data
    assert b"DTEND:20260701T100000Z\r\n" in data
    assert b"DTSTAMP:20260601T100000Z\r\n" in data
    assert b"TZID" not in data
    _, event = parse(data)
    assert event.decoded("DTSTART").tzinfo is not None
    assert event.decoded("DTSTART").utcoffset() == timedelta(0)


def test_an_update_keeps_the_uid_with_the_next_sequence() -> None:
    _, first = parse(ics())
    moved = STARTS + timedelta(days=1)
    later = NOW + timedelta(hours=2)
    _, update = parse(
        ics(sequence=1, starts_at=moved, ends_at=moved + timedelta(minutes=30), now=later)
    )
    assert update["UID"] == first["UID"] == UID
    assert update.decoded("SEQUENCE") == first.decoded("SEQUENCE") + 1 == 1
    assert update.decoded("DTSTART") == moved
    assert update.decoded("DTSTAMP") == later
    assert update["STATUS"] == "CONFIRMED"


def test_a_cancellation_keeps_the_uid() -> None:
    calendar, event = parse(ics(method="CANCEL", sequence=2))
    assert calendar["METHOD"] == "CANCEL"
    assert event["STATUS"] == "CANCELLED"
    assert event["UID"] == UID and event["SEQUENCE"] == 2
    assert [str(a) for a in addresses(event, "ATTENDEE")] == [f"mailto:{a}" for a, _ in ATTENDEES]


def test_only_what_it_is_given_goes_in() -> None:
    data = ics()
    # Every line is one of the expected properties; nothing else (no notes, no record data).
    unfolded = data.decode().replace("\r\n ", "")
    names = {line.split(":", 1)[0].split(";", 1)[0] for line in unfolded.split("\r\n") if line}
    assert names == {
        "BEGIN", "END", "PRODID", "VERSION", "METHOD", "UID", "SEQUENCE", "DTSTAMP", "DTSTART",
        "DTEND", "SUMMARY", "ORGANIZER", "ATTENDEE", "URL", "DESCRIPTION", "STATUS",
    }  # fmt: skip
    # The free-text values are exactly the caller's.
    _, event = parse(data)
    assert (str(event["SUMMARY"]), str(event["DESCRIPTION"])) == (TITLE, DESCRIPTION)


def test_text_is_escaped_and_names_cannot_break_a_parameter() -> None:
    title = "Review; budget, plan"
    data = ics(
        title=title,
        description="line one\nline two; with, punctuation",
        attendees=[("sam@example.org", 'Sam "The Man" O\'Neil,\r\nROLE=CHAIR')],
    )
    assert b"SUMMARY:Review\\; budget\\, plan\r\n" in data
    _, event = parse(data)
    assert event["SUMMARY"] == title
    assert event["DESCRIPTION"] == "line one\nline two; with, punctuation"
    (attendee,) = addresses(event, "ATTENDEE")
    assert attendee.params["CN"] == "Sam The Man O'Neil, ROLE=CHAIR"
    assert attendee.params["ROLE"] == "REQ-PARTICIPANT"


def test_an_attendee_without_a_name_has_no_cn() -> None:
    _, event = parse(ics(attendees=[("sam@example.org", "  ")]))
    (attendee,) = addresses(event, "ATTENDEE")
    assert str(attendee) == "mailto:sam@example.org" and "CN" not in attendee.params


@pytest.mark.parametrize(
    "bad",
    [
        {"ends_at": STARTS},
        {"ends_at": STARTS - timedelta(minutes=1)},
        {"sequence": -1},
        {"uid": " "},
        {"uid": "a\r\nb"},
        {"method": "PUBLISH"},
        {"organiser_email": "not-an-address"},
        {"attendees": [("a@example.org\r\nATTENDEE:mailto:b@example.org", "A")]},
    ],
)
def test_nonsense_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ics(**bad)


def test_the_attachment_tells_mail_clients_the_method() -> None:
    invite = invitation_attachment(ics(), method="REQUEST")
    assert invite.filename == "invite.ics"
    assert invite.content_type == "text/calendar; method=REQUEST; charset=UTF-8"
    cancel = invitation_attachment(ics(method="CANCEL"), method="CANCEL")
    assert cancel.content_type.startswith("text/calendar; method=CANCEL;")


@pytest.mark.parametrize(
    ("filename", "content_type"),
    [
        ("../invite.ics", "text/calendar"),
        ("invite\r\n.ics", "text/calendar"),
        ("", "text/calendar"),
        ("invite.ics", "calendar"),
        ("invite.ics", "text/calendar\r\nBcc: someone@example.org"),
        ("invite.ics", "multipart/mixed"),
    ],
)
def test_unsafe_attachments_are_refused(filename: str, content_type: str) -> None:
    with pytest.raises(ValueError):
        Attachment(filename, content_type, b"")


# --- emailed ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[int, Mailbox]]:
    with SmtpServer() as server:
        yield server.port, server.mailbox


async def test_an_invitation_email_carries_the_ics_as_a_calendar_part(
    smtp: tuple[int, Mailbox],
) -> None:
    port, inbox = smtp
    data = ics()
    sender = SmtpEmailSender(host="127.0.0.1", port=port, sender="Teamwell <t@teamwell.example>")
    await sender.send(
        EmailMessage(
            to=ATTENDEES[0][0],
            subject="Invitation: Teamwell meeting",
            text=f"You are invited.\n{URL}",
            attachments=(invitation_attachment(data, method="REQUEST"),),
        )
    )
    assert inbox.wait_count(1, timeout=10)
    (message,) = inbox.messages
    assert message.get_content_type() == "multipart/mixed"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None and URL in body.get_content()
    (part,) = list(message.iter_attachments())
    assert part.get_content_type() == "text/calendar"
    assert part.get_param("method") == "REQUEST"
    assert part.get_param("charset") == "UTF-8"
    assert part.get_filename() == "invite.ics"
    assert part.get_content_disposition() == "attachment"
    received = part.get_payload(decode=True)
    assert isinstance(received, bytes) and received == data
    calendar, event = parse(received)
    assert calendar["METHOD"] == "REQUEST" and event["UID"] == UID


async def test_a_plain_email_is_still_single_part(smtp: tuple[int, Mailbox]) -> None:
    port, inbox = smtp
    inbox.clear()
    sender = SmtpEmailSender(host="127.0.0.1", port=port, sender="Teamwell <t@teamwell.example>")
    await sender.send(EmailMessage(to="sam@example.org", subject="Hello", text="Just text"))
    assert inbox.wait_count(1, timeout=10)
    (message,) = inbox.messages
    assert message.get_content_type() == "text/plain"
    assert list(message.iter_attachments()) == []


async def test_the_log_sender_names_attachments_without_their_content(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="teamwell.email")
    data = ics(description="Secret-looking description that must not be logged")
    await LogEmailSender().send(
        EmailMessage(
            to="sam@example.org",
            subject="Invitation",
            text="You are invited",
            attachments=(invitation_attachment(data, method="REQUEST"),),
        )
    )
    assert "sam@example.org" in caplog.text and "You are invited" in caplog.text
    assert f"invite.ics, {len(data)} bytes" in caplog.text
    assert "BEGIN:VCALENDAR" not in caplog.text
    assert "must not be logged" not in caplog.text
