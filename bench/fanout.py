"""Benchmark 1, fan-out: senders post to conversations of ten members at fixed rates; every
member has a socket of their own and each message is timed from just before it is sent to when
each of the ten receives it.

Each conversation has one sender socket (a second device of one member, so all ten members'
own sockets receive every message) sending without waiting for acknowledgements. Rates climb a
ladder (doubling) until one is not sustained; then the limit is narrowed by ``REFINE_STEPS`` more
rates, each halfway (geometrically) between the highest sustained and the lowest not, as in a
bisection (a doubling ladder alone could understate the limit by nearly half). A rate is
*sustained* when every message is acknowledged with no error and delivered to all ten receivers
within ``DRAIN_SECONDS`` of the last send, the generator kept to its schedule, and p99 stays
under ``SUSTAINED_P99_MS`` (a queue that grows over the step shows there first).
"""

from __future__ import annotations

import asyncio
import math
import os
import time
import uuid
from dataclasses import dataclass, field

import orjson

from bench.clients import Frame, Http, Socket, close_all, open_many
from bench.deploy import METRICS_TOKEN, Deployment
from bench.measure import GENERATOR, SERVER, SUPPORT, CpuWindow, Latency

MEMBERS = 10
DRAIN_SECONDS = 3.0
SUSTAINED_P99_MS = 250.0
LADDER = (20, 50, 100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600)
BODY_CHARS = 100  # a short chat message
REFINE_STEPS = 3
# Before each rate, wait until nothing has arrived for this long (at most QUIET_LIMIT_SECONDS):
# a rate that was not sustained leaves a backlog that would otherwise land in the next one.
QUIET_SECONDS = 0.5
QUIET_LIMIT_SECONDS = 60.0


@dataclass
class Step:
    rate: float  # messages a second offered
    sent: int
    acked: int
    errors: int
    delivered: int
    seconds: float  # from the first send to the last delivery (or the drain timeout)
    latency: Latency
    cpu: dict[str, float]
    on_schedule: bool
    sustained: bool
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # CPU used over the step

    @property
    def server_us_per_message(self) -> float:
        """The service's CPU per message sent (nan without a measure)."""
        used = self.cpu_seconds.get(SERVER)
        return used / self.sent * 1e6 if used is not None and self.sent else float("nan")

    @property
    def deliveries_per_second(self) -> float:
        return self.delivered / self.seconds if self.seconds else 0.0


@dataclass
class FanoutResult:
    target: str
    conversations: int
    steps: list[Step] = field(default_factory=list)

    @property
    def best(self) -> Step | None:
        passed = [s for s in self.steps if s.sustained]
        return max(passed, key=lambda s: s.rate) if passed else None

    @property
    def found_limit(self) -> bool:
        """Whether some rate was not sustained (otherwise the best is only a lower bound)."""
        return any(not s.sustained for s in self.steps)

    def at(self, rate: float) -> Step | None:
        return next((s for s in self.steps if s.rate == rate), None)


@dataclass
class Rig:
    """Sockets ready for the fan-out: one sender per conversation, ten receivers each."""

    conversations: list[str]
    senders: list[Socket]
    receivers: list[Socket]
    cpu_groups: dict[str, list[int]]


class Tally:
    def __init__(self) -> None:
        self.samples: list[float] = []
        self.acked = 0
        self.errors = 0
        self.last_error = ""
        # Deliveries count only of messages sent from this moment (perf_counter) on: one of
        # an earlier step that arrives late would otherwise be counted with its whole delay.
        self.since: float | None = None
        self.last_frame = 0.0  # when anything last arrived (perf_counter)

    def on_delivery(self, frame: Frame, arrived: float) -> None:
        self.last_frame = arrived
        if frame.get("type") == "message.new" and self.since is not None:
            body: str = frame["message"]["body"]
            sent = float(body[: body.index(" ")])
            if sent >= self.since:
                self.samples.append(arrived - sent)

    def on_reply(self, frame: Frame, arrived: float) -> None:
        self.last_frame = arrived
        kind = frame.get("type")
        if kind == "message.ack":
            self.acked += 1
        elif kind == "error":
            self.errors += 1
            self.last_error = str(frame.get("message"))


