"""A property-based fuzzer against `/ws`: malformed, oversized, out-of-order and wrong-typed frames.

Hypothesis writes sequences of frames: text that is not JSON, JSON that is not an object, binary
frames, frames over the size limit, and frames of every client type (read from
``realtime/protocol.py``, so a new frame type is fuzzed too) whose fields are right, wrong-typed,
out of range, missing or extra, aimed at real conversations and meetings and at made-up ones,
in any order (an edit before a send, a signal before a join, a leave of a meeting never joined, a
fresh token of someone else). After each sequence a ping must still be answered, or the socket
must have been closed with a documented close code (then the fuzzer reconnects).

Throughout, every frame the server sends is a JSON object with a documented type, and an error
names a documented code and never ``internal`` (a handler that crashed). Meanwhile another person
stays connected to the same server: at the end their socket is still open, they saw no error, and
a message sent to them now still arrives. The server logged no traceback.
"""

from __future__ import annotations

import json
import typing
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from realtime import protocol as p
from tests.conftest import Live, demo_team_id, live_server
from tests.support.builders import arrange_meeting, client_id_of
from tests.support.ws import WsClient

MAX_FRAME_BYTES = 4096
MAX_CONSECUTIVE_ERRORS = 10
EXAMPLES = 100
CLOSE_CODES = {int(code) for code in p.Close}
ERROR_CODES = {str(code) for code in p.ErrorCode}
# Every frame type the server sends (docs/realtime.md, "Server frames" and "Meeting signalling").
SERVER_FRAME_TYPES = {
    "ready", "presence.snapshot", "presence", "message.new", "message.updated", "receipt",
    "typing", "auth.expired", "error", "ack", "pong", "message.ack", "sync.page",
    "meeting.joined", "meeting.waiting", "meeting.participant_joined", "meeting.participant",
    "meeting.participant_left", "meeting.lobby", "meeting.admitted", "meeting.declined",
    "meeting.removed", "meeting.ended", "meeting.lobby_message", "meeting.signal",
} | {  # frames the server sends that the protocol module models (with their type as default)
    str(model.model_fields["type"].default)
    for model in vars(p).values()
    if isinstance(model, type)
    and issubclass(model, p.Frame)
    and "type" in model.model_fields
    and isinstance(model.model_fields["type"].default, str)
}  # fmt: skip
# The client frame models, read from the protocol's discriminated union.
FRAME_MODELS = typing.get_args(typing.get_args(p.ClientFrame)[0])


@dataclass
class Arena:
    live: Live
    conversation: str
    meeting: str
    own_token: str
    someone_elses_token: str
    bystander: WsClient
    fuzzer: WsClient | None = None
    seen: int = 0  # frames of the current fuzzer socket already checked
    closes: list[int] = field(default_factory=list)

    async def socket(self) -> WsClient:
        """The fuzzer's socket, reconnected after a documented close."""
        if self.fuzzer is not None and self.fuzzer.closed_code is None:
            return self.fuzzer
        if self.fuzzer is not None:
            await self.fuzzer.close()
        self.fuzzer = await WsClient.connect(self.live.base_url, self.own_token)
        self.seen = 0
        await self.fuzzer.wait_type("ready")
        return self.fuzzer


