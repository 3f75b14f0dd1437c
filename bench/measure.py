"""What the benchmarks measure with: latency percentiles, the CPU and memory of processes over a
window, and the facts of the machine a run happened on."""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import psutil

# The names of the process groups whose CPU is reported.
SERVER, SUPPORT, GENERATOR = "server", "db+redis", "generator"


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank; NaN without samples."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Latency:
    """Milliseconds."""

    count: int
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latency:
        ms = sorted(s * 1000 for s in seconds)
        return cls(
            count=len(ms),
            p50=percentile(ms, 50),
            p95=percentile(ms, 95),
            p99=percentile(ms, 99),
            max=ms[-1] if ms else float("nan"),
        )


def _family(pids: Iterable[int], children: bool) -> list[psutil.Process]:
    """The processes, and with ``children`` their descendants (PostgreSQL serves each
    connection from a child of the postmaster)."""
    found: dict[int, psutil.Process] = {}
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            found[pid] = proc
            for child in proc.children(recursive=True) if children else ():
                found[child.pid] = child
        except psutil.NoSuchProcess:
            continue
    return list(found.values())


def _cpu_seconds(procs: Iterable[psutil.Process]) -> float:
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


@dataclass
class CpuWindow:
    """CPU used by named groups of processes between ``start()`` and ``stop()``, as a share of
    one core (1.0 = one core busy all the window). Groups named in ``with_children`` count their
    processes' descendants too."""

    groups: dict[str, list[int]]
    with_children: frozenset[str] = frozenset({SUPPORT})
    _procs: dict[str, list[psutil.Process]] = field(default_factory=dict)
    _before: dict[str, dict[int, float]] = field(default_factory=dict)
    _wall: float = 0.0
    result: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # CPU seconds used, by group

    def start(self) -> None:
        self._procs = {
            name: _family(pids, name in self.with_children) for name, pids in self.groups.items()
        }
        self._before = {
            name: {p.pid: _cpu_seconds([p]) for p in procs} for name, procs in self._procs.items()
        }
        self._wall = time.monotonic()

    def stop(self) -> dict[str, float]:
        wall = max(time.monotonic() - self._wall, 1e-9)
        for name, procs in self._procs.items():
            used = 0.0
            for proc in procs:
                now = _cpu_seconds([proc])
                used += max(0.0, now - self._before[name].get(proc.pid, now))
            self.seconds[name] = used
            self.result[name] = used / wall
        return self.result


def rss_bytes(pid: int) -> int:
    return int(psutil.Process(pid).memory_info().rss)


def raise_open_file_limit() -> int:
    """Raise this process's (and so its children's) open-file limit to the hard limit: every
    connection is a file descriptor on both ends."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1_048_576
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_facts() -> dict[str, str]:
    memory = psutil.virtual_memory()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "CPU": f"{_cpu_model()}, {psutil.cpu_count(logical=True)} logical cores",
        "memory": f"{memory.total / 2**30:.1f} GiB",
        "system": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "Python": sys.version.split()[0],
        "load average at start (1/5/15 min)": " / ".join(f"{x:.2f}" for x in load),
        "open-file limit": str(resource.getrlimit(resource.RLIMIT_NOFILE)[0]),
    }
