"""The `/ws` endpoint: authenticate, then run the socket's receiver, sender and watchdog as one
group; when any of them ends, all stop and the connection is cleaned up.

Why the sender (``_Sender``) drives a send through ASGI by hand rather than in a task: a frame
the frame writer (realtime/wire.py) declines, or every frame under a server without it, goes
through the ASGI ``send_text`` coroutine, which finishes without waiting whenever the socket is
writable. Started where the frame was queued (``wake``), it is sent there and then, with no task
and no turn of the event loop; only a send that has to wait is handed to a task (``_finish``),
and an idle socket holds none. The plain asyncio construct that does the same, a task started
eagerly (``asyncio.Task(..., eager_start=True)``, ``asyncio.eager_task_factory``), came with
Python 3.12; Teamwell runs on 3.11 (pyproject.toml), where a task always waits for a turn of the
loop before it starts. Measured on this path (a writable socket, each delivery its own turn of
the loop as in the fan-out benchmark, uvloop; the fastest of 7 rounds on a busy two-core
machine): 1.9 µs a delivery started by hand, 4.4 µs with a task per delivery; and a task
waiting on a send holds about 0.8 KiB while it lives. With a task a frame would also not be on
its way when ``deliver`` returns, which tests/realtime/test_gateway_sender.py holds. Continuing
a waiting send by yielding its future up to the task (as ``yield from`` does) instead of
``_finish``'s clearing of ``_asyncio_future_blocking`` avoids the private attribute but was
measured 5% slower per waiting send (6.8 against 6.5 µs), so ``_finish`` stays. On 3.12, an eager
task replaces both."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Coroutine
from typing import Any

from fastapi import APIRouter, WebSocket
from starlette.types import Message
from starlette.websockets import WebSocketDisconnect, WebSocketState

from app import logs, metrics, tracing
from app.audit import service as audit_service
from app.audit.models import Outcome
from app.clients.models import ClientRecord
from app.config import web_origin
from app.context import Actor, Context
from app.db import read_only
from app.errors import Forbidden, Problem
from app.meetings import guests
from app.meetings.models import GuestLink, Meeting
from auth import service as auth_service
from auth.deps import (
    MfaEnrolmentRequired,
    Principal,
    enforce_mfa,
    principal_from_token,
    principal_of,
    require_mfa,
)
from auth.policies import messaging as messaging_policies
from auth.tokens import InvalidToken, claimed_purpose, claimed_subject, read_guest_token
from realtime import protocol as p
from realtime.connection import Connection, GuestPass
from realtime.container import Realtime
from realtime.handlers import (
    HANDLERS,
    STARTED_AT_ONCE,
    Handler,
    problem_to_error,
    raises,
)
from realtime.meeting_handlers import MEETING_HANDLERS
from realtime.meeting_handlers import on_disconnect as leave_meetings_on_disconnect
from realtime.protocol import Close, ErrorCode, FrameError
from realtime.watchdog import Watchdog
from realtime.wire import FRAME_WRITER, FrameWriter, LastFrame

log = logging.getLogger("teamwell.realtime")
router = APIRouter()

ALL_HANDLERS: dict[str, Handler] = {**HANDLERS, **MEETING_HANDLERS}
assert set(ALL_HANDLERS) == p.CLIENT_FRAME_TYPES, "every frame type has exactly one handler"

WS_PATH = "/ws"
# All a guest's socket may send (app/meetings/guests.py): its one meeting's call. Anything else
# is refused (``forbidden``) and the refusal audited.
GUEST_FRAMES = frozenset(
    {
        "ping",
        "meeting.join",
        "meeting.leave",
        "meeting.signal",
        "meeting.media",
        "meeting.lobby_message",
    }
)


def _offered_token(websocket: WebSocket) -> str | None:
    for protocol in websocket.scope.get("subprotocols", []):
        if protocol.startswith(p.BEARER_PREFIX):
            token: str = protocol[len(p.BEARER_PREFIX) :]
            return token
    return None


async def _receive_text(websocket: WebSocket) -> str | None:
    return _text_of(await websocket.receive())


def _text_of(message: Message) -> str | None:
    """A received frame's text (a binary frame's as UTF-8), or None for the disconnect."""
    if message["type"] == "websocket.disconnect":
        return None
    text = message.get("text")
    if text is None and message.get("bytes") is not None:
        text = message["bytes"].decode("utf-8", errors="replace")
    return text or ""


def _anonymous_ctx(rt: Realtime, websocket: WebSocket) -> Context:
    client = websocket.client
    return Context(
        actor=Actor(
            user_id=None,
            role=None,
            organisation_id=None,
            ip=client.host if client else None,
            user_agent=websocket.headers.get("user-agent"),
        ),
        clock=rt.runtime.clock,
    )


async def _guest_pass(rt: Realtime, websocket: WebSocket, token: str) -> tuple[GuestPass, int]:
    """A guest credential of a link still standing (not revoked): the socket is that guest's.
    A refusal is audited (``ws.connect``, denied) and raised as ``Problem``."""
    ctx = _anonymous_ctx(rt, websocket)
    async with rt.sessions() as session:
        try:
            claims = read_guest_token(rt.runtime.signer, token, now=rt.runtime.now())
            link = await session.get(GuestLink, claims.link_id)
            if link is None or link.revoked_at is not None or link.meeting_id != claims.meeting_id:
                raise InvalidToken("the guest link was withdrawn", signed=True)
        except InvalidToken as exc:
            await audit_service.record(
                session,
                ctx,
                action="ws.connect",
                resource_type="guest_link",
                resource_id=claimed_subject(token),
                outcome=Outcome.denied,
                detail=f"guest credential refused: {exc}",
            )
            await session.commit()
            raise Problem(f"Guest credential refused: {exc}.") from exc
        meeting = await session.get(Meeting, link.meeting_id)
        client = (
            await session.get(ClientRecord, meeting.client_id)
            if meeting is not None and meeting.client_id is not None
            else None
        )
        name = guests.guest_label(link, client) if client is not None else link.guest_name
    return GuestPass(
        link_id=link.id,
        meeting_id=link.meeting_id,
        client_id=client.id if client is not None else None,
        kind=str(link.kind),
        name=name,
    ), claims.expires_at


async def _authenticate(
    rt: Realtime, websocket: WebSocket
) -> tuple[Principal | GuestPass, int, set[uuid.UUID] | None] | None:
    """The token from the subprotocol header, or else from the first frame (never the URL);
    with the person's presence audience when it was read on the way (``_admitted``)."""
    token = _offered_token(websocket)
    if token is None:
        try:
            async with asyncio.timeout(rt.settings.ws_auth_timeout_seconds):
                raw = await _receive_text(websocket)
        except TimeoutError:
            await websocket.close(Close.timeout, "authenticate first")
            return None
        if raw is None:
            return None
        try:
            frame = p.parse_client_frame(raw)
        except FrameError as exc:
            frame = None
            message = exc.message
        else:
            message = "The first frame must be auth."
        if not isinstance(frame, p.Auth):
            await websocket.send_text(p.encode(p.error_frame(ErrorCode.unauthenticated, message)))
            await websocket.close(Close.unauthenticated, "authenticate first")
            return None
        token = frame.token
    if claimed_purpose(token) == "guest":
        try:
            guest, expires_at = await _guest_pass(rt, websocket, token)
            return guest, expires_at, None
        except Problem as exc:
            await websocket.send_text(
                p.encode(p.error_frame(ErrorCode.unauthenticated, exc.detail))
            )
            await websocket.close(Close.unauthenticated, "token refused")
            return None
    client = websocket.client
    ip, user_agent = client.host if client else None, websocket.headers.get("user-agent")
    admitted = await _admitted(rt, token, ip, user_agent)
    if admitted is not None:
        return admitted
    # Refused, or owing enrolment: the full path says why, and audits it.
    async with rt.sessions() as session:
        try:
            principal = await principal_from_token(
                session=session,
                runtime=rt.runtime,
                token=token,
                ip=ip,
                user_agent=user_agent,
            )
        except Problem as exc:
            await websocket.send_text(
                p.encode(p.error_frame(ErrorCode.unauthenticated, exc.detail))
            )
            await websocket.close(Close.unauthenticated, "token refused")
            return None
        try:
            await require_mfa(session, principal, rt.runtime, where=WS_PATH)
        except Problem as exc:
            await websocket.send_text(
                p.encode(p.error_frame(ErrorCode.unauthenticated, exc.detail))
            )
            await websocket.close(Close.unauthenticated, "multi-factor authentication required")
            return None
    claims = rt.runtime.signer.read_access_token(token, now=rt.runtime.now())
    return principal, claims.expires_at, None


