"""The `/ws` protocol as typed data: one model per frame type.

Every frame is a JSON object with a ``type``. Requests carry an ``id`` (chosen by the client, at
most 64 characters) that the reply echoes. docs/realtime.md tables every frame, field, error
code and close code.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    TypeAdapter,
    ValidationError,
)

from app.dbtypes import INT32_MAX
from app.documents.schemas import DocumentSummary
from app.measures.schemas import AlertPublic
from app.messaging.schemas import MessagePublic
from app.plans.schemas import CommentPublic, PlanContent

SUBPROTOCOL = "teamwell.v1"
BEARER_PREFIX = "bearer."

RequestId = Annotated[str, Field(min_length=1, max_length=64)]
# A message's number in its conversation: no larger than the column that stores it holds.
Seq = Annotated[int, Field(le=INT32_MAX)]
ClientMsgId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]


class Close(IntEnum):
    """Close codes (4000-4999 are the application's own)."""

    going_away = 1001  # the server is shutting down: reconnect and resume
    resume = 4000  # the connection fell behind; reconnect and resume from your last sequence
    protocol_abuse = 4400  # too many refused frames in a row
    unauthenticated = 4401  # no valid token, or it expired and was not renewed in the grace time
    session_ended = 4403  # signed out, deactivated, or the session was revoked
    timeout = 4408  # no auth frame in time, or no frame at all within the heartbeat timeout
    too_many_connections = 4409  # over the per-person connection limit


class ErrorCode(StrEnum):
    bad_json = "bad_json"
    unknown_type = "unknown_type"
    invalid_frame = "invalid_frame"
    frame_too_large = "frame_too_large"
    message_too_long = "message_too_long"
    rate_limited = "rate_limited"
    unauthenticated = "unauthenticated"
    not_a_member = "not_a_member"
    not_found = "not_found"
    forbidden = "forbidden"
    conflict = "conflict"
    not_invited = "not_invited"
    not_admitted = "not_admitted"
    meeting_full = "meeting_full"
    meeting_ended = "meeting_ended"
    internal = "internal"


class Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- client to server --------------------------------------------------------------------------


class Auth(Frame):
    type: Literal["auth"]
    id: RequestId | None = None
    token: str = Field(min_length=10, max_length=4096)


class Ping(Frame):
    type: Literal["ping"]
    id: RequestId | None = None


class PresenceSet(Frame):
    type: Literal["presence.set"]
    id: RequestId | None = None
    state: Literal["online", "away", "busy", "in_session"]


class Activity(Frame):
    """The person did something (typed, clicked): an away device is online again."""

    type: Literal["activity"]


class MessageSend(Frame):
    type: Literal["message.send"]
    id: RequestId
    conversation_id: uuid.UUID
    client_msg_id: ClientMsgId
    body: str = Field(min_length=1)


class MessageEdit(Frame):
    type: Literal["message.edit"]
    id: RequestId
    conversation_id: uuid.UUID
    seq: Seq = Field(ge=1)
    body: str = Field(min_length=1)


class MessageDelete(Frame):
    type: Literal["message.delete"]
    id: RequestId
    conversation_id: uuid.UUID
    seq: Seq = Field(ge=1)


class Sync(Frame):
    type: Literal["sync"]
    id: RequestId
    conversation_id: uuid.UUID
    after_seq: Seq = Field(ge=0)
    limit: int | None = Field(default=None, ge=1)


class Read(Frame):
    type: Literal["read"]
    id: RequestId | None = None
    conversation_id: uuid.UUID
    seq: Seq = Field(ge=0)


class Typing(Frame):
    type: Literal["typing"]
    conversation_id: uuid.UUID
    active: bool


class MeetingJoin(Frame):
    type: Literal["meeting.join"]
    id: RequestId
    meeting_id: uuid.UUID
    audio: bool = True
    video: bool = True


class MeetingLeave(Frame):
    type: Literal["meeting.leave"]
    id: RequestId | None = None
    meeting_id: uuid.UUID


class Signal(BaseModel):
    """An SDP offer or answer, or one trickled ICE candidate (``candidate`` absent = the end)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["offer", "answer", "candidate"]
    sdp: str | None = None
    candidate: str | None = None
    sdp_mid: str | None = Field(default=None, max_length=64)
    sdp_mline_index: int | None = Field(default=None, ge=0, le=64)


class MeetingSignal(Frame):
    type: Literal["meeting.signal"]
    id: RequestId | None = None  # optional: only so that an error can name the frame
    meeting_id: uuid.UUID
    to: uuid.UUID
    signal: Signal


class MeetingMedia(Frame):
    type: Literal["meeting.media"]
    id: RequestId | None = None
    meeting_id: uuid.UUID
    audio: bool
    video: bool
    screen: bool = False
    hand: bool = False


class MeetingAdmit(Frame):
    type: Literal["meeting.admit"]
    id: RequestId
    meeting_id: uuid.UUID
    participant_id: uuid.UUID


class MeetingDecline(Frame):
    type: Literal["meeting.decline"]
    id: RequestId
    meeting_id: uuid.UUID
    participant_id: uuid.UUID


class MeetingRemove(Frame):
    type: Literal["meeting.remove"]
    id: RequestId
    meeting_id: uuid.UUID
    participant_id: uuid.UUID


class MeetingEnd(Frame):
    type: Literal["meeting.end"]
    id: RequestId
    meeting_id: uuid.UUID


class MeetingLobbyMessage(Frame):
    type: Literal["meeting.lobby_message"]
    id: RequestId
    meeting_id: uuid.UUID
    text: str = Field(min_length=1)


ClientFrame = Annotated[
    Auth
    | Ping
    | PresenceSet
    | Activity
    | MessageSend
    | MessageEdit
    | MessageDelete
    | Sync
    | Read
    | Typing
    | MeetingJoin
    | MeetingLeave
    | MeetingSignal
    | MeetingMedia
    | MeetingAdmit
    | MeetingDecline
    | MeetingRemove
    | MeetingEnd
    | MeetingLobbyMessage,
    Field(discriminator="type"),
]
CLIENT_FRAME_TYPES = frozenset(
    {
        "auth",
        "ping",
        "presence.set",
        "activity",
        "message.send",
        "message.edit",
        "message.delete",
        "sync",
        "read",
        "typing",
        "meeting.join",
        "meeting.leave",
        "meeting.signal",
        "meeting.media",
        "meeting.admit",
        "meeting.decline",
        "meeting.remove",
        "meeting.end",
        "meeting.lobby_message",
    }
)
_client_frames: TypeAdapter[Any] = TypeAdapter(ClientFrame)


class FrameError(Exception):
    def __init__(
        self,
        code: ErrorCode,
        message: str,
        request_id: str | None = None,
        *,
        retry_after_ms: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id
        # Only with rate_limited: when the same frame would be accepted.
        self.retry_after_ms = retry_after_ms


def parse_client_frame(raw: str | bytes) -> Any:
    """Parse one inbound frame, or raise FrameError saying exactly what is wrong."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise FrameError(ErrorCode.bad_json, "The frame is not valid JSON.") from None
    if not isinstance(data, dict):
        raise FrameError(ErrorCode.invalid_frame, "A frame is a JSON object.")
    request_id = data.get("id") if isinstance(data.get("id"), str) else None
    frame_type = data.get("type")
    if frame_type not in CLIENT_FRAME_TYPES:
        raise FrameError(ErrorCode.unknown_type, f"Unknown frame type {frame_type!r}.", request_id)
    try:
        return _client_frames.validate_python(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'][1:]) or 'frame'}: {err['msg']}"
            for err in exc.errors()
        )
        raise FrameError(ErrorCode.invalid_frame, problems, request_id) from None


# --- server to client --------------------------------------------------------------------------
#
# Every frame the server sends is one of the models below (SERVER_FRAMES), so what goes out is
# typed as what comes in, and docs/realtime.md is checked against them
# (tests/realtime/test_realtime_docs.py). A field declared with ``Omitted`` is left out of the
# frame when
# it has no value (docs: ``field?``); every other field is always present, null or not.

Omitted = Field(default=None, exclude_if=lambda value: value is None)
# Instants that went out as Python's isoformat ("+00:00") before frames were typed; pydantic
# would write "Z". Kept as they were: clients may compare them as text.
IsoInstant = Annotated[datetime, PlainSerializer(lambda at: at.isoformat(), return_type=str)]


class ServerFrame(Frame):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True)

    type: str


