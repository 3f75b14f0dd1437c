"""The deployments a benchmark runs against, each started from nothing and torn down after:

* ``embedded``: the defaults, one process on SQLite with the in-process pub/sub and presence;
* ``cluster``: two processes on PostgreSQL and Redis, as in production (docs/deploy.md).

Both run the real service (``uvicorn app.main:app``, as ``teamwell serve`` does, with uvloop and
httptools) on loopback, migrated with ``teamwell migrate`` and seeded with the benchmark's world
(bench/seed.py). PostgreSQL runs with its durability settings on (fsync, synchronous commit, full
page writes), as a production server would; SQLite keeps its own defaults (WAL).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from app import cli
from app.config import Settings
from bench.seed import World, seed
from tests.support.postgres import PostgresServer, postgres_available
from tests.support.redis import RedisServer, redis_available
from tests.support.server import LiveServer

REPO_ROOT = Path(__file__).resolve().parent.parent
# uvicorn as docs/deploy.md runs it (uvloop and httptools are picked up on their own).
SERVER_ARGS = cli.SERVER_ARGS

METRICS_SETTING = "TEAMWELL_METRICS_TOKEN"
METRICS_TOKEN = "bench-metrics-token-" + "m" * 32

# Settings changed for the benchmark, and why. Everything else is the default.
BENCH_SETTINGS = {
    # The load generator sends for a few people at hundreds of messages a second each; the
    # per-person limit (5 a second by default) exists to stop one person flooding a conversation.
    "TEAMWELL_MESSAGES_PER_SECOND": "100000",
    "TEAMWELL_MESSAGE_BURST": "100000",
    # Minted tokens should outlive the run (60 minutes is the most the server allows).
    "TEAMWELL_ACCESS_TOKEN_MINUTES": "60",
    "TEAMWELL_EMAIL_BACKEND": "log",
    # Metrics counted, as a production server with a scraper counts them; ``Deployment.restart``
    # takes the token away to measure the service without them (docs/operations.md, "Cost").
    METRICS_SETTING: METRICS_TOKEN,
}


@dataclass
class Deployment:
    name: str
    description: str
    servers: list[LiveServer]
    world: World
    support: list[int] = field(default_factory=list)  # PostgreSQL and Redis process ids
    env: dict[str, str] = field(default_factory=dict)  # the servers' settings
    metrics: bool = True
    _stops: list[object] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return [s.base_url for s in self.servers]

    def url(self, index: int) -> str:
        """Spread clients over the processes, as a load balancer would."""
        return self.servers[index % len(self.servers)].base_url

    @property
    def server_pids(self) -> list[int]:
        return [s._proc.pid for s in self.servers if s._proc is not None]

    def restart(self, *, metrics: bool) -> None:
        """Start the service's processes again, as many, on the same database and world, with
        the metrics counted or not: the fan-out benchmark runs each way back to back."""
        count = len(self.servers)
        for server in self.servers:
            server.stop()
        self.servers = []
        env = {k: v for k, v in self.env.items() if k != METRICS_SETTING}
        if metrics:
            env[METRICS_SETTING] = METRICS_TOKEN
        for _ in range(count):  # one by one, so that ``stop`` finds those started
            self.servers.append(_server(env))
        self.metrics = metrics

    def stop(self, *, keep_logs: bool = False) -> None:
        """Stop everything; ``keep_logs`` keeps the servers' logs (when something failed) and
        says where they are."""
        for server in self.servers:
            if keep_logs and server.log_path is not None:
                print(f"  {self.name} server log kept: {server.log_path}", flush=True)
            server.stop(keep_log=keep_logs)
        for stopper in reversed(self._stops):
            stopper.stop()  # type: ignore[attr-defined]


def _env(data_dir: Path, database_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        "TEAMWELL_DATA_DIR": str(data_dir),
        "TEAMWELL_DATABASE_URL": database_url,
        **BENCH_SETTINGS,
        **(extra or {}),
    }


def _server(env: dict[str, str]) -> LiveServer:
    return LiveServer(env=env, cwd=REPO_ROOT, startup_timeout=60, extra_args=SERVER_ARGS).start()


def _migrate(env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "migrate"],
        env={**os.environ, **env},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"migration failed:\n{done.stdout}\n{done.stderr}")


def _settings(env: dict[str, str]) -> Settings:
    return Settings(
        data_dir=Path(env["TEAMWELL_DATA_DIR"]), database_url=env["TEAMWELL_DATABASE_URL"]
    )


async def start_embedded(work: Path, *, people: int, clients: int) -> Deployment:
    data_dir = work / "embedded"
    data_dir.mkdir(parents=True, exist_ok=True)
    env = _env(data_dir, f"sqlite:///{data_dir / 'teamwell.db'}")
    _migrate(env)
    world = await seed(_settings(env), people=people, clients=clients)
    return Deployment(
        name="embedded",
        description="1 process, SQLite, in-process pub/sub and presence",
        servers=[_server(env)],
        world=world,
        env=env,
    )


def cluster_available() -> bool:
    return postgres_available() and redis_available()


def _durable(postgres: PostgresServer) -> None:
    """The throwaway cluster starts with durability off (it is made for tests); a benchmark of
    a production set-up must pay for every commit reaching the disk."""
    for name in ("fsync", "synchronous_commit", "full_page_writes"):
        postgres.run_sql(f"ALTER SYSTEM SET {name} = on")
    postgres.run_sql("SELECT pg_reload_conf()")


async def start_cluster(work: Path, *, people: int, clients: int, processes: int = 2) -> Deployment:
    data_dir = work / "cluster"
    data_dir.mkdir(parents=True, exist_ok=True)
    postgres = PostgresServer().start()
    stops: list[object] = [postgres]
    try:
        _durable(postgres)
        redis = RedisServer().start()
        stops.append(redis)
        env = _env(data_dir, postgres.create_database("bench"), {"TEAMWELL_REDIS_URL": redis.url})
        _migrate(env)
        world = await seed(_settings(env), people=people, clients=clients)
        servers: list[LiveServer] = []
        for _ in range(processes):
            servers.append(_server(env))
            stops.append(servers[-1])
    except BaseException:
        for stopper in reversed(stops):
            stopper.stop()  # type: ignore[attr-defined]
        raise
    support = [_postmaster_pid(postgres)]
    if redis._proc is not None:
        support.append(redis._proc.pid)
    return Deployment(
        name="cluster",
        description=f"{processes} processes, PostgreSQL and Redis",
        servers=servers,
        world=world,
        support=[pid for pid in support if pid],
        env=env,
        _stops=[postgres, redis],
    )


def _postmaster_pid(postgres: PostgresServer) -> int:
    try:
        return int((postgres.data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def work_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="teamwell-bench-"))