async def _admitted(
    rt: Realtime, token: str, ip: str | None, user_agent: str | None
) -> tuple[Principal, int, set[uuid.UUID]] | None:
    """The person, the token's expiry and who may see the person's presence, when the token is
    good, the session live and its second factor passed as required: two queries in one
    transaction that only reads (on SQLite it neither takes nor waits for the write lock, which
    every connect took before: a crowd reconnecting after a restart queued on it). None
    otherwise, and nothing recorded: the caller then goes the way that explains and audits the
    refusal."""
    try:
        claims = rt.runtime.signer.read_access_token(token, now=rt.runtime.now())
    except InvalidToken:
        return None
    async with rt.sessions() as session:
        read_only(session)
        found = await auth_service.signed_in(
            session=session, session_id=claims.session_id, user_id=claims.user_id
        )
        if found is None or not found[0].is_active:
            return None
        principal = principal_of(rt.runtime, found[0], claims.session_id, found[1], ip, user_agent)
        try:
            enforce_mfa(principal, rt.runtime)
        except MfaEnrolmentRequired:
            return None
        # Whose presence the socket shows, in the same transaction: one checkout of a database
        # connection per connect rather than two (each a ping and a BEGIN on PostgreSQL).
        audience = await messaging_policies.contact_ids(session, found[0].id, found[0].role)
    return principal, claims.expires_at, audience