def _body() -> str:
    stamp = f"{time.perf_counter():.9f} "
    return stamp + "x" * (BODY_CHARS - len(stamp))


async def _drive(rig: Rig, tally: Tally, rate: float, seconds: float) -> tuple[int, float]:
    """Send at ``rate`` for ``seconds`` (catching up in a burst whenever the loop wakes late);
    returns how many were sent and when sending began."""
    interval = 1.0 / rate
    count = len(rig.conversations)
    start = time.perf_counter()
    sent = 0
    total = max(1, int(rate * seconds))
    while sent < total:
        now = time.perf_counter()
        due = min(total, int((now - start) / interval) + 1)
        while sent < due:
            index = sent % count
            await rig.senders[index].send(
                {
                    "type": "message.send",
                    "id": f"m{sent}",
                    "conversation_id": rig.conversations[index],
                    "client_msg_id": uuid.uuid4().hex,
                    "body": _body(),
                }
            )
            sent += 1
        wait = start + sent * interval - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
    return sent, start


async def run_step(rig: Rig, tally: Tally, rate: float, seconds: float) -> Step:
    tally.samples = []
    tally.acked = tally.errors = 0
    tally.since = time.perf_counter()
    cpu = CpuWindow(rig.cpu_groups)
    cpu.start()
    sent, start = await _drive(rig, tally, rate, seconds)
    sending_took = time.perf_counter() - start
    deadline = time.perf_counter() + DRAIN_SECONDS
    expected = sent * MEMBERS
    while time.perf_counter() < deadline and (
        len(tally.samples) < expected or tally.acked + tally.errors < sent
    ):
        if any(s.closed for s in rig.receivers + rig.senders):
            break
        await asyncio.sleep(0.01)
    used = cpu.stop()
    finished = time.perf_counter()
    tally.since = None
    latency = Latency.of(tally.samples)
    on_schedule = sending_took <= seconds * 1.05 + 0.05
    delivered = len(tally.samples)
    sustained = (
        tally.errors == 0
        and tally.acked == sent
        and delivered == expected
        and on_schedule
        and latency.p99 < SUSTAINED_P99_MS
    )
    return Step(
        rate=rate,
        sent=sent,
        acked=tally.acked,
        errors=tally.errors,
        delivered=delivered,
        seconds=finished - start,
        latency=latency,
        cpu=used,
        cpu_seconds=dict(cpu.seconds),
        on_schedule=on_schedule,
        sustained=sustained,
    )


async def ladder(
    rig: Rig, name: str, *, seconds: float, rates: tuple[float, ...] = LADDER, log: bool = True
) -> FanoutResult:
    tally = _listen(rig)
    result = FanoutResult(target=name, conversations=len(rig.conversations))
    await run_step(rig, tally, rates[0], min(1.0, seconds))  # warm-up, not reported
    failed: Step | None = None
    for rate in rates:
        step = await run_step(rig, tally, rate, seconds)
        result.steps.append(step)
        if log:
            _log(name, step)
        if not step.sustained:
            failed = step
            break
        await _quiet(tally)
    best = result.best
    if failed is not None and best is not None:
        low, high = best.rate, failed.rate
        for _ in range(REFINE_STEPS):
            between = round(math.sqrt(low * high))
            if between in (low, high):
                break
            if any(s.closed for s in rig.receivers + rig.senders):
                break  # a socket was let go while overloaded: later rates would not compare
            await _quiet(tally)
            step = await run_step(rig, tally, between, seconds)
            result.steps.append(step)
            if log:
                _log(name, step)
            if step.sustained:
                low = between
            else:
                high = between
    result.steps.sort(key=lambda s: s.rate)
    if tally.last_error and log:
        print(f"    last error: {tally.last_error}", flush=True)
    return result


