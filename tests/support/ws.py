"""A real WebSocket client for the `/ws` gateway, with bounded waits on the frames it expects."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Callable
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

Frame = dict[str, Any]
DEFAULT_WAIT = 10.0


class WsClient:
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.frames: list[Frame] = []  # everything received, in order
        self._unread: list[Frame] = []
        self._arrived = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())
        self.closed_code: int | None = None

    @classmethod
    async def connect(
        cls,
        base_url: str,
        token: str | None = None,
        *,
        first_frame_auth: bool = False,
        headers: dict[str, str] | None = None,
    ) -> WsClient:
        url = base_url.replace("http://", "ws://") + "/ws"
        protocols = ["teamwell.v1"]
        if token and not first_frame_auth:
            protocols.append(f"bearer.{token}")
        connection = await websockets.connect(
            url,
            subprotocols=protocols,  # type: ignore[arg-type]
            additional_headers=headers,
            max_size=2**22,
            open_timeout=DEFAULT_WAIT,
        )
        client = cls(connection)
        if token and first_frame_auth:
            await client.send({"type": "auth", "token": token})
        return client

    async def _read(self) -> None:
        try:
            async for raw in self.connection:
                frame = json.loads(raw)
                async with self._arrived:
                    self.frames.append(frame)
                    self._unread.append(frame)
                    self._arrived.notify_all()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed_code = (
                self.connection.close_code if self.connection.close_code is not None else 1006
            )
            async with self._arrived:
                self._arrived.notify_all()

    async def send(self, frame: Frame | str) -> None:
        await self.connection.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def wait_for(
        self, predicate: Callable[[Frame], bool], timeout: float = DEFAULT_WAIT
    ) -> Frame:
        """The first unread frame matching; frames before it stay unread for later waits."""
        async with asyncio.timeout(timeout), self._arrived:
            while True:
                for index, frame in enumerate(self._unread):
                    if predicate(frame):
                        del self._unread[index]
                        return frame
                if self.closed_code is not None:
                    raise ConnectionError(f"closed with {self.closed_code} while waiting")
                await self._arrived.wait()

    async def wait_type(
        self, frame_type: str, timeout: float = DEFAULT_WAIT, **fields: Any
    ) -> Frame:
        return await self.wait_for(
            lambda f: f.get("type") == frame_type and all(f.get(k) == v for k, v in fields.items()),
            timeout,
        )

    async def request(self, frame: Frame, timeout: float = DEFAULT_WAIT) -> Frame:
        """Send a request with a fresh id and return the reply (or error) carrying that id."""
        request_id = frame.get("id") or uuid.uuid4().hex[:12]
        await self.send({**frame, "id": request_id})
        return await self.wait_for(lambda f: f.get("id") == request_id, timeout)

    async def send_message(
        self, conversation_id: str, body: str, client_msg_id: str | None = None
    ) -> Frame:
        return await self.request(
            {
                "type": "message.send",
                "conversation_id": conversation_id,
                "client_msg_id": client_msg_id or uuid.uuid4().hex,
                "body": body,
            }
        )

    async def wait_closed(self, timeout: float = DEFAULT_WAIT) -> int:
        async with asyncio.timeout(timeout):
            await self._reader
        assert self.closed_code is not None
        return self.closed_code

    async def close(self) -> None:
        await self.connection.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
