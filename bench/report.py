"""The run's figures as docs/benchmarks.md: the machine, the targets and whether each was met,
then every benchmark's table with its baseline beside it, then the notes kept by hand in
bench/notes.md (method, profiles, what was changed)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from bench.backup import MB as BACKUP_MB
from bench.backup import BackupResult
from bench.connections import ConnectionsResult
from bench.documents import BARE as DOCUMENTS_BARE
from bench.documents import MB, DocumentResult
from bench.fanout import REFINE_STEPS, WITHOUT_METRICS, FanoutResult, MetricsCost, Step
from bench.measure import GENERATOR, SERVER, SUPPORT
from bench.plans import WRITES, PlanResult
from bench.signalling import SignallingResult
from bench.storm import BACK_WITHIN, StormResult

T = TypeVar("T")
BASELINE = "baseline"
NOTES = Path(__file__).with_name("notes.md")

# The targets on the 2-core machine.
FANOUT_SHARE = 0.30  # of the bare websockets baseline's highest sustained rate
METRICS_COST = 0.05  # the most of the fan-out rate the metrics may cost (issue 22)
SYNAPSE_RATE = 60.0  # messages/s to 10 receivers, Synapse on this class of machine
SYNAPSE_FACTOR = 25
LATENCY_RATE = 200.0  # messages/s to conversations of ten
LATENCY_P99_MS = 20.0
RECORD_READ_SHARE = 0.20  # audited record reads, of the bare FastAPI endpoint's rate
RECORD_WRITE_SHARE = 0.10  # audited record writes, likewise
CONNECTIONS = 10_000
BYTES_PER_CONNECTION = 30 * 1024
SIGNAL_P99_MS = 10.0
CONNECTS_SHARE = 0.5  # authenticated connects/s with presence, of the bare server's (issue 21)
BYTES_SHARE = 1.25  # memory per idle connection, at most this times the bare server's
IDLE_CPU_PER_PROCESS = 0.05  # of a core, for 10,000 idle sockets with presence


@dataclass
class Run:
    started: datetime
    command: str
    facts: dict[str, str]
    deployments: dict[str, str]  # name -> description
    finished: datetime | None = None
    quick: bool = False
    connections: list[ConnectionsResult] = field(default_factory=list)
    fanout: list[FanoutResult] = field(default_factory=list)
    signalling: list[SignallingResult] = field(default_factory=list)
    plans: list[PlanResult] = field(default_factory=list)
    documents: list[DocumentResult] = field(default_factory=list)
    backup: list[BackupResult] = field(default_factory=list)
    storms: list[StormResult] = field(default_factory=list)
    metrics_costs: list[MetricsCost] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    profile: list[tuple[str, str]] = field(default_factory=list)  # (heading, preformatted)


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}"


def _kib(value: float) -> str:
    return "-" if math.isnan(value) else f"{value / 1024:.1f} KiB"


def _cpu(cpu: dict[str, float], name: str) -> str:
    return f"{cpu[name]:.0%}" if name in cpu else "-"


def _ratio(value: float, base: float) -> str:
    if not base or math.isnan(value) or math.isnan(base):
        return "-"
    return f"{value / base:.2f}x"


def _verdict(met: bool | None) -> str:
    return "not measured" if met is None else ("**met**" if met else "**not met**")


def _by_target(items: Sequence[T], target: str) -> T | None:
    return next((i for i in items if getattr(i, "target", None) == target), None)


def _targets(run: Run) -> list[str]:
    rows = [
        "| target | deployment | measured | baseline (same run) | verdict |",
        "|---|---|---|---|---|",
    ]
    bare = _by_target(run.fanout, BASELINE)
    bare_best = bare.best.rate if bare and bare.best else float("nan")
    for name in run.deployments:
        result: FanoutResult | None = _by_target(run.fanout, name)
        if result is None:
            continue
        best = result.best.rate if result.best else 0.0
        share = best / bare_best if bare_best and not math.isnan(bare_best) else float("nan")
        if not (result.found_limit and bare and bare.found_limit):
            share = float("nan")  # a ladder ended before a limit was found: no ratio to judge
        rows.append(
            f"| fan-out rate ≥ {FANOUT_SHARE:.0%} of bare `websockets` | {name} | "
            f"{best:g} msg/s ({best * 10:g} deliveries/s), {share:.0%} of the baseline | "
            f"{bare_best:g} msg/s | "
            f"{_verdict(None if math.isnan(share) else share >= FANOUT_SHARE)} |"
        )
        rows.append(
            f"| fan-out rate ≥ {SYNAPSE_FACTOR}x Synapse's {SYNAPSE_RATE:g} msg/s | {name} | "
            f"{best:g} msg/s ({best / SYNAPSE_RATE:.1f}x) | - | "
            f"{_verdict(best >= SYNAPSE_FACTOR * SYNAPSE_RATE)} |"
        )
        step = result.at(LATENCY_RATE)
        bare_step = bare.at(LATENCY_RATE) if bare else None
        rows.append(
            f"| p99 < {LATENCY_P99_MS:g} ms at {LATENCY_RATE:g} msg/s | {name} | "
            f"{_ms(step.latency.p99) if step else '-'} ms | "
            f"{_ms(bare_step.latency.p99) if bare_step else '-'} ms | "
            f"{_verdict(None if step is None else step.latency.p99 < LATENCY_P99_MS and step.sustained)} |"  # noqa: E501
        )
    rows += [
        row for name in run.deployments if (row := _metrics_cost_target(run, name)) is not None
    ]
    bare_conn = _by_target(run.connections, BASELINE)
    for name in run.deployments:
        held: ConnectionsResult | None = _by_target(run.connections, name)
        if held is None:
            continue
        per = held.bytes_per_connection
        processes = len(held.memory)
        base = f"{bare_conn.bytes_per_connection / 1024:.1f} KiB each" if bare_conn else "-"
        if held.failed:
            measured = f"{held.held:,} held, then: {held.failed}"
            verdict = _verdict(False)
        else:
            measured = f"{held.held:,} held, {per / 1024:.1f} KiB each"
            verdict = (
                _verdict(held.held >= CONNECTIONS and per < BYTES_PER_CONNECTION)
                if processes == 1
                else f"spread over {processes} processes; the target is one process's (embedded)"
            )
        rows.append(
            f"| {CONNECTIONS:,} idle connections in one process, < 30 KiB each | {name} | "
            f"{measured} | {base} | {verdict} |"
        )
    rows += _connection_targets(run)
    bare_sig = _by_target(run.signalling, BASELINE)
    for name in run.deployments:
        sig: SignallingResult | None = _by_target(run.signalling, name)
        if sig is None:
            continue
        rows.append(
            f"| signalling relay p99 < {SIGNAL_P99_MS:g} ms | {name} | "
            f"{_ms(sig.latency.p99)} ms round trip | "
            f"{_ms(bare_sig.latency.p99) if bare_sig else '-'} ms | "
            f"{_verdict(sig.latency.p99 < SIGNAL_P99_MS and sig.lost == 0)} |"
        )
    for r in run.plans:
        bare_record = next(
            (b for b in run.plans if b.target == BASELINE and b.kind == r.kind), None
        )
        if r.target == BASELINE or bare_record is None or not bare_record.per_second:
            continue
        share = RECORD_WRITE_SHARE if r.kind in WRITES else RECORD_READ_SHARE
        got = r.per_second / bare_record.per_second
        rows.append(
            f"| audited {r.kind} {'(plan) ' if r.kind in ('read', 'write') else ''}"
            f"≥ {share:.2f}x the bare endpoint | {r.target} | "
            f"{r.per_second:,.0f}/s ({got:.3f}x) | {bare_record.per_second:,.0f}/s | "
            f"{_verdict(got >= share and r.errors == 0)} |"
        )
    return rows


def _costed(run: Run, name: str) -> tuple[FanoutResult, FanoutResult] | None:
    """A deployment's fan-out with metrics and without, when both were measured."""
    with_metrics = _by_target(run.fanout, name)
    without = _by_target(run.fanout, name + WITHOUT_METRICS)
    return (with_metrics, without) if with_metrics and without else None