@pytest.fixture(scope="module")
def fuzz_live(tmp_path_factory: pytest.TempPathFactory) -> typing.Iterator[Live]:
    with live_server(
        tmp_path_factory,
        "fuzz-ws",
        extra_env={
            "TEAMWELL_WS_MAX_FRAME_BYTES": str(MAX_FRAME_BYTES),
            "TEAMWELL_WS_MAX_CONSECUTIVE_ERRORS": str(MAX_CONSECUTIVE_ERRORS),
            # Small enough that the fuzzer's long texts cross them within one frame.
            "TEAMWELL_MESSAGE_MAX_CHARS": "200",
            "TEAMWELL_SDP_MAX_BYTES": "1024",
        },
    ) as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def arena(fuzz_live: Live) -> AsyncIterator[Arena]:
    keyworker = fuzz_live.as_role("peer_keyworker")
    therapist = fuzz_live.as_role("therapist")
    conversation = keyworker.post(
        "/api/v1/conversations", json={"kind": "team", "team_id": demo_team_id(keyworker)}
    ).json()["id"]
    alex = client_id_of(fuzz_live, "Alex Morgan")
    meeting = arrange_meeting(keyworker, kind="case_meeting", title="Review", client_id=alex)["id"]
    bystander = await WsClient.connect(fuzz_live.base_url, therapist.tokens["access_token"])
    await bystander.wait_type("ready")
    arena = Arena(
        live=fuzz_live,
        conversation=conversation,
        meeting=meeting,
        own_token=keyworker.tokens["access_token"],
        someone_elses_token=therapist.tokens["access_token"],
        bystander=bystander,
    )
    yield arena
    await bystander.close()
    if arena.fuzzer is not None:
        await arena.fuzzer.close()


# --- what the fuzzer sends ---------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-1000, 1000)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)
# Integers past every edge: negative, zero, past 32 and 64 bits signed and unsigned.
EDGE_INTEGERS = st.sampled_from([-(2**63) - 1, -1, 0, 2**31, 2**63 - 1, 2**63, 2**64 - 1, 2**70])
REAL = "<real>"  # replaced by the real conversation or meeting id when sent
REAL_OR_NOT = st.sampled_from([REAL, REAL, REAL, str(uuid.UUID(int=0))]) | st.uuids().map(str)
TEXT = st.text(min_size=1, max_size=60)
SDP = st.just("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n") | TEXT

# Per field name: values the protocol accepts, and values at or past its edges. A field named
# in neither gets any JSON value.
RIGHT: dict[str, st.SearchStrategy[Any]] = {
    "id": st.text(min_size=1, max_size=64),
    "conversation_id": REAL_OR_NOT,
    "meeting_id": REAL_OR_NOT,
    "to": st.uuids().map(str),
    "participant_id": st.uuids().map(str),
    "seq": st.integers(0, 30),
    "after_seq": st.integers(0, 30),
    "limit": st.integers(1, 300),
    "client_msg_id": st.from_regex(r"[A-Za-z0-9._:-]{1,64}", fullmatch=True),
    "body": TEXT,
    "text": TEXT,
    "token": st.sampled_from(["<own>", "<someone-else>"]) | st.text(min_size=10, max_size=60),
    "state": st.sampled_from(["online", "away", "busy", "in_session"]),
    "signal": st.fixed_dictionaries(
        {"kind": st.sampled_from(["offer", "answer", "candidate"])},
        optional={
            "sdp": SDP,
            "candidate": TEXT | st.none(),
            "sdp_mid": st.text(max_size=8),
            "sdp_mline_index": st.integers(0, 64),
        },
    ),
}
EDGE: dict[str, st.SearchStrategy[Any]] = {
    "id": st.just("") | st.text(min_size=65, max_size=80),
    "seq": EDGE_INTEGERS,
    "after_seq": EDGE_INTEGERS,
    "limit": EDGE_INTEGERS,
    "client_msg_id": st.text(max_size=70),
    "body": st.just("") | st.text(min_size=1, max_size=3).map(lambda t: t * 120),
    "text": st.just("") | st.text(min_size=1, max_size=3).map(lambda t: t * 120),
    "token": st.text(max_size=9),
    "state": st.just("offline") | st.text(max_size=12),
    "signal": st.fixed_dictionaries(
        {"kind": st.text(max_size=12)},
        optional={
            "sdp": st.just("") | st.text(min_size=1, max_size=3).map(lambda t: t * 1500),
            "candidate": st.text(min_size=1, max_size=3).map(lambda t: t * 500),
            "sdp_mid": st.text(min_size=65, max_size=70),
            "sdp_mline_index": EDGE_INTEGERS,
            "extra": JSON_VALUES,
        },
    ),
}