# --- the metrics' cost at a fixed rate (``--metrics both``) --------------------------------
#
# Two ladders back to back (without metrics, then with) give each a highest sustained rate, but
# they resolve it only to about 9% (three bisection steps), and near those rates the service and
# the generator together fill both cores, so two ladders of the same code differ by more than 5%
# on noise alone. The cost is therefore also measured where it is made: the service's CPU per
# message at one fixed rate, in rounds that alternate without and with metrics on freshly
# started processes (so drift over the rounds falls on both alike). At the limit the rate is the
# CPU there is divided by the CPU per message, so what the metrics add per message, over the CPU
# per message at the highest rate sustained without them, is the share of that rate they cost.
COST_ROUNDS: tuple[tuple[bool, bool], ...] = ((False, True), (True, False), (False, True))
COST_SHARE = 0.5  # the fixed rate, as a share of the lower of the two ladders' limits
COST_SECONDS = 10.0


@dataclass
class CostRound:
    metrics: bool
    step: Step


@dataclass
class MetricsCost:
    """One deployment's service CPU per message at a fixed rate, without and with metrics."""

    target: str
    rate: float
    rounds: list[CostRound]
    limit_rate: float  # the highest rate sustained without metrics, by its ladder
    limit_us: float  # the service's CPU per message at that rate
    limit_found: bool  # whether that ladder found its limit (else its top is a lower bound)

    def per_message(self, metrics: bool) -> float:
        """Microseconds of the service's CPU per message over every round of one kind."""
        steps = [r.step for r in self.rounds if r.metrics == metrics]
        sent = sum(s.sent for s in steps)
        used = sum(s.cpu_seconds.get(SERVER, float("nan")) for s in steps)
        return used / sent * 1e6 if sent else float("nan")

    @property
    def added_us(self) -> float:
        return self.per_message(True) - self.per_message(False)

    @property
    def at_rate(self) -> float:
        """What metrics add to the CPU per message at the fixed rate, as a share."""
        return self.per_message(True) / self.per_message(False) - 1

    @property
    def pairs(self) -> list[float]:
        """The same share for each round alone (with over without): the spread of the rounds."""
        shares = []
        for i in range(0, len(self.rounds) - 1, 2):
            a, b = self.rounds[i], self.rounds[i + 1]
            on, off = (a, b) if a.metrics else (b, a)
            shares.append(on.step.server_us_per_message / off.step.server_us_per_message - 1)
        return shares

    @property
    def of_limit(self) -> float:
        """The share of the highest sustained rate the metrics cost: what they add per message
        over the CPU per message there (with them added). Below the limit a message costs more
        CPU (less is shared between messages), so without a limit found this is not judged."""
        if not (self.limit_found and self.complete):
            return float("nan")
        return self.added_us / (self.limit_us + self.added_us)

    @property
    def complete(self) -> bool:
        """Whether every round's messages were all acknowledged and delivered to all ten: the
        CPU counted is then the whole work of each (a round's latency does not matter here)."""
        return all(
            r.step.errors == 0
            and r.step.acked == r.step.sent
            and r.step.delivered == r.step.sent * MEMBERS
            for r in self.rounds
        )


async def cost_round(rig: Rig, metrics: bool, rate: float, seconds: float) -> CostRound:
    """One round of the fixed rate on a freshly started deployment's rig: a moment to warm the
    sockets and conversations up, then the measured step."""
    tally = _listen(rig)
    await run_step(rig, tally, rate, min(1.0, seconds))
    await _quiet(tally)
    step = await run_step(rig, tally, rate, seconds)
    _log(f"{'with' if metrics else 'without'} metrics (cost)", step)
    return CostRound(metrics=metrics, step=step)