@router.websocket(WS_PATH)
async def websocket_endpoint(websocket: WebSocket) -> None:
    metrics.ws_connections.inc()
    try:
        await _serve(websocket)
    except WebSocketDisconnect:
        # The client went away while being answered (a handshake dropped as soon as it was
        # made, say): nothing went wrong here. One line, not a traceback: anyone can open and
        # drop sockets, and must not be able to fill the log with them.
        log.info("a socket closed before it was answered")
    finally:
        metrics.ws_connections.dec()


def _origin_refusal(rt: Realtime, websocket: WebSocket) -> str | None:
    """Why the socket's ``Origin`` is refused, or None. A browser names the page whose script
    opens a WebSocket, and a page of another site must not reach the gateway (cross-site
    WebSocket hijacking). A socket without ``Origin`` is not from a browser (every browser sends
    one) and is let through, as RFC 6455 (10.2) intends; it still needs a token."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return None
    named = web_origin(origin)
    if named is not None and named in rt.settings.websocket_origins:
        return None
    return f"WebSocket from origin {origin[:200]!r} refused."


async def _audit_refused_origin(rt: Realtime, websocket: WebSocket, detail: str) -> None:
    ctx = _anonymous_ctx(rt, websocket)
    try:
        async with rt.sessions() as session:
            await audit_service.record(
                session,
                ctx,
                action="ws.connect",
                resource_type="websocket",
                resource_id=WS_PATH,
                outcome=Outcome.denied,
                detail=detail,
            )
            await session.commit()
    except Exception:
        log.exception("could not audit a refused WebSocket")


async def _serve(websocket: WebSocket) -> None:
    rt: Realtime = websocket.app.state.realtime
    refusal = _origin_refusal(rt, websocket)
    if refusal is not None:
        # Closing before accepting answers the handshake with HTTP 403.
        await _audit_refused_origin(rt, websocket, refusal)
        await websocket.close()
        return
    await websocket.accept(subprotocol=_accepted_subprotocol(websocket))
    authenticated = await _authenticate(rt, websocket)
    if authenticated is None:
        return
    principal, expires_at, audience = authenticated
    if isinstance(principal, GuestPass):
        await _serve_guest(rt, websocket, principal, expires_at)
        return
    if rt.hub.count_for(principal.user.id) >= rt.settings.ws_connections_per_user:
        await websocket.send_text(
            p.encode(
                p.error_frame(
                    ErrorCode.forbidden,
                    f"At most {rt.settings.ws_connections_per_user} connections per person.",
                )
            )
        )
        await websocket.close(Close.too_many_connections, "too many connections")
        return
    connection = Connection.of(
        principal, token_expires_at=expires_at, outbound_limit=rt.settings.ws_outbound_queue
    )
    # Not kept alive by this frame for the socket's life: the connection has what it needs.
    del principal, authenticated
    _let_go_of_headers(websocket)
    # Subscribe before saying ready: anything stored after "ready" arrives live, and anything
    # before it is found by sync, so a resuming client sees no gap. What arrives before "ready"
    # and the snapshot are queued is held back and follows them: "ready" is the first frame.
    connection.hold()
    await rt.hub.attach(connection)
    try:
        snapshot = await rt.presence.connect(connection, audience)
        del audience  # not kept alive by this frame for the socket's life
        connection.open(_ready(rt, connection, expires_at), snapshot)
        del snapshot
        await _run(rt, websocket, connection)
    finally:
        await rt.hub.detach(connection)
        rt.typing_buckets.pop(connection.id, None)
        rt.signal_buckets.pop(connection.id, None)
        with contextlib.suppress(Exception):
            await rt.presence.disconnect(connection)
        try:
            await leave_meetings_on_disconnect(rt, connection)
        except Exception:
            log.exception("could not release the meeting seats of a closed connection")


def _accepted_subprotocol(websocket: WebSocket) -> str | None:
    # Not looked up in ``_serve``: its frame lives as long as the socket, and a local there
    # would keep the offered list (the token in it) after _let_go_of_headers.
    return p.SUBPROTOCOL if p.SUBPROTOCOL in websocket.scope.get("subprotocols", ()) else None


def _let_go_of_headers(websocket: WebSocket) -> None:
    """Once the socket is admitted, nothing reads its handshake's headers or the subprotocols it
    offered (the token among them): the connection has the address and user agent it audits
    with. Kept in the scope for the socket's life they were about 1.9 KiB of every idle socket
    (the token twice), so they go, with starlette's cached view of them."""
    scope = websocket.scope
    scope["headers"] = []
    scope["subprotocols"] = []
    websocket.__dict__.pop("_headers", None)