def encode(frame: ServerFrame) -> str:
    return frame.model_dump_json(by_alias=True)


class Error(ServerFrame):
    """A frame was refused; the connection stays up."""

    type: Literal["error"] = "error"
    code: ErrorCode
    message: str
    id: str | None = Omitted
    # Only with rate_limited: when the same frame would be accepted.
    retry_after_ms: int | None = Omitted


def error_frame(
    code: ErrorCode,
    message: str,
    request_id: str | None = None,
    *,
    retry_after_ms: int | None = None,
) -> Error:
    return Error(code=code, message=message, id=request_id, retry_after_ms=retry_after_ms)


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    frame_bytes: int
    message_chars: int
    messages_per_second: float
    message_burst: int
    sync_page: int


class Ready(ServerFrame):
    type: Literal["ready"] = "ready"
    user_id: uuid.UUID
    connection_id: str
    expires_at: int
    heartbeat_seconds: float
    limits: Limits


class Pong(ServerFrame):
    type: Literal["pong"] = "pong"
    id: str | None


class Ack(ServerFrame):
    """A request was done. ``expires_at`` answers ``auth``, ``seq`` answers ``read``."""

    type: Literal["ack"] = "ack"
    id: str | None
    expires_at: int | None = Omitted
    seq: int | None = Omitted


