"""The benchmark suite (bench/) runs end to end for a moment on the embedded defaults, so that it
cannot rot between the runs that measure. Nothing here is about speed: the figures of a run this
short mean nothing, only that every benchmark produced them beside its baseline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT


@pytest.mark.slow  # starts the benchmark deployments
def test_every_benchmark_runs_and_reports_beside_its_baseline(tmp_path: Path) -> None:
    report = tmp_path / "benchmarks.md"
    done = subprocess.run(
        [
            sys.executable, "-m", "bench", "--quick",
            "--deployments", "embedded",
            "--connections", "20",
            "--seconds", "0.5",
            "--output", str(report),
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        # About 100 s here with the documents rig (SeaweedFS, clamd, 20 MB files), and the
        # backup rig's six commands; over three minutes on a busy machine.
        timeout=480,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    text = report.read_text(encoding="utf-8")
    assert "Problems in this run" not in text, text
    for heading in (
        "## The machine",
        "## Targets",
        "## 1. Fan-out to conversations of ten",
        "## 2. Idle authenticated connections with presence",
        "## 3. Signalling",
        "## 4. Plan reads and writes over HTTP",
        "## 5. Document uploads and downloads",
        "## 6. Backup and restore",
    ):
        assert heading in text, heading
    rows = [line for line in text.splitlines() if line.startswith("| ")]

    def row(target: str, *words: str) -> str:
        found = [r for r in rows if r.startswith(f"| {target} |") and all(w in r for w in words)]
        assert found, (target, words, text)
        return found[0]

    # Connections: all twenty held, by the baseline and by Teamwell.
    assert "20 / 20" in row("baseline") and "20 / 20" in row("embedded")
    # Reconnect storm: every socket back, and every message sent meanwhile applied exactly once
    # by each of the ten member devices.
    assert "### Reconnect storm" in text
    assert "| baseline | 20 | 20 |" in row("baseline", "| 0 x 0 |")
    assert "| embedded | 20 | 20 |" in row("embedded", "| 23 x 10 | 0 | 0 |")
    # Signalling: round trips measured, none lost.
    for target in ("baseline", "embedded"):
        assert "| 0 |" in row(target, "2 x 20")
    # Plans: reads and writes answered without errors, on both.
    for target in ("baseline", "embedded"):
        for kind in ("read", "write"):
            assert f"| {target} | {kind} | 8 | " in row(target, f"| {kind} |")
            assert "| 0 |" in row(target, f"| {kind} |")
    # Documents: 1 MB and 20 MB up and down, bare and through the API, without errors.
    for target in ("bare aiobotocore", "embedded, SeaweedFS + clamd"):
        for direction in ("upload", "download"):
            for size in ("1 MB", "20 MB"):
                assert "| 1 | " in row(target, f"| {direction} | {size} |")
                assert "| 0 |" in row(target, f"| {direction} | {size} |")
    # Backup: backed up and restored once each way, without errors.
    for encryption in ("age", "passphrase"):
        found = row("embedded (SQLite)", f"| {encryption} | 2,000 |")
        assert found.endswith("| 0 |") and "| 1 |" in found, found
    # Fan-out: a rate was sustained by both (messages acknowledged and delivered to all ten).
    assert "**bare `websockets` broadcast**: 4 conversations of 10; highest sustained" in text
    assert "**embedded**: 4 conversations of 10; highest sustained" in text
    # ... and again without metrics, the two side by side (the figures mean nothing here).
    assert "**embedded without metrics**: 4 conversations of 10; highest sustained" in text
    assert "**embedded, the metrics' cost by the ladders**: " in text
    # ... and at a fixed rate, one round each way.
    assert "**embedded, the metrics' cost at a fixed rate**: " in text
    assert row("1", "| off |") and row("2", "| on |")


def test_a_late_answer_to_an_offer_sent_before_counting_is_not_counted() -> None:
    """A warm-up offer answered after counting began once added its whole delay to the
    signalling p99 (501 ms in one run): only answers to offers sent since count."""
    from bench.signalling import RoundTrips

    trips = RoundTrips()
    on_frame = trips.offerer()

    def answer(sent: float) -> dict[str, object]:
        return {"type": "meeting.signal", "signal": {"kind": "answer", "sdp": f"v={sent}\r\nx"}}

    on_frame(answer(1.0), 1.5)  # type: ignore[operator]
    trips.since = 2.0
    on_frame(answer(1.9), 2.4)  # type: ignore[operator]  # sent before: not counted
    on_frame(answer(2.0), 2.005)  # type: ignore[operator]
    assert trips.samples == [pytest.approx(0.005)]


def test_a_late_delivery_of_an_earlier_step_is_not_counted() -> None:
    from bench.fanout import Tally

    tally = Tally()

    def delivery(sent: float) -> dict[str, object]:
        return {"type": "message.new", "message": {"body": f"{sent:.9f} xxxx"}}

    tally.on_delivery(delivery(1.0), 1.5)  # type: ignore[arg-type]
    tally.since = 2.0
    tally.on_delivery(delivery(1.9), 2.4)  # type: ignore[arg-type]
    tally.on_delivery(delivery(2.5), 2.75)  # type: ignore[arg-type]
    assert tally.samples == [pytest.approx(0.25)]


def test_the_metrics_cost_is_judged_only_when_both_ladders_found_their_limit() -> None:
    from datetime import UTC, datetime

    from bench.fanout import WITHOUT_METRICS, FanoutResult, Step
    from bench.measure import Latency
    from bench.report import Run, render

    def ladder(target: str, sustained: float, failed: float | None) -> FanoutResult:
        def step(rate: float, ok: bool) -> Step:
            latency = Latency(count=1, p50=1.0, p95=1.0, p99=1.0, max=1.0)
            return Step(rate, 1, 1, 0, 10, 1.0, latency, {}, True, ok)

        steps = [step(sustained, True)] + ([step(failed, False)] if failed else [])
        return FanoutResult(target=target, conversations=4, steps=steps)

    def cost_rows(with_metrics: FanoutResult, without: FanoutResult) -> list[str]:
        run = Run(started=datetime.now(UTC), command="python -m bench", facts={}, deployments={})
        run.deployments["embedded"] = "1 process"
        run.fanout += [with_metrics, without]
        text = render(run)
        return [line for line in text.splitlines() if "metrics" in line and "cost" in line]

    found = cost_rows(
        ladder("embedded", 960, 1000), ladder("embedded" + WITHOUT_METRICS, 1000, 1100)
    )
    assert any("a cost of 4.0%" in r and "**met**" in r for r in found), found
    assert any("960 msg/s with metrics, 1000 msg/s without, a cost of 4.0%" in r for r in found)
    over = cost_rows(
        ladder("embedded", 900, 1000), ladder("embedded" + WITHOUT_METRICS, 1000, 1100)
    )
    assert any("a cost of 10.0%" in r and "**not met**" in r for r in over), over
    # A ladder that never failed gives only a lower bound: nothing to judge.
    unbounded = cost_rows(
        ladder("embedded", 900, 1000), ladder("embedded" + WITHOUT_METRICS, 1000, None)
    )
    assert any("metrics cost" in r and "not measured" in r for r in unbounded), unbounded


def test_the_metrics_cost_at_a_fixed_rate_is_what_they_add_over_the_cpu_at_the_limit() -> None:
    from datetime import UTC, datetime

    from bench.fanout import WITHOUT_METRICS, CostRound, FanoutResult, MetricsCost, Step
    from bench.measure import SERVER, Latency
    from bench.report import Run, render

    latency = Latency(count=1, p50=1.0, p95=1.0, p99=1.0, max=1.0)

    def step(rate: float, server_seconds: float, ok: bool = True, lost: int = 0) -> Step:
        # ``rate`` messages sent, so the CPU per message is server_seconds / rate.
        sent = int(rate)
        return Step(
            rate, sent, sent, 0, sent * 10 - lost, 1.0, latency, {}, True, ok,
            {SERVER: server_seconds},
        )  # fmt: skip

    def rows(rounds: list[CostRound], limit_found: bool = True) -> list[str]:
        run = Run(started=datetime.now(UTC), command="python -m bench", facts={}, deployments={})
        run.deployments["embedded"] = "1 process"
        for target in ("embedded", "embedded" + WITHOUT_METRICS):
            run.fanout.append(FanoutResult(target, 4, [step(1000, 0.4), step(1100, 0.5, False)]))
        run.metrics_costs.append(
            MetricsCost(
                "embedded", 500, rounds, limit_rate=1000, limit_us=400.0, limit_found=limit_found
            )
        )
        return [line for line in render(run).splitlines() if line.startswith("| metrics cost")]

    # 600 µs a message without, 612 with: 12 µs over 400 µs at the limit is 2.9% of the rate.
    cheap = [
        CostRound(False, step(500, 0.30)),
        CostRound(True, step(500, 0.306)),
        CostRound(True, step(500, 0.306)),
        CostRound(False, step(500, 0.30)),
    ]
    found = rows(cheap)
    assert len(found) == 1 and "+12 µs" in found[0] and "2.9% of the rate" in found[0], found
    assert "**met**" in found[0]
    # 30 µs more a message: 7.0% of the rate at the limit, though only 5% at the fixed rate.
    dear = [CostRound(False, step(500, 0.30)), CostRound(True, step(500, 0.315))]
    assert "7.0% of the rate" in rows(dear)[0] and "**not met**" in rows(dear)[0]
    # A round late is still counted (its CPU is the whole work of its messages); one with a
    # delivery missing, or a ladder that never failed, leaves nothing to judge.
    late = [CostRound(False, step(500, 0.30)), CostRound(True, step(500, 0.306, ok=False))]
    assert "2.9% of the rate" in rows(late)[0]
    short = [CostRound(False, step(500, 0.30)), CostRound(True, step(500, 0.306, lost=1))]
    assert "not measured" in rows(short)[0]
    assert "not measured" in rows(cheap, limit_found=False)[0]


def test_a_storm_reports_what_its_failed_attempts_met() -> None:
    from datetime import UTC, datetime

    from bench.report import Run, render
    from bench.storm import StormResult

    run = Run(started=datetime.now(UTC), command="python -m bench", facts={}, deployments={})
    run.storms += [
        StormResult("baseline", 20, back=20, attempts=20),
        StormResult(
            "cluster", 20, back=20, attempts=26, refusals={"open: 4409": 2, "open: 1006": 4}
        ),
    ]
    text = render(run)
    assert "- cluster: open: 1006 4, open: 4409 2" in text, text
    # A storm whose every first attempt came back has nothing to list.
    assert "- baseline:" not in text
