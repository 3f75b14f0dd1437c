"""Benchmark 4, plans: reads and writes of a client's plan per second over HTTP, each with
authentication (the bearer token checked against its session), the permission policy (is the
person on the client's care team?) and the audit event, against a bare FastAPI endpoint that
validates the same plan document and does nothing else.

A fixed number of workers each keep one HTTP/1.1 connection open (spread over the processes)
and send one request after another for the measured time. Each worker reads, or writes, the plan
of a client of its own: a write sends the version it last saw in ``If-Match`` and changes a
goal, so every write stores a new version, its history entry, its audit event and announces
``plan.updated`` to the care team.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import orjson

from bench.clients import Http
from bench.measure import CpuWindow, Latency

WORKERS = 8


@dataclass
class PlanResult:
    target: str
    kind: str  # "read" or "write"
    workers: int
    requests: int
    errors: int
    seconds: float
    latency: Latency
    cpu: dict[str, float] = field(default_factory=dict)
    last_error: str = ""

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


@dataclass
class Worker:
    url: str
    path: str
    token: str | None  # None for the baseline, which has no authentication
    version: int = 0
    edits: int = 0

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


def _content(worker: Worker) -> dict[str, object]:
    worker.edits += 1
    return {
        "goals": [
            {"id": "g1", "text": f"Back to work in a job I enjoy (draft {worker.edits})"},
            {"id": "g2", "text": "Sleep better on weekdays"},
        ],
        "vocational_profile": {
            "preferences": {"types": ["retail", "warehouse"], "locations": ["Gateshead"]},
            "skills": ["customer service", "stock control"],
        },
        "actions": [{"id": "a1", "text": "Update the CV with the volunteering role"}],
    }


async def _one(http: Http, worker: Worker, kind: str) -> tuple[int, str]:
    if kind == "read":
        status, _, body = await http.request("GET", worker.path, headers=worker.headers())
        return status, "" if status == 200 else body[:200].decode(errors="replace")
    headers = {**worker.headers(), "If-Match": f'"{worker.version}"'}
    status, _headers, body = await http.request(
        "PUT", worker.path, headers=headers, body=_content(worker)
    )
    if status == 200:
        worker.version = int(orjson.loads(body)["version"])
        return status, ""
    return status, body[:200].decode(errors="replace")


async def measure(
    target: str,
    kind: str,
    workers: list[Worker],
    cpu_groups: dict[str, list[int]],
    *,
    seconds: float,
) -> PlanResult:
    samples: list[float] = []
    errors = 0
    last_error = ""
    connections = [Http(w.url) for w in workers]
    # Learn each plan's version (and warm every connection up) before measuring.
    for http, worker in zip(connections, workers, strict=True):
        status, _, body = await http.request("GET", worker.path, headers=worker.headers())
        if status != 200:
            raise RuntimeError(f"reading a plan: {status} {body[:200]!r}")
        worker.version = int(orjson.loads(body)["version"])
    stop_at = 0.0

    async def loop(http: Http, worker: Worker) -> None:
        nonlocal errors, last_error
        while time.perf_counter() < stop_at:
            sent = time.perf_counter()
            status, problem = await _one(http, worker, kind)
            if problem:
                errors += 1
                last_error = f"{status} {problem}"
            else:
                samples.append(time.perf_counter() - sent)

    cpu = CpuWindow(cpu_groups)
    cpu.start()
    started = time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(*(loop(h, w) for h, w in zip(connections, workers, strict=True)))
    took = time.perf_counter() - started
    used = cpu.stop()
    for http in connections:
        await http.close()
    return PlanResult(
        target=target,
        kind=kind,
        workers=len(workers),
        requests=len(samples),
        errors=errors,
        seconds=took,
        latency=Latency.of(samples),
        cpu=used,
        last_error=last_error,
    )