def _value(draw: st.DrawFn, name: str, fate: str) -> Any:
    if fate == "right" and name in RIGHT:
        return draw(RIGHT[name])
    if fate == "edge" and name in EDGE:
        return draw(EDGE[name])
    if name in ("active", "audio", "video", "screen", "hand") and fate == "right":
        return draw(st.booleans())
    return draw(JSON_VALUES)


@st.composite
def typed_frame(draw: st.DrawFn) -> dict[str, Any]:
    """A frame of a real type: well formed, or with one field wrong-typed, missing or extra, or
    with any field any of those."""
    model = draw(st.sampled_from(FRAME_MODELS))
    shape = draw(st.sampled_from(["well-formed"] * 3 + ["one-field-off"] * 2 + ["chaos"]))
    names = [name for name in model.model_fields if name != "type"]
    odd = draw(st.sampled_from(names)) if names and shape == "one-field-off" else None
    frame: dict[str, Any] = {"type": _literal(model)}
    for name in names:
        if shape == "chaos":
            fate = draw(st.sampled_from(["right", "edge", "wrong", "missing"]))
        elif name == odd:
            fate = draw(st.sampled_from(["edge", "edge", "wrong", "missing"]))
        else:
            fate = "right"
        if fate != "missing":
            frame[name] = _value(draw, name, fate)
    if shape != "well-formed" and draw(st.integers(0, 5)) == 0:
        frame[draw(st.text(min_size=1, max_size=8))] = draw(JSON_VALUES)
    return frame


def _literal(model: Any) -> str:
    (value,) = typing.get_args(model.model_fields["type"].annotation)
    return str(value)


# One thing sent on the socket: a frame to encode, raw text, or bytes.
RAW_TEXT = st.text(max_size=60) | st.sampled_from(["", "{", "[]", "null", '{"type": null}', "{}"])
OVERSIZED = st.integers(MAX_FRAME_BYTES - 64, MAX_FRAME_BYTES * 3).map(
    lambda size: {"type": "ping", "id": "big", "pad": "x" * size}
)
# Mostly frames of real types, so that most reach a handler rather than the parser.
SENDABLE = st.sampled_from(["typed"] * 12 + ["json", "raw", "bytes", "oversized"]).flatmap(
    lambda kind: {
        "typed": typed_frame(),
        "json": JSON_VALUES,
        "raw": RAW_TEXT,
        "bytes": st.binary(max_size=40),
        "oversized": OVERSIZED,
    }[kind]
)


def _encode(arena: Arena, item: Any) -> str | bytes:
    if isinstance(item, bytes):
        return item
    if isinstance(item, str) and not item.startswith("{"):
        return item
    text = json.dumps(item) if not isinstance(item, str) else item
    ids = {"meeting": arena.meeting, "conversation": arena.conversation}
    if isinstance(item, dict):
        target = ids["meeting"] if "meeting_id" in item else ids["conversation"]
        text = text.replace(f'"{REAL}"', f'"{target}"')
        text = text.replace('"<own>"', json.dumps(arena.own_token))
        text = text.replace('"<someone-else>"', json.dumps(arena.someone_elses_token))
    return text


