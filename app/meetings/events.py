"""What a meeting announces, once the seats are stored: who joined, changed or left, who waits
in the lobby, who was let in, turned away or moved to another device, and that it ended.

Each goes to participants' own devices (a seat belongs to one socket, not to every device of
its person). Signalling (offers, answers, candidates) and lobby messages are relayed, never
stored, so they are no events: realtime/meeting_handlers.py sends them straight away.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from app.events import Device, Event
from app.meetings.models import MeetingParticipant, ParticipantState
from realtime import protocol as p


class ParticipantJoined(Event):
    frame: p.MeetingParticipantJoined


class ParticipantChanged(Event):
    frame: p.MeetingParticipantChanged


class ParticipantLeft(Event):
    frame: p.MeetingParticipantLeft


class LobbyChanged(Event):
    frame: p.MeetingLobby


class Admitted(Event):
    frame: p.MeetingAdmitted


class TurnedAway(Event):
    frame: p.MeetingDeclined | p.MeetingRemoved


class SeatMoved(Event):
    frame: p.MeetingMoved


class MeetingEnded(Event):
    frame: p.MeetingEnded


def device_of(seat: MeetingParticipant) -> Device:
    return Device(seat.person_id, seat.connection_id)


def admitted(
    seats: Iterable[MeetingParticipant], *, skip: uuid.UUID | None = None
) -> tuple[Device, ...]:
    """The devices of the listed participants who are in the call (but ``skip``)."""
    return tuple(
        device_of(seat)
        for seat in seats
        if seat.id != skip and seat.state == ParticipantState.admitted
    )
