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
        timeout=300,  # about 100 s here with the documents rig (SeaweedFS, clamd, 20 MB files)
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
    # Fan-out: a rate was sustained by both (messages acknowledged and delivered to all ten).
    assert "**bare `websockets` broadcast**: 4 conversations of 10; highest sustained" in text
    assert "**embedded**: 4 conversations of 10; highest sustained" in text


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