def _ready(rt: Realtime, connection: Connection, expires_at: int) -> p.Ready:
    """The first frame of a socket, staff's or a guest's: who it is, until when, and the limits
    it is held to. Made here, not in the serving coroutine, so that no local of the frame
    suspended for the socket's whole life keeps it (a model and its limits, about a kilobyte a
    socket)."""
    return p.Ready(
        user_id=connection.user_id,
        connection_id=connection.id,
        expires_at=expires_at,
        heartbeat_seconds=rt.presence.timings.heartbeat_interval,
        limits=p.Limits(
            frame_bytes=rt.settings.ws_max_frame_bytes,
            message_chars=rt.settings.message_max_chars,
            messages_per_second=rt.settings.messages_per_second,
            message_burst=rt.settings.message_burst,
            sync_page=rt.settings.sync_page_max,
        ),
    )


async def _serve_guest(
    rt: Realtime, websocket: WebSocket, guest: GuestPass, expires_at: int
) -> None:
    """A guest's socket: no presence (nobody has a guest as a contact), one connection per link
    at a time is enough for a phone and a retry, and only their meeting's frames."""
    if rt.hub.count_for(guest.link_id) >= rt.settings.ws_connections_per_user:
        await websocket.send_text(
            p.encode(p.error_frame(ErrorCode.forbidden, "Too many connections for this link."))
        )
        await websocket.close(Close.too_many_connections, "too many connections")
        return
    connection = Connection.of_guest(
        guest,
        _anonymous_ctx(rt, websocket),
        token_expires_at=expires_at,
        outbound_limit=rt.settings.ws_outbound_queue,
    )
    _let_go_of_headers(websocket)
    connection.hold()
    await rt.hub.attach(connection)
    try:
        connection.open(_ready(rt, connection, expires_at))
        await _run(rt, websocket, connection)
    finally:
        await rt.hub.detach(connection)
        rt.signal_buckets.pop(connection.id, None)
        try:
            await leave_meetings_on_disconnect(rt, connection)
        except Exception:
            log.exception("could not release the meeting seat of a closed guest connection")


