"""Benchmark 4, plans and records: reads and writes of a client's record per second over HTTP,
each with authentication (the bearer token checked against its session), the permission policy
(is the person on the client's care team?) and the audit event, against a bare FastAPI endpoint
that validates the same document and does nothing else. The kinds (``KINDS``): the plan read and
saved, the client's summary read, a PHQ-9 submitted (scored, its risk item checked for an alert)
and the client's measures listed.

A fixed number of workers each keep one HTTP/1.1 connection open (spread over the processes)
and send one request after another for the measured time. Each worker reads, or writes, the plan
of a client of its own: a write sends the version it last saw in ``If-Match`` and changes a
goal, so every write stores a new version, its history entry, its audit event and announces
``plan.updated`` to the care team. A measure submission stores a new questionnaire each time, so
the measures list read after it holds what the submissions stored (the bare endpoint keeps them
too).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import orjson

from bench.clients import Http
from bench.measure import CpuWindow, Latency

WORKERS = 8

# What each kind does, in the order run: the measures list before the submissions, so that every
# client's list holds the same number of questionnaires (LISTED) on the baseline and on Teamwell.
PLAN_READ, PLAN_WRITE = "read", "write"
SUMMARY_READ, MEASURE_WRITE, MEASURES_READ = "client summary", "measure submit", "measures list"
KINDS = (PLAN_READ, PLAN_WRITE, SUMMARY_READ, MEASURES_READ, MEASURE_WRITE)
LISTED = 6
WRITES = (PLAN_WRITE, MEASURE_WRITE)

# A PHQ-9 with item 9 (thoughts of self-harm) at 0: scored and checked, no alert raised.
PHQ9_ANSWERS = {str(item): (item % 3) for item in range(1, 9)} | {"9": 0}


@dataclass
class PlanResult:
    target: str
    kind: str  # one of KINDS
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
    path: str  # the plan's
    token: str | None  # None for the baseline, which has no authentication
    client_path: str = ""  # the client's record (its summary; measures under it)
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


def _read_path(worker: Worker, kind: str) -> str:
    if kind == SUMMARY_READ:
        return worker.client_path
    if kind == MEASURES_READ:
        return f"{worker.client_path}/measures"
    return worker.path


async def _one(http: Http, worker: Worker, kind: str) -> tuple[int, str]:
    if kind not in WRITES:
        status, _, body = await http.request(
            "GET", _read_path(worker, kind), headers=worker.headers()
        )
        return status, "" if status == 200 else body[:200].decode(errors="replace")
    if kind == MEASURE_WRITE:
        status, _, body = await http.request(
            "POST",
            f"{worker.client_path}/measures",
            headers=worker.headers(),
            body={"instrument": "phq9", "answers": PHQ9_ANSWERS},
        )
        return status, "" if status == 201 else body[:200].decode(errors="replace")
    headers = {**worker.headers(), "If-Match": f'"{worker.version}"'}
    status, _headers, body = await http.request(
        "PUT", worker.path, headers=headers, body=_content(worker)
    )
    if status == 200:
        worker.version = int(orjson.loads(body)["version"])
        return status, ""
    return status, body[:200].decode(errors="replace")


async def _fill_measures(http: Http, worker: Worker) -> None:
    """Submit questionnaires until the client's list holds ``LISTED``."""
    status, _, body = await http.request(
        "GET", _read_path(worker, MEASURES_READ), headers=worker.headers()
    )
    if status != 200:
        raise RuntimeError(f"listing measures: {status} {body[:200]!r}")
    for _ in range(LISTED - len(orjson.loads(body))):
        status, problem = await _one(http, worker, MEASURE_WRITE)
        if problem:
            raise RuntimeError(f"submitting a measure: {status} {problem}")


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
        if kind == MEASURES_READ:
            await _fill_measures(http, worker)
        if kind != PLAN_READ and kind != PLAN_WRITE:
            status, _, body = await http.request(
                "GET", _read_path(worker, kind), headers=worker.headers()
            )
            if status != 200:
                raise RuntimeError(f"reading {kind}: {status} {body[:200]!r}")
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
