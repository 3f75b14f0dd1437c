"""The baselines: what plain Python does on this machine with no authentication, storage,
encryption, permissions or audit, driven by the same client code as Teamwell.

``python -m bench.baseline --port N`` is a bare ``websockets`` server (on uvloop, as uvicorn runs
Teamwell) speaking just enough of Teamwell's `/ws` protocol for the benchmark client:

* the ``bearer.<token>`` subprotocol carries the conversations this socket receives
  (``rooms.<id>,<id>``) instead of a token; the server answers ``ready``;
* ``message.send`` is acknowledged (``message.ack``) and broadcast as ``message.new`` to every
  other socket in the conversation, with a sequence number counted in memory;
* ``meeting.join`` answers ``meeting.joined`` with the others in the meeting and tells them
  ``meeting.participant_joined``; ``meeting.signal`` is relayed to the participant addressed;
* ``ping`` is answered with ``pong``.

``http_app`` is a bare FastAPI application with a plan-shaped read and write
(``uvicorn bench.baseline:http_app``), served by the same uvicorn as Teamwell.
"""

from __future__ import annotations

import argparse
import itertools
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import FastAPI
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

from app.measures.schemas import MeasureSubmit
from app.plans.schemas import PlanContent

ROOM_PREFIX = "bearer.rooms."


class Relay:
    def __init__(self) -> None:
        self.rooms: dict[str, set[ServerConnection]] = defaultdict(set)
        self.seq: dict[str, int] = defaultdict(int)
        self.meetings: dict[str, dict[str, ServerConnection]] = defaultdict(dict)
        self.ids = itertools.count(1)

    async def serve(self, ws: ServerConnection) -> None:
        offered = ws.request.headers.get("Sec-WebSocket-Protocol", "") if ws.request else ""
        rooms = [
            room
            for part in offered.split(",")
            if part.strip().startswith(ROOM_PREFIX)
            for room in part.strip()[len(ROOM_PREFIX) :].split(".")
            if room
        ]
        for room in rooms:
            self.rooms[room].add(ws)
        me = str(next(self.ids))
        seats: list[str] = []
        await ws.send(orjson.dumps({"type": "ready", "user_id": me, "connection_id": me}).decode())
        try:
            async for raw in ws:
                frame = orjson.loads(raw)
                kind = frame.get("type")
                if kind == "message.send":
                    await self._message(ws, me, frame)
                elif kind == "meeting.signal":
                    target = self.meetings[frame["meeting_id"]].get(frame["to"])
                    if target is not None:
                        await target.send(
                            orjson.dumps(
                                {
                                    "type": "meeting.signal",
                                    "meeting_id": frame["meeting_id"],
                                    "from": me,
                                    "signal": frame["signal"],
                                }
                            ).decode()
                        )
                elif kind == "meeting.join":
                    seats.append(frame["meeting_id"])
                    await self._join(ws, me, frame)
                elif kind == "ping":
                    await ws.send(orjson.dumps({"type": "pong", "id": frame.get("id")}).decode())
        except ConnectionClosed:
            pass
        finally:
            for room in rooms:
                self.rooms[room].discard(ws)
            for meeting in seats:
                self.meetings[meeting].pop(me, None)

    async def _message(self, ws: ServerConnection, me: str, frame: dict[str, Any]) -> None:
        room = frame["conversation_id"]
        self.seq[room] += 1
        message = {
            "id": str(uuid.uuid4()),
            "conversation_id": room,
            "seq": self.seq[room],
            "sender_id": me,
            "sender_name": None,
            "client_msg_id": frame["client_msg_id"],
            "body": frame["body"],
            "created_at": datetime.now(UTC).isoformat(),
            "edited_at": None,
            "deleted": False,
        }
        await ws.send(
            orjson.dumps(
                {"type": "message.ack", "id": frame["id"], "message": message, "duplicate": False}
            ).decode()
        )
        others = [c for c in self.rooms.get(room, ()) if c is not ws]
        broadcast(others, orjson.dumps({"type": "message.new", "message": message}).decode())

    async def _join(self, ws: ServerConnection, me: str, frame: dict[str, Any]) -> None:
        meeting = self.meetings[frame["meeting_id"]]
        others = [{"participant_id": pid} for pid in meeting]
        view = {"participant_id": me}
        for other in list(meeting.values()):
            await other.send(
                orjson.dumps(
                    {
                        "type": "meeting.participant_joined",
                        "meeting_id": frame["meeting_id"],
                        "participant": view,
                    }
                ).decode()
            )
        meeting[me] = ws
        await ws.send(
            orjson.dumps(
                {
                    "type": "meeting.joined",
                    "id": frame.get("id"),
                    "meeting_id": frame["meeting_id"],
                    "participant_id": me,
                    "participants": others,
                }
            ).decode()
        )


def _pick_subprotocol(ws: ServerConnection, offered: Any) -> Any:
    return "teamwell.v1" if "teamwell.v1" in offered else None


async def serve_ws(host: str, port: int) -> None:
    relay = Relay()
    async with serve(
        relay.serve,
        host,
        port,
        select_subprotocol=_pick_subprotocol,
        max_size=2**20,
        ping_interval=20,
        compression=None,  # as Teamwell is deployed (docs/deploy.md)
    ) as server:
        await server.serve_forever()


# --- HTTP ----------------------------------------------------------------------------------


http_app = FastAPI()
# The same document model as Teamwell's plan, so validating the body costs the same.
_plans: dict[str, tuple[int, PlanContent]] = {}


@http_app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@http_app.get("/plans/{client_id}")
async def read_plan(client_id: str) -> dict[str, Any]:
    version, body = _plans.get(client_id, (0, PlanContent()))
    return {"client_id": client_id, "version": version, "content": body.model_dump(mode="json")}


@http_app.put("/plans/{client_id}")
async def save_plan(client_id: str, body: PlanContent) -> dict[str, Any]:
    version = _plans.get(client_id, (0, body))[0] + 1
    _plans[client_id] = (version, body)
    return {"client_id": client_id, "version": version, "content": body.model_dump(mode="json")}


# A client's summary and measures, as the record benchmark reads and writes them: the same
# submission model as Teamwell's (strictly typed answers), stored and listed, nothing else.
_measures: dict[str, list[dict[str, Any]]] = {}


@http_app.get("/clients/{client_id}")
async def read_client(client_id: str) -> dict[str, Any]:
    return {"id": client_id, "status": "active", "care_team": [], "referrals": [], "consent": None}


@http_app.post("/clients/{client_id}/measures", status_code=201)
async def submit_measure(client_id: str, body: MeasureSubmit) -> dict[str, Any]:
    stored = {"client_id": client_id, **body.model_dump(mode="json")}
    _measures.setdefault(client_id, []).append(stored)
    return stored


@http_app.get("/clients/{client_id}/measures")
async def list_measures(client_id: str) -> list[dict[str, Any]]:
    return _measures.get(client_id, [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    import uvloop

    uvloop.run(serve_ws(args.host, args.port))


if __name__ == "__main__":
    main()