def _guest_refusal(connection: Connection, frame: Any) -> Problem | None:
    """Why a guest's socket may not send this frame, or None."""
    guest = connection.guest
    if guest is None:
        return None
    if frame.type not in GUEST_FRAMES:
        return Forbidden("A guest takes part only in the call they were invited to.")
    meeting_id = getattr(frame, "meeting_id", None)
    if meeting_id is not None and meeting_id != guest.meeting_id:
        return Forbidden("This guest link is for another meeting.")
    return None


async def _run(rt: Realtime, websocket: WebSocket, connection: Connection) -> None:
    """Receive frames until the client goes away, the connection is closed (by the watchdog or
    a handler) or a send fails. The frames are received in the socket's own task rather than a
    receiver task of their own: an idle socket then holds one task and no ``asyncio.wait``, a
    few kilobytes less for each of thousands of connections. A close or a failed send stops the
    receiving by cancelling this task, as it cancelled the receiver task before."""
    this = asyncio.current_task()
    assert this is not None
    interrupted = False
    # Every line about this socket from here on (its tasks' too) names it by the id its "ready"
    # frame told the client, and the person by id; a guest by neither name nor link.
    logs.connection_id.set(connection.id)
    user = None if connection.guest is not None else str(connection.user_id)
    _log_opened(user)

    def interrupt(_done: object) -> None:
        nonlocal interrupted
        if not interrupted:
            interrupted = True
            this.cancel()

    sender = _Sender(websocket, connection)
    closed = connection.closed.future()
    watchdog = _watchdog_for(websocket, rt)
    watchdog.watch(connection)
    sender.failed.add_done_callback(interrupt)
    closed.add_done_callback(interrupt)
    try:
        await _receiver(rt, websocket, connection)
    except asyncio.CancelledError:
        if not interrupted:
            raise  # the server is stopping
        this.uncancel()
    except Exception:
        log.exception("connection task failed")
    finally:
        interrupted = True  # nothing cancels this task from here on
        sender.failed.remove_done_callback(interrupt)
        closed.remove_done_callback(interrupt)
        watchdog.forget(connection)
        tasks = sender.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if sender.failed.done() and not sender.failed.cancelled():
        failure = sender.failed.exception()
        # A send to a client that has gone is how most sockets end, not a failure.
        if not isinstance(failure, WebSocketDisconnect):
            log.error("connection task failed", exc_info=failure)
    if connection.close_code is not None and websocket.client_state == WebSocketState.CONNECTED:
        # Flush what was queued before the close (for example a final error frame).
        with contextlib.suppress(Exception):
            while not connection.outbound.empty():
                await websocket.send_text(connection.outbound.get_nowait())
            await websocket.close(connection.close_code, connection.close_reason)
    log.info("socket closed", extra={"user_id": user, "code": connection.close_code})


def _log_opened(user: str | None) -> None:
    """Logged from here rather than from ``_run``: logging looks up its caller's frame (for the
    line it names), which made a frame object of ``_run`` kept while the socket lives (0.3 KiB
    of every idle socket); this frame's ends at once."""
    log.info("socket opened", extra={"user_id": user})