def _listen(rig: Rig) -> Tally:
    """A fresh tally of the rig's deliveries (receivers) and replies (senders)."""
    tally = Tally()
    for socket in rig.receivers:
        socket.on_frame = tally.on_delivery
    for socket in rig.senders:
        socket.on_frame = tally.on_reply
    return tally


async def _quiet(tally: Tally) -> None:
    """Wait until nothing has arrived for ``QUIET_SECONDS`` (bounded)."""
    deadline = time.perf_counter() + QUIET_LIMIT_SECONDS
    while (now := time.perf_counter()) < deadline:
        idle = now - tally.last_frame
        if idle >= QUIET_SECONDS:
            return
        await asyncio.sleep(QUIET_SECONDS - idle)


def _log(name: str, step: Step) -> None:
    cpu = ", ".join(f"{k} {v:.0%}" for k, v in step.cpu.items())
    print(
        f"  {name:>22} {step.rate:>6g}/s: {step.deliveries_per_second:8.0f} deliveries/s, "
        f"p50 {step.latency.p50:6.1f} p99 {step.latency.p99:7.1f} ms, {cpu}"
        f"{'' if step.sustained else '  (not sustained)'}"
        f" [sent {step.sent} acked {step.acked} errors {step.errors} delivered {step.delivered}]",
        flush=True,
    )


# --- rigs ----------------------------------------------------------------------------------


async def teamwell_rig(deployment: Deployment, conversations: int) -> Rig:
    """Team conversations of the first teams; each member's own socket, spread over the
    processes, and a second socket of each team's first member that sends."""
    teams = deployment.world.teams[:conversations]
    ids = []
    for t, team in enumerate(teams):
        http = Http(deployment.url(t))
        status, _, body = await http.request(
            "POST",
            "/api/v1/conversations",
            headers={"Authorization": f"Bearer {team[0].token}"},
            body={"kind": "team", "team_id": deployment.world.team_ids[t]},
        )
        await http.close()
        if status != 200:
            raise RuntimeError(f"opening a team conversation: {status} {body[:200]!r}")
        ids.append(orjson.loads(body)["id"])
    receivers = await open_many(deployment.urls, [p.token for team in teams for p in team])
    # Offset by one so that, with two processes, a sender is not on its receivers' process.
    senders = await open_many(
        deployment.urls[1:] + deployment.urls[:1], [t[0].token for t in teams]
    )
    return Rig(
        conversations=ids,
        senders=senders,
        receivers=receivers,
        cpu_groups={
            SERVER: deployment.server_pids,
            SUPPORT: deployment.support,
            GENERATOR: [os.getpid()],
        },
    )


async def baseline_rig(base_url: str, pid: int, conversations: int) -> Rig:
    ids = [f"c{i}" for i in range(conversations)]
    receivers = await open_many([base_url], [f"rooms.{c}" for c in ids for _ in range(MEMBERS)])
    senders = await open_many([base_url], ["rooms." for _ in ids])
    return Rig(
        conversations=ids,
        senders=senders,
        receivers=receivers,
        cpu_groups={SERVER: [pid], GENERATOR: [os.getpid()]},
    )


async def close_rig(rig: Rig) -> None:
    await close_all(rig.senders + rig.receivers)


# The fan-out target of a deployment measured again without metrics (``--metrics both``).
WITHOUT_METRICS = " without metrics"


async def messages_counted(deployment: Deployment) -> float:
    """The messages the deployment's processes say they stored, from ``/metrics``: that the
    run with metrics on counted (and could be scraped)."""
    total = 0.0
    for url in deployment.urls:
        http = Http(url)
        try:
            status, _, body = await http.request(
                "GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
            )
        finally:
            await http.close()
        if status != 200:
            raise RuntimeError(f"scraping {url}/metrics: {status} {body[:200]!r}")
        for line in body.decode().splitlines():
            if line.startswith("teamwell_messages_stored_total "):
                total += float(line.split()[1])
    return total
