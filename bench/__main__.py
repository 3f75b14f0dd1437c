"""``python -m bench``: run every benchmark against the baselines and each deployment, and
write docs/benchmarks.md. ``--quick`` runs each for a moment (the test suite does, so the
benchmarks cannot rot); see bench/README.md."""

from __future__ import annotations

import argparse
import contextlib
import os
import pickle
import shlex
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from bench import backup, connections, documents, fanout, plans, signalling, storm
from bench.deploy import (
    REPO_ROOT,
    SERVER_ARGS,
    Deployment,
    cluster_available,
    start_cluster,
    start_embedded,
    work_dir,
)
from bench.measure import GENERATOR, SERVER, machine_facts, raise_open_file_limit
from bench.report import BASELINE, Run, render
from tests.support.net import free_port, port_is_open, wait_until
from tests.support.server import LiveServer

DEPLOYMENTS = ("embedded", "cluster")
BENCHMARKS = ("connections", "storm", "fanout", "signalling", "plans", "documents", "backup")
# Benchmarks that start what they measure themselves.
OWN_RIGS = ("documents", "backup")


class Baselines:
    """The bare servers, started once for the run."""

    def __init__(self) -> None:
        self.ws_port = free_port()
        self.ws: subprocess.Popen[bytes] | None = None
        self.http: LiveServer | None = None

    @property
    def ws_url(self) -> str:
        return f"http://127.0.0.1:{self.ws_port}"

    def start(self) -> None:
        self.ws = subprocess.Popen(  # noqa: S603 - our own module, a port number
            [sys.executable, "-m", "bench.baseline", "--port", str(self.ws_port)],
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
        )
        if not wait_until(lambda: port_is_open(self.ws_port), timeout=30, interval=0.05):
            raise RuntimeError("the bare websockets server did not start")
        self.http = LiveServer(
            cwd=REPO_ROOT, app="bench.baseline:http_app", extra_args=SERVER_ARGS
        ).start()

    @property
    def ws_pid(self) -> int:
        assert self.ws is not None
        return self.ws.pid

    def stop(self) -> None:
        if self.ws is not None:
            self.ws.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.ws.wait(timeout=10)
            if self.ws.poll() is None:
                self.ws.kill()
        if self.http is not None:
            self.http.stop()