# The frame of the last text sent, shared by every socket of the process (see LastFrame).
_frames = LastFrame()


class _Sender:
    """Sends what the connection queued. A failure to send ends the connection.

    Handing a frame to a writable socket completes without waiting (uvicorn writes it to the
    transport at once), so a frame is sent right where it was queued, with no task: a task per
    delivery was a tenth of a busy server's time in the fan-out benchmark. Only when the send
    has to wait (the client reads slowly and the socket's buffer is full) does a task take over
    that send and what queues behind it, and an idle socket holds no sender task at all. (Why
    by hand and not an asyncio task: the module's docstring.)

    Served by Teamwell's own uvicorn protocol (``realtime.wire``), a frame is written to the
    transport directly, built once for all the receivers of one event; whenever the protocol
    declines (a full buffer, closing, compression), the frame goes through ASGI as above."""

    # One per socket, for the socket's whole life.
    __slots__ = ("_task", "_write_frame", "connection", "failed", "websocket")

    def __init__(self, websocket: WebSocket, connection: Connection) -> None:
        self.websocket = websocket
        self.connection = connection
        self._write_frame: FrameWriter | None = websocket.scope.get("extensions", {}).get(
            FRAME_WRITER
        )
        self.failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task: asyncio.Task[None] | None = None
        connection.outbound.on_ready = self.wake
        if not connection.outbound.empty():
            self.wake()

    def wake(self) -> None:
        if self._task is not None or self.failed.done():
            return  # the task sends it in turn; or the socket is finished
        outbound = self.connection.outbound
        write_frame = self._write_frame
        while not outbound.empty():
            text = outbound.get_nowait()
            if write_frame is not None and write_frame(_frames.of(text)):
                continue
            sending = self.websocket.send_text(text)
            try:
                waiting = sending.send(None)
            except StopIteration:
                continue  # sent
            except Exception as exc:
                self._fail(exc)
                return
            self._task = asyncio.create_task(self._finish(sending, waiting), name="ws-sender")
            return

    async def _finish(self, sending: Coroutine[Any, Any, None], waiting: Any) -> None:
        """Go on with a send that had to wait (what an asyncio task does with a coroutine that
        yielded what it waits for), then send whatever queued meanwhile."""
        try:
            try:
                while True:
                    try:
                        if waiting is None:  # a bare yield: wait one turn of the loop
                            await asyncio.sleep(0)
                        else:
                            # The future it yielded, marked as yielded by an await; a task
                            # clears the mark on taking it, or awaiting it again would refuse.
                            waiting._asyncio_future_blocking = False
                            await waiting
                    except BaseException as exc:  # cancelled: the send sees it where it waited
                        waiting = sending.throw(exc)
                    else:
                        waiting = sending.send(None)
            except StopIteration:
                pass
            outbound = self.connection.outbound
            write_frame = self._write_frame
            while not outbound.empty():
                text = outbound.get_nowait()
                if write_frame is None or not write_frame(_frames.of(text)):
                    await self.websocket.send_text(text)
        except Exception as exc:
            self._fail(exc)
        finally:
            self._task = None

    def _fail(self, exc: Exception) -> None:
        if not self.failed.done():
            self.failed.set_exception(exc)

    def stop(self) -> list[asyncio.Task[None]]:
        """The running task, if any, for the caller to cancel; nothing starts after this."""
        self.connection.outbound.on_ready = None
        if not self.failed.done():
            self.failed.cancel()
        elif not self.failed.cancelled():
            self.failed.exception()  # seen (and logged by the caller when it ended the socket)
        return [self._task] if self._task is not None else []


