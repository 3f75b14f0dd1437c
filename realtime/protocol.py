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
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from app.dbtypes import INT32_MAX

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


def encode(frame: dict[str, Any]) -> str:
    return orjson.dumps(frame).decode()


def error_frame(
    code: ErrorCode,
    message: str,
    request_id: str | None = None,
    *,
    retry_after_ms: int | None = None,
) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "code": str(code), "message": message}
    if request_id is not None:
        frame["id"] = request_id
    if retry_after_ms is not None:
        frame["retry_after_ms"] = retry_after_ms
    return frame


class TalkRequested(Frame):
    """An "I'd like to talk" from a check-in, sent at once to every current supervisor of the
    member of staff who ticked it. It names who and when only; the answers are read (and audited)
    over HTTP, and the request stays open until a supervisor acknowledges it."""

    type: Literal["wellbeing.talk_requested"] = "wellbeing.talk_requested"
    check_in_id: uuid.UUID
    user_id: uuid.UUID
    display_name: str
    at: datetime


class MeetingMoved(Frame):
    """To the device that held a person's seat when they joined the same meeting from another
    device (or tab): the seat now belongs to the new one, so this device is out of the call and
    its meeting frames are refused. Joining again from here takes the seat back."""

    type: Literal["meeting.moved"] = "meeting.moved"
    meeting_id: uuid.UUID
    participant_id: uuid.UUID
    reason: Literal["joined_on_another_device"] = "joined_on_another_device"