class Suite:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.quick: bool = args.quick
        self.seconds: float = args.seconds or (1.0 if self.quick else 5.0)
        self.connections: int = args.connections or (100 if self.quick else 10_000)
        self.conversations = 4 if self.quick else 20
        self.pairs = 2 if self.quick else signalling.PAIRS
        self.ladder = fanout.LADDER[:1] if self.quick else fanout.LADDER
        self.baselines = Baselines()
        self.deployments: list[Deployment] = []
        self.run = Run(
            started=datetime.now(UTC),
            command=_shown_command(sys.argv[1:]),
            facts=machine_facts(),
            deployments={},
            quick=self.quick,
        )

    @property
    def people(self) -> int:
        needed_for_connections = -(-self.connections // connections.DEVICES_PER_PERSON)
        return max(needed_for_connections, 10 * (self.conversations + self.pairs))

    async def start(self) -> None:
        work = work_dir()
        self._work = work
        if not set(self.args.only) - set(OWN_RIGS):
            return  # only benchmarks with rigs of their own: no baselines or deployments needed
        self.baselines.start()
        for name in self.args.deployments:
            if name == "cluster" and not cluster_available():
                self.run.problems.append("cluster skipped: PostgreSQL or Redis is not installed")
                continue
            starter = start_embedded if name == "embedded" else start_cluster
            print(f"starting the {name} deployment ({self.people:,} people)", flush=True)
            deployment = await starter(work, people=self.people, clients=plans.WORKERS)
            self.deployments.append(deployment)
            if self.args.metrics == "off":
                deployment.restart(metrics=False)
            self.run.deployments[deployment.name] = deployment.description + (
                ", metrics off" if self.args.metrics == "off" else ", metrics on"
            )

    def stop(self) -> None:
        for deployment in self.deployments:
            # A benchmark that failed leaves the servers' logs to say why.
            deployment.stop(keep_logs=bool(self.run.problems))
        self.baselines.stop()
        shutil.rmtree(getattr(self, "_work", ""), ignore_errors=True)

    async def guarded(self, what: str, step: Callable[[], Awaitable[None]]) -> None:
        try:
            await step()
        except Exception as exc:  # one failed benchmark must not lose the others' figures
            traceback.print_exc()
            self.run.problems.append(f"{what} failed: {type(exc).__name__}: {exc}")

    # --- the benchmarks ------------------------------------------------------------------

    async def bench_connections(self) -> None:
        print(f"connections: {self.connections:,} idle sockets", flush=True)

        async def baseline() -> None:
            result = await connections.hold(
                BASELINE,
                [self.baselines.ws_url],
                ["rooms."] * self.connections,
                [self.baselines.ws_pid],
                [],
                heartbeat=20.0,
                idle_seconds=0.5 if self.quick else connections.IDLE_SECONDS,
            )
            self.run.connections.append(result)
            _say(result.target, f"{result.held:,} held, {result.bytes_per_connection:,.0f} B each")

        await self.guarded("connections (baseline)", baseline)
        for deployment in self.deployments:

            async def teamwell(d: Deployment = deployment) -> None:
                people = [p.token for p in d.world.people]
                result = await connections.hold(
                    d.name,
                    d.urls,
                    connections.teamwell_tokens(people, self.connections),
                    d.server_pids,
                    d.support,
                    heartbeat=20.0,
                    idle_seconds=0.5 if self.quick else connections.IDLE_SECONDS,
                )
                self.run.connections.append(result)
                _say(
                    result.target,
                    f"{result.held:,} held, {result.bytes_per_connection:,.0f} B each"
                    + (f" ({result.failed})" if result.failed else ""),
                )

            await self.guarded(f"connections ({deployment.name})", teamwell)

    async def bench_storm(self) -> None:
        print(f"reconnect storm: {self.connections:,} sockets dropped at once", flush=True)

        async def baseline() -> None:
            result = await storm.storm(
                BASELINE, [self.baselines.ws_url], ["rooms."] * self.connections
            )
            self.run.storms.append(result)
            _say(result.target, f"{result.back:,} back in {result.seconds:.1f} s")

        await self.guarded("storm (baseline)", baseline)
        for deployment in self.deployments:

            async def teamwell(d: Deployment = deployment) -> None:
                people = [p.token for p in d.world.people]
                result = await storm.teamwell_storm(
                    d.name,
                    d.urls,
                    connections.teamwell_tokens(people, self.connections),
                    [p.token for p in d.world.teams[0]],
                    d.world.team_ids[0],
                )
                self.run.storms.append(result)
                _say(
                    result.target,
                    f"{result.back:,} back in {result.seconds:.1f} s, {result.lost} lost, "
                    f"{result.duplicated} duplicated of {result.sent} x {result.members}"
                    + (f" ({result.failed})" if result.failed else ""),
                )

            await self.guarded(f"storm ({deployment.name})", teamwell)

    async def bench_fanout(self) -> None:
        print(f"fan-out: {self.conversations} conversations of 10", flush=True)

        async def baseline() -> None:
            rig = await fanout.baseline_rig(
                self.baselines.ws_url, self.baselines.ws_pid, self.conversations
            )
            try:
                self.run.fanout.append(
                    await fanout.ladder(rig, BASELINE, seconds=self.seconds, rates=self.ladder)
                )
            finally:
                await fanout.close_rig(rig)

        await self.guarded("fan-out (baseline)", baseline)
        # ``both``: without metrics, then with, each on freshly started processes of the same
        # database and world, back to back (docs/operations.md, "Cost").
        both = self.args.metrics == "both"
        for deployment in self.deployments:
            if both:
                # The first use of a fresh database (its pages, everyone's first sign-in and
                # conversation) would otherwise fall on the first of the two, without metrics.
                await self.guarded(f"fan-out ({deployment.name}, warm-up)", self._warm(deployment))
            for on in (False, True) if both else (deployment.metrics,):
                way = "on" if on else "off"

                async def teamwell(
                    d: Deployment = deployment, on: bool = on, way: str = way
                ) -> None:
                    name = d.name
                    if both:
                        print(f"  {d.name}: restarted with metrics {way}", flush=True)
                        d.restart(metrics=on)
                        name += "" if on else fanout.WITHOUT_METRICS
                    rig = await fanout.teamwell_rig(d, self.conversations)
                    try:
                        self.run.fanout.append(
                            await fanout.ladder(rig, name, seconds=self.seconds, rates=self.ladder)
                        )
                    finally:
                        await fanout.close_rig(rig)
                    if on and not await fanout.messages_counted(d):
                        raise RuntimeError("metrics on, yet /metrics counted no message stored")

                await self.guarded(f"fan-out ({deployment.name}, metrics {way})", teamwell)
            if both:
                await self.guarded(
                    f"fan-out ({deployment.name}, the metrics' cost)", self._cost(deployment)
                )

    def _cost(self, deployment: Deployment) -> Callable[[], Awaitable[None]]:
        """The metrics' cost at a fixed rate (bench/fanout.py, ``COST_ROUNDS``), after both
        ladders: half the lower of their limits, in rounds alternating without and with metrics;
        the last round is with them, as the benchmarks after this one expect."""

        async def cost() -> None:
            ladders = {result.target: result for result in self.run.fanout}
            without = ladders.get(deployment.name + fanout.WITHOUT_METRICS)
            with_metrics = ladders.get(deployment.name)
            if not (without and without.best and with_metrics and with_metrics.best):
                raise RuntimeError("a ladder sustained no rate: no fixed rate to measure at")
            limit = without.best
            rate = float(round(fanout.COST_SHARE * min(limit.rate, with_metrics.best.rate)))
            seconds = min(self.seconds, 1.0) if self.quick else fanout.COST_SECONDS
            rounds = []
            for pair in fanout.COST_ROUNDS[:1] if self.quick else fanout.COST_ROUNDS:
                for on in pair:
                    deployment.restart(metrics=on)
                    rig = await fanout.teamwell_rig(deployment, self.conversations)
                    try:
                        rounds.append(await fanout.cost_round(rig, on, rate, seconds))
                    finally:
                        await fanout.close_rig(rig)
            result = fanout.MetricsCost(
                target=deployment.name,
                rate=rate,
                rounds=rounds,
                limit_rate=limit.rate,
                limit_us=limit.server_us_per_message,
                limit_found=without.found_limit,
            )
            self.run.metrics_costs.append(result)
            print(
                f"  {deployment.name}: at {rate:g} msg/s the service used "
                f"{result.per_message(False):.0f} us a message without metrics and "
                f"{result.per_message(True):.0f} with ({result.at_rate:+.1%}); at the limit "
                f"({limit.rate:g} msg/s, {limit.server_us_per_message:.0f} us a message) "
                f"that is {result.of_limit:.1%} of the rate",
                flush=True,
            )

        return cost

    def _warm(self, deployment: Deployment) -> Callable[[], Awaitable[None]]:
        async def warm() -> None:
            rig = await fanout.teamwell_rig(deployment, self.conversations)
            try:
                await fanout.ladder(
                    rig, "warm-up", seconds=self.seconds, rates=self.ladder[:1], log=False
                )
            finally:
                await fanout.close_rig(rig)

        return warm

    async def bench_signalling(self) -> None:
        print(f"signalling: {self.pairs} pairs", flush=True)

        async def baseline() -> None:
            pairs = await signalling.baseline_pairs(self.baselines.ws_url, self.pairs)
            try:
                result = await signalling.measure(
                    BASELINE,
                    pairs,
                    signalling.cpu_groups_for([self.baselines.ws_pid], []),
                    seconds=self.seconds * 2,
                )
            finally:
                await signalling.close_pairs(pairs)
            self.run.signalling.append(result)
            _say(BASELINE, f"p50 {result.latency.p50:.1f} p99 {result.latency.p99:.1f} ms")

        await self.guarded("signalling (baseline)", baseline)
        for deployment in self.deployments:

            async def teamwell(d: Deployment = deployment) -> None:
                pairs = await signalling.teamwell_pairs(d, self.conversations, self.pairs)
                try:
                    result = await signalling.measure(
                        d.name,
                        pairs,
                        signalling.cpu_groups_for(d.server_pids, d.support),
                        seconds=self.seconds * 2,
                    )
                finally:
                    await signalling.close_pairs(pairs)
                self.run.signalling.append(result)
                _say(d.name, f"p50 {result.latency.p50:.1f} p99 {result.latency.p99:.1f} ms")

            await self.guarded(f"signalling ({deployment.name})", teamwell)

    async def bench_plans(self) -> None:
        print(f"plans: {plans.WORKERS} workers", flush=True)
        assert self.baselines.http is not None
        bare_url = self.baselines.http.base_url
        bare_pid = self.baselines.http._proc.pid if self.baselines.http._proc else 0
        for kind in plans.KINDS:

            async def baseline(kind: str = kind) -> None:
                workers = [
                    plans.Worker(
                        url=bare_url,
                        path=f"/plans/client-{i}",
                        token=None,
                        client_path=f"/clients/client-{i}",
                    )
                    for i in range(plans.WORKERS)
                ]
                result = await plans.measure(
                    BASELINE,
                    kind,
                    workers,
                    {SERVER: [bare_pid], GENERATOR: [os.getpid()]},
                    seconds=self.seconds,
                )
                self.run.plans.append(result)
                _say(BASELINE, f"{kind}: {result.per_second:,.0f}/s")

            await self.guarded(f"plans (baseline {kind})", baseline)
            for deployment in self.deployments:

                async def teamwell(d: Deployment = deployment, kind: str = kind) -> None:
                    workers = [
                        plans.Worker(
                            url=d.url(i),
                            path=f"/api/v1/clients/{client_id}/plan",
                            token=person.token,
                            client_path=f"/api/v1/clients/{client_id}",
                        )
                        for i, (client_id, person) in enumerate(d.world.clients)
                    ]
                    result = await plans.measure(
                        d.name,
                        kind,
                        workers,
                        signalling.cpu_groups_for(d.server_pids, d.support),
                        seconds=self.seconds,
                    )
                    self.run.plans.append(result)
                    _say(
                        d.name,
                        f"{kind}: {result.per_second:,.0f}/s"
                        + (
                            f", {result.errors} errors ({result.last_error})"
                            if result.errors
                            else ""
                        ),
                    )

                await self.guarded(f"plans ({deployment.name} {kind})", teamwell)

    async def bench_documents(self) -> None:
        print("documents: 1 MB and 20 MB, through the API and bare to the same S3", flush=True)
        rig = documents.Rig(self._work)
        try:
            await rig.start()
            self.run.deployments[documents.TARGET] = rig.description
            for size in documents.SIZES:
                rounds = documents.QUICK_ROUNDS if self.quick else documents.ROUNDS[size]

                async def bare(size: int = size, rounds: int = rounds) -> None:
                    self.run.documents.extend(await rig.measure_bare(size, rounds))

                async def teamwell(size: int = size, rounds: int = rounds) -> None:
                    results = await rig.measure(size, rounds)
                    self.run.documents.extend(results)
                    for r in results:
                        _say(
                            r.target,
                            f"{r.direction} {r.size // documents.MB} MB: "
                            f"{r.mb_per_second:.1f} MB/s"
                            + (f", {r.errors} errors ({r.last_error})" if r.errors else ""),
                        )

                await self.guarded(f"documents (bare {size // documents.MB} MB)", bare)
                await self.guarded(f"documents ({size // documents.MB} MB)", teamwell)
        except Exception as exc:
            self.run.problems.append(f"documents failed to start: {type(exc).__name__}: {exc}")
        finally:
            rig.stop(keep_logs=bool(self.run.problems))

    async def bench_backup(self) -> None:
        messages = backup.QUICK_MESSAGES if self.quick else backup.MESSAGES
        rounds = backup.QUICK_ROUNDS if self.quick else backup.ROUNDS
        print(f"backup: teamwell backup and restore of {messages:,} messages", flush=True)
        engines = [
            engine
            for name, engine in (("embedded", "sqlite"), ("cluster", "postgresql"))
            if name in self.args.deployments and (name != "cluster" or cluster_available())
        ]
        for engine in engines:
            rig = backup.Rig(self._work, engine, messages)
            try:
                await rig.start()
                self.run.deployments[rig.target] = rig.description
                for encryption in backup.ENCRYPTIONS:

                    async def measure(rig: backup.Rig = rig, encryption: str = encryption) -> None:
                        r = await rig.measure(encryption, rounds)
                        self.run.backup.append(r)
                        _say(
                            r.target,
                            f"{encryption}: {r.database_bytes / backup.MB:,.1f} MB, backup "
                            f"{r.backup_median:.2f} s, restore {r.restore_median:.2f} s"
                            + (f", {r.errors} errors ({r.last_error})" if r.errors else ""),
                        )

                    await self.guarded(f"backup ({rig.target} {encryption})", measure)
            except Exception as exc:
                self.run.problems.append(
                    f"backup ({engine}) failed to start: {type(exc).__name__}: {exc}"
                )
            finally:
                rig.stop()


def _shown_command(argv: list[str]) -> str:
    """The command as the report shows it: where its files went is of no interest there."""
    shown: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--output", "--results", "--render"):
            skip = True
        elif not arg.startswith(("--output=", "--results=", "--render=")):
            shown.append(arg)
    return " ".join(["python -m bench", *map(shlex.quote, shown)])


def _say(target: str, text: str) -> None:
    print(f"  {target:>22}: {text}", flush=True)


async def run(args: argparse.Namespace) -> Run:
    limit = raise_open_file_limit()
    suite = Suite(args)
    suite.run.facts["open-file limit"] = str(limit)
    needed = suite.connections + 200
    if limit < needed:
        raise SystemExit(f"{suite.connections} connections need an open-file limit of {needed}")
    started = time.monotonic()
    try:
        await suite.start()
        for name in args.only:
            await getattr(suite, f"bench_{name}")()
    finally:
        suite.stop()
    suite.run.finished = datetime.now(UTC)
    print(f"done in {(time.monotonic() - started) / 60:.1f} minutes", flush=True)
    return suite.run


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a moment of each benchmark")
    parser.add_argument(
        "--only",
        type=lambda s: s.split(","),
        default=list(BENCHMARKS),
        help=f"comma-separated, of {', '.join(BENCHMARKS)}",
    )
    parser.add_argument(
        "--deployments",
        type=lambda s: s.split(","),
        default=list(DEPLOYMENTS),
        help="comma-separated, of embedded, cluster",
    )
    parser.add_argument("--connections", type=int, help="idle sockets to hold (10,000)")
    parser.add_argument("--seconds", type=float, help="length of each measured step (5)")
    parser.add_argument(
        "--metrics",
        choices=("both", "on", "off"),
        default="both",
        help="metrics counted (a scraper's token set) or not; both (the default): every "
        "benchmark with them, and fan-out also without, back to back, to show their cost",
    )
    parser.add_argument(
        "--results",
        type=Path,
        help="also keep the run's figures in this file (to write the report again later)",
    )
    parser.add_argument(
        "--render",
        type=Path,
        metavar="RESULTS",
        help="run nothing: write the report from figures kept with --results (after editing "
        "bench/notes.md, say)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=REPO_ROOT / "docs" / "benchmarks.md",
        help="where to write the report (docs/benchmarks.md)",
    )
    args = parser.parse_args(argv)
    for name in args.only:
        if name not in BENCHMARKS:
            parser.error(f"unknown benchmark {name!r}")
    for name in args.deployments:
        if name not in DEPLOYMENTS:
            parser.error(f"unknown deployment {name!r}")
    return args


def main(argv: list[str] | None = None) -> int:
    import uvloop

    args = parse(argv)
    if args.render is not None:
        result = pickle.loads(args.render.read_bytes())  # noqa: S301 - a file this command wrote
        result.command = _shown_command(shlex.split(result.command)[3:])
    else:
        result = uvloop.run(run(args))
    if args.results is not None:
        args.results.write_bytes(pickle.dumps(result))
    args.output.write_text(render(result), encoding="utf-8")
    print(f"wrote {args.output}", flush=True)
    return 1 if result.problems and not result.deployments else 0


if __name__ == "__main__":
    sys.exit(main())