def _cost(with_metrics: FanoutResult, without: FanoutResult) -> float:
    """The share of the rate without metrics that metrics cost (nan unless both ladders found
    their limit: a lower bound compares with nothing)."""
    if not (with_metrics.found_limit and without.found_limit and without.best):
        return float("nan")
    best = with_metrics.best.rate if with_metrics.best else 0.0
    return 1 - best / without.best.rate


def _rate(result: FanoutResult) -> str:
    best = result.best
    return f"{'' if result.found_limit else '≥ '}{best.rate:g} msg/s" if best else "none sustained"


def _fixed_rate_cost(run: Run, name: str) -> MetricsCost | None:
    # Figures kept by a run from before the fixed-rate measure have no such list.
    return _by_target(getattr(run, "metrics_costs", []), name)


def _metrics_cost_target(run: Run, name: str) -> str | None:
    """The cost judged by the fixed-rate rounds when they were run (the ladders alone cannot
    resolve 5%: bench/fanout.py, ``COST_ROUNDS``), else by the two ladders."""
    pair = _costed(run, name)
    fixed = _fixed_rate_cost(run, name)
    if pair is None and fixed is None:
        return None
    ladders = f"ladders: {_rate(pair[0])} with, {_rate(pair[1])} without" if pair else "no ladders"
    if fixed is not None:
        cost = fixed.of_limit
        measured = (
            f"{fixed.added_us:+.0f} µs of service CPU a message at {fixed.rate:g} msg/s, "
            f"{_share(cost)} of the rate at the limit ({ladders})"
        )
        baseline = (
            f"{fixed.per_message(False):.0f} µs a message without metrics at {fixed.rate:g} "
            f"msg/s, {fixed.limit_us:.0f} µs at the limit ({fixed.limit_rate:g} msg/s)"
        )
    else:
        assert pair is not None
        cost = _cost(*pair)
        measured = f"{_rate(pair[0])} with metrics, a cost of {_share(cost)}"
        baseline = f"{_rate(pair[1])} without metrics"
    return (
        f"| metrics cost ≤ {METRICS_COST:.0%} of the fan-out rate | {name} | {measured} | "
        f"{baseline} | {_verdict(None if math.isnan(cost) else cost <= METRICS_COST)} |"
    )