def _check_frames(arena: Arena, client: WsClient, sent: list[Any]) -> None:
    for frame in client.frames[arena.seen :]:
        assert isinstance(frame, dict) and frame.get("type") in SERVER_FRAME_TYPES, (frame, sent)
        if frame["type"] == "error":
            assert frame.get("code") in ERROR_CODES, (frame, sent)
            assert frame["code"] != "internal", f"a handler failed on {sent}: {frame}"
    arena.seen = len(client.frames)


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
@given(items=st.lists(SENDABLE, min_size=1, max_size=12))
# Out of order: before a message exists, before joining, after leaving; numbers past 64 bits.
@example(
    items=[{"type": "message.edit", "id": "e", "conversation_id": REAL, "seq": 2**63, "body": "x"}]
)
@example(items=[{"type": "message.delete", "id": "d", "conversation_id": REAL, "seq": 10**6}])
@example(items=[{"type": "sync", "id": "s", "conversation_id": REAL, "after_seq": 2**64 - 1}])
@example(
    items=[{"type": "sync", "id": "s", "conversation_id": REAL, "after_seq": 0, "limit": 2**63}]
)
@example(items=[{"type": "read", "id": "r", "conversation_id": REAL, "seq": 2**63}])
@example(
    items=[
        {
            "type": "meeting.signal",
            "meeting_id": REAL,
            "to": str(uuid.UUID(int=1)),
            "signal": {"kind": "offer", "sdp": "v=0"},
        }
    ]
)
@example(items=[{"type": "meeting.leave", "id": "l", "meeting_id": REAL}])
@example(
    items=[
        {"type": "meeting.join", "id": "j1", "meeting_id": REAL},
        {"type": "meeting.join", "id": "j2", "meeting_id": REAL},
        {
            "type": "meeting.signal",
            "meeting_id": REAL,
            "to": str(uuid.UUID(int=1)),
            "signal": {"kind": "candidate"},
        },
        {
            "type": "meeting.admit",
            "id": "a",
            "meeting_id": REAL,
            "participant_id": str(uuid.UUID(int=1)),
        },
        {"type": "meeting.media", "meeting_id": REAL, "audio": False, "video": False},
        {"type": "meeting.end", "id": "e", "meeting_id": REAL},
        {"type": "meeting.media", "meeting_id": REAL, "audio": True, "video": True},
        {"type": "meeting.leave", "id": "l", "meeting_id": REAL},
    ]
)
@example(items=[{"type": "auth", "id": "a", "token": "<someone-else>"}])
async def test_fuzzed_frames_get_answers_or_documented_closes(
    arena: Arena, items: list[Any]
) -> None:
    client = await arena.socket()
    for item in items:
        if client.closed_code is not None:
            break
        try:
            await client.connection.send(_encode(arena, item))
        except Exception:  # closed by the server meanwhile: judged by its close code below
            break
    if client.closed_code is None:
        try:
            reply = await client.request({"type": "ping"})
        except ConnectionError:
            pass  # closed after the last frame: judged by its close code below
        else:
            assert reply["type"] == "pong", f"a well-formed ping was refused after {items}: {reply}"
    _check_frames(arena, client, items)
    if client.closed_code is not None:
        assert client.closed_code in CLOSE_CODES, (client.closed_code, items)
        arena.closes.append(client.closed_code)


async def test_the_server_and_the_other_person_are_untouched(arena: Arena) -> None:
    """Runs after the fuzzing (tests run in file order)."""
    assert arena.bystander.closed_code is None
    errors = [f for f in arena.bystander.frames if f.get("type") == "error"]
    assert not errors, errors
    sender = await WsClient.connect(
        arena.live.base_url, arena.live.as_role("supervisor").tokens["access_token"]
    )
    try:
        await sender.wait_type("ready")
        body = f"still here {uuid.uuid4().hex[:6]}"
        acked = await sender.send_message(arena.conversation, body)
        assert acked["type"] == "message.ack", acked
        arrived = await arena.bystander.wait_for(
            lambda f: f.get("type") == "message.new" and f["message"]["body"] == body
        )
        assert arrived["message"]["seq"] == acked["message"]["seq"]
    finally:
        await sender.close()
    # The fuzzer's own person can still use the service normally.
    client = await arena.socket()
    assert (await client.request({"type": "ping"}))["type"] == "pong"
    assert arena.live.server.log_path is not None
    log = arena.live.server.log_path.read_text(errors="replace")
    assert "Traceback" not in log, log[-4000:]
