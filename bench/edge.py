"""What the layers every request crosses cost: the service's CPU per request for a few cheap
requests and the plan read, through the whole application in this process, without sockets.

    python -m bench.edge [--requests 2000] [--rounds 3]

The application is made as the server makes it (``create_app``, metrics counted), on a fresh
SQLite database migrated and seeded with the benchmark's world (bench/seed.py), its lifespan
started; each request is handed to it as uvicorn would hand it over (one ASGI call, one body
message) one after another, and the process's CPU time is read around each batch. No server, no
sockets, no load generator: what is left is the service's own cost per request, so that two
versions of the code can be compared a few microseconds apart on a machine shared with other
work (the HTTP benchmark's rates move by more than that from run to run). The lowest of the
rounds is the figure to compare.

The requests: ``/healthz`` (a route outside the API, no dependency), ``/api/v1/meta`` (the
API's last route, no authentication), ``/api/v1/auth/me`` (authenticated: token, session and
the signed-in check) and a client's plan (the audited read of bench/plans.py).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from starlette.types import ASGIApp, Message

from bench.deploy import BENCH_SETTINGS

Headers = list[tuple[bytes, bytes]]


async def call(app: ASGIApp, method: str, path: str, headers: Headers) -> int:
    """One request through the application; its status."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    sent: list[Message] = []
    received = False

    async def receive() -> Message:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the client never goes away
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(sent[0]["status"])


async def measure(data_dir: Path, requests: int, rounds: int) -> dict[str, list[float]]:
    # Imported once the environment names the data directory and the settings.
    from app.config import get_settings
    from app.main import create_app
    from bench.seed import seed

    logging.getLogger("teamwell.requests").setLevel(logging.WARNING)
    settings = get_settings()
    world = await seed(settings, people=10, clients=4)
    app = create_app(settings)
    client_id, person = world.clients[0]
    anonymous: Headers = [(b"host", b"teamwell.test")]
    signed_in = [*anonymous, (b"authorization", f"Bearer {person.token}".encode())]
    kinds = (
        ("healthz", "/healthz", anonymous, requests),
        ("meta", "/api/v1/meta", anonymous, requests),
        ("me", "/api/v1/auth/me", signed_in, requests),
        ("plan read", f"/api/v1/clients/{client_id}/plan", signed_in, max(1, requests // 4)),
    )
    found: dict[str, list[float]] = {name: [] for name, *_ in kinds}
    async with app.router.lifespan_context(app):
        for name, path, headers, _ in kinds:
            for _ in range(50):  # warm: statement caches, the audit writer's connection
                status = await call(app, "GET", path, headers)
                assert status == 200, (name, status)
        for _ in range(rounds):
            for name, path, headers, count in kinds:
                started = time.process_time()
                for _ in range(count):
                    await call(app, "GET", path, headers)
                found[name].append((time.process_time() - started) / count * 1e6)
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.edge", description=__doc__)
    parser.add_argument("--requests", type=int, default=2000, help="per round and kind")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="teamwell-edge-") as work:
        data_dir = Path(work)
        env = {
            "TEAMWELL_DATA_DIR": str(data_dir),
            "TEAMWELL_DATABASE_URL": f"sqlite:///{data_dir / 'teamwell.db'}",
            **BENCH_SETTINGS,
            "TEAMWELL_JOBS_IN_SERVICE": "false",  # no job runner beside the measured requests
        }
        os.environ.update(env)
        subprocess.run(
            [sys.executable, "-m", "app.cli", "migrate"], check=True, capture_output=True
        )
        found = asyncio.run(measure(data_dir, args.requests, args.rounds))
    print("CPU per request in process, µs (each round; the lowest)")
    for name, values in found.items():
        rounds = " ".join(f"{value:7.0f}" for value in values)
        print(f"  {name:10s} {rounds}   {min(values):7.0f}")


if __name__ == "__main__":
    main()
