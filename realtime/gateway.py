"""The `/ws` endpoint: authenticate, then run the socket's receiver, sender and watchdog as one
group; when any of them ends, all stop and the connection is cleaned up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from app.errors import Problem
from auth.deps import Principal, enforce_mfa, principal_from_token
from realtime import protocol as p
from realtime.connection import Connection
from realtime.handlers import HANDLERS, Handler, Realtime, problem_to_error
from realtime.meeting_handlers import MEETING_HANDLERS
from realtime.meeting_handlers import on_disconnect as leave_meetings_on_disconnect
from realtime.protocol import Close, ErrorCode, FrameError

log = logging.getLogger("teamwell.realtime")
router = APIRouter()

ALL_HANDLERS: dict[str, Handler] = {**HANDLERS, **MEETING_HANDLERS}
assert set(ALL_HANDLERS) == p.CLIENT_FRAME_TYPES, "every frame type has exactly one handler"

# How often the watchdog looks at heartbeats and token expiry.
WATCHDOG_INTERVAL = 0.5


def _offered_token(websocket: WebSocket) -> str | None:
    for protocol in websocket.scope.get("subprotocols", []):
        if protocol.startswith(p.BEARER_PREFIX):
            token: str = protocol[len(p.BEARER_PREFIX) :]
            return token
    return None


async def _receive_text(websocket: WebSocket) -> str | None:
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        return None
    text = message.get("text")
    if text is None and message.get("bytes") is not None:
        text = message["bytes"].decode("utf-8", errors="replace")
    return text or ""


async def _authenticate(rt: Realtime, websocket: WebSocket) -> tuple[Principal, int] | None:
    """The token from the subprotocol header, or else from the first frame (never the URL)."""
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
    client = websocket.client
    async with rt.sessions() as session:
        try:
            principal = await principal_from_token(
                session=session,
                runtime=rt.runtime,
                token=token,
                ip=client.host if client else None,
                user_agent=websocket.headers.get("user-agent"),
            )
        except Problem as exc:
            await websocket.send_text(
                p.encode(p.error_frame(ErrorCode.unauthenticated, exc.detail))
            )
            await websocket.close(Close.unauthenticated, "token refused")
            return None
        try:
            enforce_mfa(principal, rt.runtime)
        except Problem as exc:
            await websocket.send_text(
                p.encode(p.error_frame(ErrorCode.unauthenticated, exc.detail))
            )
            await websocket.close(Close.unauthenticated, "multi-factor authentication required")
            return None
    claims = rt.runtime.signer.read_access_token(token, now=rt.runtime.now())
    return principal, claims.expires_at


@router.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    rt: Realtime = websocket.app.state.realtime
    offered = websocket.scope.get("subprotocols", [])
    await websocket.accept(subprotocol=p.SUBPROTOCOL if p.SUBPROTOCOL in offered else None)
    authenticated = await _authenticate(rt, websocket)
    if authenticated is None:
        return
    principal, expires_at = authenticated
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
    connection = Connection(
        principal=principal,
        token_expires_at=expires_at,
        outbound_limit=rt.settings.ws_outbound_queue,
    )
    # Subscribe before saying ready: anything stored after "ready" arrives live, and anything
    # before it is found by sync, so a resuming client sees no gap.
    await rt.hub.attach(connection)
    try:
        await rt.presence.connect(connection)
        connection.send(
            {
                "type": "ready",
                "user_id": str(principal.user.id),
                "connection_id": connection.id,
                "expires_at": expires_at,
                "heartbeat_seconds": rt.presence.timings.heartbeat_interval,
                "limits": {
                    "frame_bytes": rt.settings.ws_max_frame_bytes,
                    "message_chars": rt.settings.message_max_chars,
                    "messages_per_second": rt.settings.messages_per_second,
                    "message_burst": rt.settings.message_burst,
                    "sync_page": rt.settings.sync_page_max,
                },
            }
        )
        connection.send(await rt.presence.snapshot(connection))
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


async def _run(rt: Realtime, websocket: WebSocket, connection: Connection) -> None:
    tasks = [
        asyncio.create_task(_receiver(rt, websocket, connection), name="ws-receiver"),
        asyncio.create_task(_sender(websocket, connection), name="ws-sender"),
        asyncio.create_task(_watchdog(rt, connection), name="ws-watchdog"),
        asyncio.create_task(connection.closed.wait(), name="ws-closed"),
    ]
    try:
        done, _pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            log.error("connection task failed", exc_info=task.exception())
    if connection.close_code is not None and websocket.client_state == WebSocketState.CONNECTED:
        # Flush what was queued before the close (for example a final error frame).
        with contextlib.suppress(Exception):
            while not connection.outbound.empty():
                await websocket.send_text(connection.outbound.get_nowait())
            await websocket.close(connection.close_code, connection.close_reason)


async def _sender(websocket: WebSocket, connection: Connection) -> None:
    while True:
        text = await connection.outbound.get()
        await websocket.send_text(text)


async def _receiver(rt: Realtime, websocket: WebSocket, connection: Connection) -> None:
    limit = rt.settings.ws_max_frame_bytes
    while True:
        try:
            raw = await _receive_text(websocket)
        except WebSocketDisconnect:
            return
        if raw is None:
            return
        connection.last_received = time.monotonic()
        frame: Any = None
        try:
            if len(raw.encode()) > limit:
                raise FrameError(ErrorCode.frame_too_large, f"Frames are limited to {limit} bytes.")
            frame = p.parse_client_frame(raw)
            try:
                await ALL_HANDLERS[frame.type](rt, connection, frame)
            except Problem as exc:
                raise problem_to_error(exc, getattr(frame, "id", None)) from None
        except FrameError as exc:
            # Every refusal of a request names it, whichever check raised it.
            request_id = exc.request_id or getattr(frame, "id", None)
            connection.send(p.error_frame(exc.code, exc.message, request_id))
            connection.consecutive_errors += 1
            if connection.consecutive_errors >= rt.settings.ws_max_consecutive_errors:
                connection.close(Close.protocol_abuse, "too many refused frames")
        except Exception:
            log.exception("handler for %s failed", getattr(frame, "type", "?"))
            connection.send(
                p.error_frame(
                    ErrorCode.internal,
                    "Something went wrong; nothing was changed.",
                    getattr(frame, "id", None),
                )
            )
        else:
            connection.consecutive_errors = 0


async def _watchdog(rt: Realtime, connection: Connection) -> None:
    """A silent connection is dead after the heartbeat timeout; an expired token gets a grace
    frame, and the socket closes if no fresh token arrives within the grace time."""
    while True:
        await asyncio.sleep(WATCHDOG_INTERVAL)
        now = time.monotonic()
        if now - connection.last_received > rt.settings.ws_heartbeat_timeout_seconds:
            connection.close(Close.timeout, "no heartbeat")
            return
        if connection.grace_deadline is None:
            if rt.runtime.now().timestamp() >= connection.token_expires_at:
                grace = rt.settings.ws_auth_grace_seconds
                connection.grace_deadline = now + grace
                connection.send({"type": "auth.expired", "grace_seconds": grace})
        elif now >= connection.grace_deadline:
            connection.close(Close.unauthenticated, "token expired")
            return