async def _audit_refused_frame(
    rt: Realtime, connection: Connection, frame: Any, refusal: Problem
) -> None:
    """A frame the permission policies refused (not a member, not invited, not admitted...) is
    audited like a refused HTTP request. The handler's session is closed by now, so the event
    gets its own; failing to write it is logged and the refusal still goes out."""
    if getattr(frame, "meeting_id", None) is not None:
        resource_type, resource_id = "meeting", frame.meeting_id
    else:
        resource_type, resource_id = "conversation", getattr(frame, "conversation_id", None)
    try:
        async with rt.sessions() as session:
            await audit_service.record(
                session,
                connection.ctx,
                action=frame.type,
                resource_type=resource_type,
                resource_id=resource_id,
                # A guest's refusals are filed with the client whose session they came for,
                # where the client's organisation reads them.
                client_id=connection.guest.client_id if connection.guest else None,
                outcome=Outcome.denied,
                detail=refusal.detail,
            )
            await session.commit()
    except Exception:
        log.exception("could not audit a refused %s frame", frame.type)


async def _receiver(rt: Realtime, websocket: WebSocket, connection: Connection) -> None:
    limit = rt.settings.ws_max_frame_bytes
    in_order: _InOrder | None = None  # made at the first frame started at once
    # The server's own ASGI receive rather than starlette's ``WebSocket.receive`` (whose checks
    # are for before the socket is accepted): under Teamwell's protocol (realtime/wire.py) it
    # answers with a future, so a socket waiting for its next frame holds no coroutine frames
    # for it (``receive``, uvicorn's, its queue's: about 0.9 KiB per idle socket).
    receive = websocket._receive
    try:
        while not connection.closed.is_set():
            raw = _text_of(await receive())
            if raw is None:
                websocket.client_state = WebSocketState.DISCONNECTED  # as starlette's would
                return
            connection.last_received = time.monotonic()
            try:
                if len(raw.encode()) > limit:
                    raise FrameError(
                        ErrorCode.frame_too_large, f"Frames are limited to {limit} bytes."
                    )
                frame = p.parse_client_frame(raw)
            except FrameError as exc:
                metrics.frames_in["invalid"].inc()
                _refused(rt, connection, exc, None)
                continue
            log.debug("frame", extra={"frame_type": frame.type})  # its type, never its content
            metrics.frames_in[frame.type].inc()
            refusal = _guest_refusal(connection, frame)
            if refusal is not None:
                await _audit_refused_frame(rt, connection, frame, refusal)
                _refused(
                    rt, connection, problem_to_error(refusal, getattr(frame, "id", None)), frame
                )
                continue
            start = STARTED_AT_ONCE.get(frame.type)
            if start is None:
                await _answer(
                    rt, connection, frame, ALL_HANDLERS[frame.type](rt, connection, frame)
                )
                continue
            if in_order is None:
                in_order = _InOrder(rt, connection)
            try:
                finishing = start(rt, connection, frame)
            except Exception as exc:  # answered in its turn, like a handler's failure
                finishing = raises(exc)
            await in_order.add(frame, finishing)
    finally:
        if in_order is not None:
            in_order.let_go()


async def _answer(rt: Realtime, connection: Connection, frame: Any, work: Awaitable[None]) -> None:
    """Run a frame's handling, and answer a failure with an error frame naming the request;
    a span of its own when traces are on (app/tracing.py)."""
    if tracing.tracer is None:
        await _handle(rt, connection, frame, work)
        return
    with tracing.frame_span(frame.type):
        await _handle(rt, connection, frame, work)


async def _handle(rt: Realtime, connection: Connection, frame: Any, work: Awaitable[None]) -> None:
    try:
        try:
            await work
        except Problem as exc:
            if exc.status == 403:
                await _audit_refused_frame(rt, connection, frame, exc)
            raise problem_to_error(exc, getattr(frame, "id", None)) from None
    except FrameError as exc:
        _refused(rt, connection, exc, frame)
    except Exception:
        log.exception("handler for %s failed", getattr(frame, "type", "?"))
        connection.send(
            p.error_frame(
                ErrorCode.internal,
                # Not "nothing was changed": the failure may come after a commit (telling
                # the others, say). A resend with the same client_msg_id is stored once.
                "Something went wrong; try again.",
                getattr(frame, "id", None),
            )
        )
    else:
        connection.consecutive_errors = 0