def _share(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1%}"


def _metrics_cost(run: Run) -> list[str]:
    out: list[str] = []
    for name in run.deployments:
        pair = _costed(run, name)
        if pair is not None:
            out += [
                "",
                f"**{name}, the metrics' cost by the ladders**: {_rate(pair[0])} with metrics, "
                f"{_rate(pair[1])} without, a cost of {_share(_cost(*pair))} (the highest "
                "sustained rates, measured back to back on freshly started processes of the "
                'same database: `--metrics both`, docs/operations.md "Cost"). The ladders '
                "resolve a rate to about 9%, and near those rates service and generator fill "
                "both cores: the fixed-rate rounds below are the finer measure.",
            ]
        fixed = _fixed_rate_cost(run, name)
        if fixed is None:
            continue
        out += [
            "",
            f"**{name}, the metrics' cost at a fixed rate**: {fixed.rate:g} msg/s, rounds "
            "alternating without and with metrics on freshly started processes; the service's "
            "CPU per message sent:",
            "",
            "| round | metrics | service CPU per message | p99 ms | sustained |",
            "|---|---|---|---|---|",
        ]
        out += [
            f"| {i} | {'on' if r.metrics else 'off'} | {r.step.server_us_per_message:.0f} µs | "
            f"{_ms(r.step.latency.p99)} | {'yes' if r.step.sustained else 'no'} |"
            for i, r in enumerate(fixed.rounds, start=1)
        ]
        spread = ", ".join(f"{share:+.1%}" for share in fixed.pairs)
        out += [
            "",
            f"Over all rounds: {fixed.per_message(False):.0f} µs without metrics, "
            f"{fixed.per_message(True):.0f} µs with ({fixed.at_rate:+.1%}; pair by pair "
            f"{spread}). At the highest rate sustained without metrics ({fixed.limit_rate:g} "
            f"msg/s) the service used {fixed.limit_us:.0f} µs a message, so the "
            f"{fixed.added_us:+.0f} µs the metrics add are **{_share(fixed.of_limit)} of the "
            "rate** there.",
        ]
    return out