class AuthExpired(ServerFrame):
    type: Literal["auth.expired"] = "auth.expired"
    grace_seconds: float


class PresenceView(BaseModel):
    """One person's presence as others see it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_id: uuid.UUID
    state: str
    last_seen: float | None


class PresenceSnapshot(ServerFrame):
    type: Literal["presence.snapshot"] = "presence.snapshot"
    presences: list[PresenceView]


class PresenceChanged(ServerFrame):
    type: Literal["presence"] = "presence"
    user_id: uuid.UUID
    state: str
    last_seen: float | None


class MessageAck(ServerFrame):
    type: Literal["message.ack"] = "message.ack"
    id: str
    message: MessagePublic
    duplicate: bool


class MessageNew(ServerFrame):
    type: Literal["message.new"] = "message.new"
    message: MessagePublic


class MessageUpdated(ServerFrame):
    type: Literal["message.updated"] = "message.updated"
    message: MessagePublic


class SyncPage(ServerFrame):
    type: Literal["sync.page"] = "sync.page"
    id: str
    conversation_id: uuid.UUID
    messages: list[MessagePublic]
    has_more: bool
    last_seq: int


class Receipt(ServerFrame):
    type: Literal["receipt"] = "receipt"
    conversation_id: uuid.UUID
    user_id: uuid.UUID
    seq: int


class TypingNotice(ServerFrame):
    type: Literal["typing"] = "typing"
    conversation_id: uuid.UUID
    user_id: uuid.UUID
    name: str
    active: bool


class TalkRequested(ServerFrame):
    """An "I'd like to talk" from a check-in, sent at once to every current supervisor of the
    member of staff who ticked it. It names who and when only; the answers are read (and audited)
    over HTTP, and the request stays open until a supervisor acknowledges it."""

    type: Literal["wellbeing.talk_requested"] = "wellbeing.talk_requested"
    check_in_id: uuid.UUID
    user_id: uuid.UUID
    display_name: str
    at: datetime


class CheckInDue(ServerFrame):
    """A wellbeing check-in has fallen due (the cadence after the last one, or at once for
    someone who never checked in): sent once per gap between check-ins, to the person only, by
    the scheduled job ``wellbeing.check_in_prompts``. It says when, nothing more."""

    type: Literal["wellbeing.check_in_due"] = "wellbeing.check_in_due"
    due_at: datetime


class AlertRaised(ServerFrame):
    type: Literal["alert.raised"] = "alert.raised"
    alert: AlertPublic


class PlanUpdated(ServerFrame):
    type: Literal["plan.updated"] = "plan.updated"
    client_id: uuid.UUID
    version: int
    sections: list[str]
    updated_by: uuid.UUID
    updated_by_name: str
    content: PlanContent


class PlanCommented(ServerFrame):
    type: Literal["plan.comment"] = "plan.comment"
    client_id: uuid.UUID
    comment: CommentPublic


class BenefitsUpdated(ServerFrame):
    """The client's benefit history changed. Says what kind of change and who made it, never
    a benefit: the reader fetches the history (an audited read) to see it."""

    type: Literal["benefits.updated"] = "benefits.updated"
    client_id: uuid.UUID
    change: Literal["claim_added", "claim_ended", "calculation_added"]
    updated_by: uuid.UUID
    updated_by_name: str


# --- meetings (server to client) ----------------------------------------------------------------


class Participant(BaseModel):
    """One device of one person in a meeting, as the participant list shows it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    participant_id: uuid.UUID
    # A guest without an account (app/meetings/guests.py) has no user id: their guest link's
    # id stands in, and ``guest`` says who they are (client, interpreter or family).
    user_id: uuid.UUID
    name: str
    role: str
    state: str
    guest: str | None = None
    audio: bool
    video: bool
    screen: bool
    hand: bool