def _refused(rt: Realtime, connection: Connection, exc: FrameError, frame: Any) -> None:
    # Every refusal of a request names it, whichever check raised it.
    request_id = exc.request_id or getattr(frame, "id", None)
    # Told at debug level when only a rate limit: a burst is slowed down, not at fault.
    log.log(
        logging.DEBUG if exc.code == ErrorCode.rate_limited else logging.INFO,
        "frame refused",
        extra={"frame_type": getattr(frame, "type", None), "code": exc.code},
    )
    if tracing.tracer is not None:
        tracing.frame_refused(str(exc.code))
    metrics.refused[exc.code.value].inc()
    connection.send(
        p.error_frame(exc.code, exc.message, request_id, retry_after_ms=exc.retry_after_ms)
    )
    if exc.code == ErrorCode.rate_limited:
        # A limit slows a client down before it cuts it off: a burst (an outbox flushing after
        # a reconnect) is told when to send again, not closed. Not a success either, so the
        # count of refused frames in a row goes on from where it was.
        return
    connection.consecutive_errors += 1
    if connection.consecutive_errors >= rt.settings.ws_max_consecutive_errors:
        connection.close(Close.protocol_abuse, "too many refused frames")


class _InOrder:
    """Frames started at once (``STARTED_AT_ONCE``: a message checked and handed to the
    message writer as soon as it is read) and finished in the order they came, by one task
    while any are in flight: acknowledgements, refusals and announcements go out in that order.

    Waiting for each message's commit before reading the next frame let a socket have one
    message in a commit at a time, so a batch could hold no more messages than there were
    sockets sending. At most ``ws_sends_in_flight`` are in flight; then the receiver waits for
    the oldest to finish before it reads on."""

    __slots__ = ("_connection", "_limit", "_queue", "_room", "_rt", "_task")

    def __init__(self, rt: Realtime, connection: Connection) -> None:
        self._rt = rt
        self._connection = connection
        self._limit = rt.settings.ws_sends_in_flight
        self._queue: deque[tuple[Any, Coroutine[Any, Any, None]]] = deque()
        self._task: asyncio.Task[None] | None = None
        self._room: asyncio.Future[None] | None = None

    async def add(self, frame: Any, finishing: Coroutine[Any, Any, None]) -> None:
        self._queue.append((frame, finishing))
        if self._task is None:
            self._task = asyncio.create_task(self._finish_in_order(), name="ws-in-order")
        while len(self._queue) >= self._limit:
            self._room = asyncio.get_running_loop().create_future()
            await self._room

    async def _finish_in_order(self) -> None:
        try:
            while self._queue:
                frame, finishing = self._queue[0]
                await _answer(self._rt, self._connection, frame, finishing)
                self._queue.popleft()
                if self._room is not None and not self._room.done():
                    self._room.set_result(None)
        finally:
            self._task = None
            for _frame, finishing in self._queue:  # cancelled: the server is stopping
                finishing.close()
            self._queue.clear()
            if self._room is not None and not self._room.done():
                self._room.set_result(None)  # a receiver waiting for room reads on

    def let_go(self) -> None:
        """The socket is done. What is in flight is still finished, in the background: the
        messages are stored whatever happens to the socket, and the others are told of them."""
        task = self._task
        if task is not None:
            # Cancelled with the other background work when the application stops.
            self._rt.background.add(task)
            task.add_done_callback(self._rt.background.discard)


def _watchdog_for(websocket: WebSocket, rt: Realtime) -> Watchdog:
    state = websocket.app.state
    watchdog: Watchdog | None = getattr(state, "ws_watchdog", None)
    if watchdog is None or watchdog.background is not rt.background:
        watchdog = Watchdog(
            heartbeat_timeout=rt.settings.ws_heartbeat_timeout_seconds,
            auth_grace=rt.settings.ws_auth_grace_seconds,
            wall=lambda: rt.runtime.now().timestamp(),
            background=rt.background,
        )
        state.ws_watchdog = watchdog
    return watchdog