def _fanout(run: Run) -> list[str]:
    out: list[str] = []
    bare = _by_target(run.fanout, BASELINE)
    for result in run.fanout:
        best = result.best
        title = "bare `websockets` broadcast" if result.target == BASELINE else result.target
        ratio = (
            f", {_ratio(best.rate, bare.best.rate)} the baseline"
            if best and bare and bare.best and result.target != BASELINE
            else ""
        )
        out += [
            "",
            f"**{title}**: {result.conversations} conversations of 10; highest sustained rate "
            f"{'' if result.found_limit else 'at least '}"
            f"**{best.rate:g} messages/s** ({best.rate * 10:g} deliveries/s){ratio}"
            if best
            else f"**{title}**: no rate was sustained",
            "",
            "| offered msg/s | deliveries/s | p50 ms | p95 ms | p99 ms | max ms | "
            "server CPU | PostgreSQL+Redis CPU | generator CPU | sustained |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        out += [_step_row(step) for step in result.steps]
    return out + _metrics_cost(run)


def _step_row(step: Step) -> str:
    why = ""
    if not step.sustained:
        reasons = []
        if step.errors:
            reasons.append(f"{step.errors} errors")
        if step.delivered < step.sent * 10:
            reasons.append(f"{step.sent * 10 - step.delivered} not delivered in time")
        if not step.on_schedule:
            reasons.append("generator behind schedule")
        if not reasons:
            reasons.append("p99 over 250 ms")
        why = " (" + ", ".join(reasons) + ")"
    return (
        f"| {step.rate:g} | {step.deliveries_per_second:,.0f} | {_ms(step.latency.p50)} | "
        f"{_ms(step.latency.p95)} | {_ms(step.latency.p99)} | {_ms(step.latency.max)} | "
        f"{_cpu(step.cpu, SERVER)} | {_cpu(step.cpu, SUPPORT)} | {_cpu(step.cpu, GENERATOR)} | "
        f"{'yes' if step.sustained else 'no' + why} |"
    )


def _connection_targets(run: Run) -> list[str]:
    """Issue 21's targets for connections: connects/s and memory against the bare server's,
    idle CPU per process, and the reconnect storm."""
    rows: list[str] = []
    bare = _by_target(run.connections, BASELINE)
    bare_storm = _by_target(run.storms, BASELINE)
    for name in run.deployments:
        held: ConnectionsResult | None = _by_target(run.connections, name)
        if held is not None and bare is not None:
            share = held.connects_per_second / bare.connects_per_second if bare.held else 0.0
            rows.append(
                f"| authenticated `/ws` connects ≥ {CONNECTS_SHARE:g}x the bare server's | "
                f"{name} | "
                f"{held.connects_per_second:,.0f}/s ({share:.2f}x) | "
                f"{bare.connects_per_second:,.0f}/s | "
                f"{_verdict(None if held.failed else share >= CONNECTS_SHARE)} |"
            )
            ratio = held.bytes_per_connection / bare.bytes_per_connection
            rows.append(
                f"| idle connection ≤ {BYTES_SHARE:g}x the bare server's memory | {name} | "
                f"{_kib(held.bytes_per_connection)} ({_ratio(held.bytes_per_connection, bare.bytes_per_connection)}) | "  # noqa: E501
                f"{_kib(bare.bytes_per_connection)} | "
                f"{_verdict(None if held.failed or math.isnan(ratio) else ratio <= BYTES_SHARE)} |"
            )
        if held is not None and held.idle_cpu_per_process:
            worst = max(held.idle_cpu_per_process)
            shown = ", ".join(f"{c:.1%}" for c in held.idle_cpu_per_process)
            rows.append(
                f"| idle CPU < {IDLE_CPU_PER_PROCESS:.0%} of a core per process "
                f"({held.held:,} sockets) | {name} | {shown} | - | "
                f"{_verdict(None if held.failed else worst < IDLE_CPU_PER_PROCESS)} |"
            )
        storm: StormResult | None = _by_target(run.storms, name)
        if storm is not None:
            rows.append(
                f"| reconnect storm of {storm.sockets:,} back and resynchronised within "
                f"{BACK_WITHIN:g} s, none lost or duplicated | {name} | "
                f"{storm.back:,} back in {storm.seconds:.1f} s, {storm.lost} lost, "
                f"{storm.duplicated} duplicated of {storm.sent} x {storm.members} | "
                + (f"{bare_storm.seconds:.1f} s" if bare_storm else "-")
                + f" | {_verdict(storm.within_target)} |"
            )
    return rows


def _storms(run: Run) -> list[str]:
    out = [
        "",
        "| target | sockets | back | seconds to all back | 50% / 90% / 99% back by | attempts | "
        "messages x member devices | lost | duplicated | redelivered (dropped) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in run.storms:
        failed = f" — {r.failed}" if r.failed else ""
        marks = " / ".join(f"{r.quantiles.get(q, float('nan')):.1f}" for q in ("50%", "90%", "99%"))
        out.append(
            f"| {r.target} | {r.sockets:,} | {r.back:,}{failed} | {r.seconds:.1f} | {marks} s | "
            f"{r.attempts:,} | {r.sent} x {r.members} | {r.lost} | {r.duplicated} | "
            f"{r.redelivered} |"
        )
    refused = [r for r in run.storms if r.refusals]
    if refused:
        out += [
            "",
            "Attempts that failed, by what they met (a close code, or how the handshake failed):",
            "",
        ]
        for r in refused:
            reasons = ", ".join(
                f"{why} {n:,}" for why, n in sorted(r.refusals.items(), key=lambda i: -i[1])
            )
            out.append(f"- {r.target}: {reasons}")
    return out


def _connections(run: Run) -> list[str]:
    out = [
        "",
        "| target | held / wanted | per process | memory per connection | connects/s | "
        "server CPU idle | per process | PostgreSQL+Redis CPU idle | ratio to baseline (memory) "
        "| ratio to baseline (connects/s) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    bare = _by_target(run.connections, BASELINE)
    for result in run.connections:
        per_process = ", ".join(
            f"{n:,} (+{(after - before) / 2**20:.0f} MiB)" for n, before, after in result.memory
        )
        failed = f" — stopped: {result.failed}" if result.failed else ""
        out.append(
            f"| {result.target} | {result.held:,} / {result.wanted:,}{failed} | {per_process} | "
            f"{_kib(result.bytes_per_connection)} | {result.connects_per_second:,.0f} | "
            f"{_cpu(result.idle_cpu, SERVER)} | "
            + (", ".join(f"{c:.1%}" for c in result.idle_cpu_per_process) or "-")
            + f" | {_cpu(result.idle_cpu, SUPPORT)} | "
            + (
                _ratio(result.bytes_per_connection, bare.bytes_per_connection)
                if bare and result is not bare
                else "-"
            )
            + " | "
            + (
                _ratio(result.connects_per_second, bare.connects_per_second)
                if bare and result is not bare
                else "-"
            )
            + " |"
        )
    return out


def _signalling(run: Run) -> list[str]:
    out = [
        "",
        "| target | pairs x offers/s | round trips | p50 ms | p95 ms | p99 ms | max ms | lost | "
        "server CPU | PostgreSQL+Redis CPU | p99 to baseline |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    bare = _by_target(run.signalling, BASELINE)
    for r in run.signalling:
        out.append(
            f"| {r.target} | {r.pairs} x {r.per_second:g} | {r.latency.count:,} | "
            f"{_ms(r.latency.p50)} | {_ms(r.latency.p95)} | {_ms(r.latency.p99)} | "
            f"{_ms(r.latency.max)} | {r.lost} | {_cpu(r.cpu, SERVER)} | {_cpu(r.cpu, SUPPORT)} | "
            + (_ratio(r.latency.p99, bare.latency.p99) if bare and r is not bare else "-")
            + " |"
        )
    return out


def _plans(run: Run) -> list[str]:
    out = [
        "",
        "| target | kind | workers | requests/s | p50 ms | p99 ms | errors | server CPU | "
        "PostgreSQL+Redis CPU | generator CPU | rate to baseline |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in run.plans:
        bare = next((b for b in run.plans if b.target == BASELINE and b.kind == r.kind), None)
        errors = f"{r.errors}" + (f" ({r.last_error[:80]})" if r.errors else "")
        out.append(
            f"| {r.target} | {r.kind} | {r.workers} | {r.per_second:,.0f} | "
            f"{_ms(r.latency.p50)} | {_ms(r.latency.p99)} | {errors} | {_cpu(r.cpu, SERVER)} | "
            f"{_cpu(r.cpu, SUPPORT)} | {_cpu(r.cpu, GENERATOR)} | "
            + (_ratio(r.per_second, bare.per_second) if bare and r is not bare else "-")
            + " |"
        )
    return out


def _documents(run: Run) -> list[str]:
    out = [
        "",
        "| target | direction | size | rounds | median s | MB/s | errors | rate to bare |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in run.documents:
        bare = next(
            (
                b
                for b in run.documents
                if b.target == DOCUMENTS_BARE and (b.direction, b.size) == (r.direction, r.size)
            ),
            None,
        )
        errors = f"{r.errors}" + (f" ({r.last_error[:80]})" if r.errors else "")
        out.append(
            f"| {r.target} | {r.direction} | {r.size // MB} MB | {r.rounds} | "
            f"{r.median_seconds:.3f} | {r.mb_per_second:,.1f} | {errors} | "
            + (_ratio(r.mb_per_second, bare.mb_per_second) if bare and r is not bare else "-")
            + " |"
        )
    return out


def _backup(run: Run) -> list[str]:
    out = [
        "",
        "| target | encryption | messages | database MB | archive MB | rounds | "
        "start-up s (`--help`) | backup median s | backup MB/s | restore median s | "
        "restore MB/s | errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    # Results kept (--results) before this benchmark existed have none.
    for r in getattr(run, "backup", []):
        errors = f"{r.errors}" + (f" ({r.last_error[:80]})" if r.errors else "")
        out.append(
            f"| {r.target} | {r.encryption} | {r.messages:,} | "
            f"{r.database_bytes / BACKUP_MB:,.1f} | {r.archive_bytes / BACKUP_MB:,.1f} | "
            f"{r.rounds} | {r.startup_median:.2f} | "
            f"{r.backup_median:.2f} | {r.mb_per_second(r.backup_median):,.1f} | "
            f"{r.restore_median:.2f} | {r.mb_per_second(r.restore_median):,.1f} | {errors} |"
        )
    return out


def render(run: Run) -> str:
    took = (run.finished - run.started).total_seconds() if run.finished else 0.0
    lines = [
        "# Benchmarks",
        "",
        "This file is written by the benchmark suite (`python -m bench`, see bench/README.md): "
        "the figures below are its **latest run**"
        + (" — a quick run, too short to rely on" if run.quick else "")
        + ". Every figure sits beside a baseline measured in the same run on the same machine, "
        "because absolute numbers on a shared machine move with whatever else it is doing; "
        "the ratios are what to read.",
        "",
        f"Run: {run.started:%Y-%m-%d %H:%M} UTC, {took / 60:.1f} minutes, `{run.command}`.",
        "",
        "## The machine",
        "",
        *[f"- {k}: {v}" for k, v in run.facts.items()],
        "",
        "Deployments measured:",
        "",
        *[f"- **{name}**: {text}" for name, text in run.deployments.items()],
        "- **baseline**: a bare `websockets` server (bench/baseline.py) for the WebSocket "
        "benchmarks, and a bare FastAPI endpoint on the same uvicorn for the HTTP one: no "
        "authentication, storage, encryption, permissions or audit.",
        "",
        "The load generator is one process on the same machine; its CPU is reported beside the "
        "server's (as a share of one core) so that a run limited by the generator shows as such.",
        "",
        "## Targets",
        "",
        *_targets(run),
    ]
    if run.problems:
        lines += ["", "Problems in this run:", "", *[f"- {p}" for p in run.problems]]
    lines += [
        "",
        "## 1. Fan-out to conversations of ten",
        "",
        "Latency is from just before a message is sent to when each of its ten receivers has it "
        "(every receiver counted). A rate is sustained when every message is acknowledged and "
        "delivered to all ten within 3 s of the last send, the generator kept its schedule and "
        "p99 stayed under 250 ms. Rates double until one is not sustained; up to "
        f"{REFINE_STEPS} more, each halfway between the highest sustained and the lowest not, "
        "narrow the limit down.",
        *_fanout(run),
        "",
        "## 2. Idle authenticated connections with presence",
        *_connections(run),
        "",
        "### Reconnect storm",
        "",
        "Every socket of the connections benchmark dropped at once from the client side, each "
        "reconnecting after the web client's delay (half a second plus up to another half, "
        "doubling after each failed try); a socket is back once `ready` arrived, and a device "
        "of the watched conversation's members once it has also resynchronised it. Messages "
        "are sent to that conversation during the storm (bench/storm.py).",
        *_storms(run),
        "",
        "## 3. Signalling: offer and answer relayed between two participants",
        *_signalling(run),
        "",
        "## 4. Plan reads and writes over HTTP",
        "",
        "With the other audited records: a client's summary read, a PHQ-9 submitted (scored, "
        "its risk item checked) and the client's measures listed.",
        *_plans(run),
        "",
        "## 5. Document uploads and downloads",
        "",
        "Through the API (chunked upload, content check, clamd scan, sealing, S3 put; download "
        "link, token and permission checks, S3 get, opening) beside a bare aiobotocore put and "
        "get of the same sizes to the same SeaweedFS (bench/documents.py). The target is at "
        "least half the bare rate.",
        *_documents(run),
        "",
        "## 6. Backup and restore",
        "",
        "`teamwell backup` and `teamwell restore` run as an operator runs them (a process each, "
        "start-up included) on a database seeded with people and client records and filled "
        "with sealed messages (bench/backup.py), restored into a fresh instance each round. "
        "MB/s are of the database's size. Start-up is `teamwell backup --help`, the process "
        "and its imports alone, included in both times. These are the figures docs/deploy.md's "
        "recovery times (RTO) rest on.",
        *_backup(run),
    ]
    for heading, text in run.profile:
        lines += ["", f"### Profile: {heading}", "", "```", text.rstrip(), "```"]
    if NOTES.exists():
        lines += ["", NOTES.read_text(encoding="utf-8").rstrip()]
    return "\n".join(lines) + "\n"