class Waiting(BaseModel):
    """Someone in a meeting's lobby."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    participant_id: uuid.UUID
    user_id: uuid.UUID
    name: str
    guest: str | None = None
    since: IsoInstant


class _InTheCall(ServerFrame):
    """What a device needs once in the call: the others admitted (to offer to), the host, and
    the ICE servers to reach them through."""

    meeting_id: uuid.UUID
    participant_id: uuid.UUID
    participants: list[Participant]
    host_id: uuid.UUID
    ice_servers: list[dict[str, Any]]


class MeetingJoined(_InTheCall):
    """The answer to ``meeting.join`` once in the call."""

    type: Literal["meeting.joined"] = "meeting.joined"
    id: str


class MeetingAdmitted(_InTheCall):
    """To a lobby participant let in (no request to answer)."""

    type: Literal["meeting.admitted"] = "meeting.admitted"


class MeetingWaiting(ServerFrame):
    type: Literal["meeting.waiting"] = "meeting.waiting"
    id: str
    meeting_id: uuid.UUID
    participant_id: uuid.UUID


class MeetingLobby(ServerFrame):
    type: Literal["meeting.lobby"] = "meeting.lobby"
    meeting_id: uuid.UUID
    waiting: list[Waiting]


class MeetingParticipantJoined(ServerFrame):
    type: Literal["meeting.participant_joined"] = "meeting.participant_joined"
    meeting_id: uuid.UUID
    participant: Participant


class MeetingParticipantChanged(ServerFrame):
    type: Literal["meeting.participant"] = "meeting.participant"
    meeting_id: uuid.UUID
    participant: Participant


class MeetingParticipantLeft(ServerFrame):
    type: Literal["meeting.participant_left"] = "meeting.participant_left"
    meeting_id: uuid.UUID
    participant_id: uuid.UUID
    reason: Literal["left", "removed", "timeout"]


class MeetingDeclined(ServerFrame):
    type: Literal["meeting.declined"] = "meeting.declined"
    meeting_id: uuid.UUID


class MeetingRemoved(ServerFrame):
    type: Literal["meeting.removed"] = "meeting.removed"
    meeting_id: uuid.UUID


class MeetingEnded(ServerFrame):
    type: Literal["meeting.ended"] = "meeting.ended"
    meeting_id: uuid.UUID


class MeetingMoved(ServerFrame):
    """To the device that held a person's seat when they joined the same meeting from another
    device (or tab): the seat now belongs to the new one, so this device is out of the call and
    its meeting frames are refused. Joining again from here takes the seat back."""

    type: Literal["meeting.moved"] = "meeting.moved"
    meeting_id: uuid.UUID
    participant_id: uuid.UUID
    reason: Literal["joined_on_another_device"] = "joined_on_another_device"


class MeetingLobbyNote(ServerFrame):
    """A lobby message, relayed (never stored)."""

    type: Literal["meeting.lobby_message"] = "meeting.lobby_message"
    meeting_id: uuid.UUID
    from_user_id: uuid.UUID
    from_name: str
    text: str
    at: IsoInstant


class MeetingSignalled(ServerFrame):
    """An offer, answer or candidate relayed to the one participant addressed."""

    type: Literal["meeting.signal"] = "meeting.signal"
    meeting_id: uuid.UUID
    from_: uuid.UUID = Field(alias="from")
    signal: dict[str, Any]


class DocumentAdded(ServerFrame):
    """A document one may read was added (docs/documents.md): its uploader at once, everyone
    else once it is found safe (or at once when no scanner is configured)."""

    type: Literal["document.added"] = "document.added"
    document: DocumentSummary


class DocumentChanged(ServerFrame):
    """A document one may read has a new version, was renamed, shared, unshared or deleted."""

    type: Literal["document.changed"] = "document.changed"
    document: DocumentSummary
    change: str


SERVER_FRAMES: tuple[type[ServerFrame], ...] = (
    Error,
    Ready,
    Pong,
    Ack,
    AuthExpired,
    PresenceSnapshot,
    PresenceChanged,
    MessageAck,
    MessageNew,
    MessageUpdated,
    SyncPage,
    Receipt,
    TypingNotice,
    TalkRequested,
    CheckInDue,
    AlertRaised,
    PlanUpdated,
    PlanCommented,
    BenefitsUpdated,
    MeetingJoined,
    MeetingAdmitted,
    MeetingWaiting,
    MeetingLobby,
    MeetingParticipantJoined,
    MeetingParticipantChanged,
    MeetingParticipantLeft,
    MeetingDeclined,
    MeetingRemoved,
    MeetingEnded,
    MeetingMoved,
    MeetingLobbyNote,
    MeetingSignalled,
    DocumentAdded,
    DocumentChanged,
)
