"""A rolling upgrade (docs/deploy.md, "Upgrades"): the previous release serving on its own
schema, with a person connected on `/ws`; this release checks and migrates the database while it
serves (the socket stays open), then this release's server starts beside it on the same database,
data directory and Redis, and the main flows cross between them: signing in, the plan, measures,
messages both ways, and the audit chain, which each checks whole.

The previous release is the tree at the commit before the newest migration came in: on the
first-parent line of history (a merge brings a branch's migration), the parent of the commit
that added the head revision's file. It is taken out of git with ``git archive``, so the
repository must have its history: a shallow clone is deepened from its remote, and where that
cannot be reached the test is skipped saying why (a missing previous release is not a pass)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from app.cli import CHECK_PENDING, CHECK_UP_TO_DATE
from app.migrate import script_directory
from tests.conftest import (
    DEMO_PASSWORD,
    REPO_ROOT,
    ROLE_EMAILS,
    Live,
    Session,
    base_env,
    demo_team_id,
    fresh_database,
    teamwell_cli,
)
from tests.support.builders import client_id_of
from tests.support.redis import RedisServer
from tests.support.server import LiveServer
from tests.support.ws import WsClient

pytestmark = pytest.mark.slow


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


def previous_release(repo: Path = REPO_ROOT) -> str:
    """The previous release's commit in ``repo``: before the head revision's file came in."""
    if subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--git-dir"], capture_output=True, check=False
    ).returncode:
        pytest.skip(NO_HISTORY + "this is no git checkout")
    if git(repo, "rev-parse", "--is-shallow-repository") == "true" and not deepened(repo):
        pytest.skip(
            NO_HISTORY + "this clone is shallow and its remote cannot be reached to deepen it "
            "(clone with full history: git clone without --depth)"
        )
    added = git(
        repo, "log", "--first-parent", "--diff-filter=A", "--format=%H", "--", newest_file()
    ).split()
    if not added:
        # The newest migration is not committed yet: the release before it is the last commit.
        return git(repo, "rev-parse", "HEAD")
    return git(repo, "rev-parse", f"{added[-1]}^1")


# Said when the previous release cannot be had: the test cannot be run, which is not a pass.
NO_HISTORY = "the rolling-upgrade test takes the previous release from git history, and "


def deepened(repo: Path) -> bool:
    """Fetch the history a shallow clone lacks from its remote, where that can be reached (a CI
    clone of a local or reachable repository); False when it cannot."""
    done = subprocess.run(
        ["git", "-C", str(repo), "fetch", "--quiet", "--unshallow"],
        capture_output=True,
        timeout=300,
        check=False,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
    )
    return done.returncode == 0


def newest_file() -> str:
    """The head revision's file, from the repository's root."""
    head = script_directory().get_current_head()
    step = script_directory().get_revision(str(head))
    assert step is not None and step.path is not None
    return Path(step.path).resolve().relative_to(REPO_ROOT.resolve()).as_posix()


def test_the_previous_release_is_the_tree_just_before_the_newest_migration() -> None:
    commit = previous_release()
    newest = script_directory().get_revision(str(script_directory().get_current_head()))
    assert newest is not None and isinstance(newest.down_revision, str)
    parent = script_directory().get_revision(newest.down_revision)
    assert parent is not None and parent.path is not None
    files = git(REPO_ROOT, "ls-tree", "-r", "--name-only", commit, "migrations/versions/")
    assert newest_file() not in files.splitlines()
    parent_file = Path(parent.path).resolve().relative_to(REPO_ROOT.resolve()).as_posix()
    assert parent_file in files.splitlines(), "the previous release had the head's parent"


def test_a_shallow_clone_is_deepened_from_its_remote_or_says_why(tmp_path: Path) -> None:
    clone = tmp_path / "shallow"
    git(REPO_ROOT, "clone", "--quiet", "--depth", "1", f"file://{REPO_ROOT}", str(clone))
    assert git(clone, "rev-parse", "--is-shallow-repository") == "true"
    # Its remote reachable: the history is fetched and the previous release found in it.
    assert previous_release(clone) == previous_release()
    assert git(clone, "rev-parse", "--is-shallow-repository") == "false"
    # Its remote gone: the test cannot run, and says why instead of passing.
    again = tmp_path / "unreachable"
    git(REPO_ROOT, "clone", "--quiet", "--depth", "1", f"file://{REPO_ROOT}", str(again))
    git(again, "remote", "set-url", "origin", f"file://{tmp_path / 'gone'}")
    with pytest.raises(pytest.skip.Exception, match="shallow"):
        previous_release(again)


@pytest.fixture(scope="module")
def old_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    commit = previous_release()
    tree = tmp_path_factory.mktemp("previous-release")
    archive = subprocess.Popen(
        ["git", "-C", str(REPO_ROOT), "archive", commit], stdout=subprocess.PIPE
    )
    extracted = subprocess.run(
        ["tar", "-x", "-C", str(tree)], stdin=archive.stdout, check=False, timeout=120
    )
    assert archive.wait(timeout=120) == 0 and extracted.returncode == 0, commit
    assert (tree / "app" / "main.py").exists()
    return tree


@pytest.fixture(params=["sqlite", "postgres"])
def previous_serving(
    request: pytest.FixtureRequest,
    old_tree: Path,
    redis: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Live]:
    """The previous release as deployed before the upgrade: its code migrated a new database
    and loaded the demo data, and its server is serving (with Redis, for a second process).
    Every process a test starts beside it (``_others``) stops with it."""
    data_dir = tmp_path_factory.mktemp(f"upgrade-{request.param}")
    url = fresh_database(request, data_dir, "upgrade")
    env = {**base_env(data_dir, url), "TEAMWELL_REDIS_URL": redis.url}
    # The previous release's code: its own tree first on the path, the same interpreter.
    # (Bytecode written, as the test checks the old modules were the ones loaded.)
    old_env = {**env, "PYTHONPATH": str(old_tree), "PYTHONDONTWRITEBYTECODE": ""}
    for args in (("migrate",), ("seed-demo", "--password", DEMO_PASSWORD)):
        done = subprocess.run(
            [sys.executable, "-m", "app.cli", *args],
            env={**os.environ, **old_env},
            cwd=old_tree,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    server = LiveServer(env=old_env, cwd=old_tree).start()
    old = Live(
        backend=request.param, base_url=server.base_url, env=env, data_dir=data_dir, server=server
    )
    try:
        yield old
    finally:
        old.stop()


def bearer(session: Session) -> dict[str, str]:
    return {"Authorization": str(session.http.headers["Authorization"])}


async def test_the_previous_release_serves_on_through_the_migration_beside_this_one(
    previous_serving: Live, old_tree: Path
) -> None:
    old = previous_serving
    head = script_directory().get_current_head()
    old_head = ScriptDirectory(str(old_tree / "migrations")).get_current_head()
    assert old_head is not None and old_head != head
    old_revisions = {
        s.revision for s in ScriptDirectory(str(old_tree / "migrations")).walk_revisions()
    }
    added = [
        s.revision for s in script_directory().walk_revisions() if s.revision not in old_revisions
    ][::-1]

    # Before the upgrade: people signed in on the previous release, one of them on /ws.
    with old.client() as http:
        assert http.get("/readyz").json() == {"status": "ready", "migration": old_head}
    therapist = old.sign_in(ROLE_EMAILS["therapist"])
    keyworker = old.sign_in(ROLE_EMAILS["peer_keyworker"])
    old._sessions.update({"therapist": therapist, "peer_keyworker": keyworker})
    made = keyworker.post(
        "/api/v1/conversations", json={"kind": "team", "team_id": demo_team_id(keyworker)}
    )
    assert made.status_code in (200, 201), made.text
    conversation = made.json()["id"]
    on_old = await WsClient.connect(old.base_url, keyworker.tokens["access_token"])
    on_new: WsClient | None = None
    try:
        await on_old.wait_type("ready")

        # This release checks, migrates (expand) while the old one serves, and checks again.
        # (The commands and the start run in threads: the open socket's keepalive pings are
        # answered from this event loop meanwhile.)
        check = await asyncio.to_thread(teamwell_cli, old.env, "migrate", "--check")
        assert check.returncode == CHECK_PENDING, check.stdout + check.stderr
        pending = [line.split()[0] for line in check.stdout.splitlines() if line.startswith("  ")]
        assert pending == added
        migrated = await asyncio.to_thread(teamwell_cli, old.env, "migrate")
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        settled = await asyncio.to_thread(teamwell_cli, old.env, "migrate", "--check")
        assert settled.returncode == CHECK_UP_TO_DATE, settled.stdout + settled.stderr
        new_server = LiveServer(env=old.env, cwd=REPO_ROOT)
        old._others.append(new_server)
        await asyncio.to_thread(new_server.start)
        new = Live(
            backend=old.backend,
            base_url=new_server.base_url,
            env=old.env,
            data_dir=old.data_dir,
            server=new_server,
        )

        # The old server runs the previous release's code: Python compiled its modules from the
        # extracted tree (which had no bytecode), and its readiness names its own older head
        # when it predates ready-when-ahead.
        assert list((old_tree / "app" / "__pycache__").glob("main.*.pyc")), "old code not loaded"
        with old.client() as http:
            ready = http.get("/readyz")
        if ready.status_code == 503:
            assert ready.json()["detail"] == (
                f"The database is at migration {head}, not {old_head}."
            ), ready.text
        else:
            assert ready.json() == {"status": "ready", "migration": head}, ready.text

        # Tokens from the old work on the new; a sign-in on the new works on the old.
        supervisor = new.sign_in(ROLE_EMAILS["supervisor"])
        old._sessions["supervisor"] = supervisor  # signed out with the others
        for live, session in ((new, therapist), (old, supervisor)):
            with live.client(headers=bearer(session)) as http:
                assert http.get("/api/v1/auth/me").status_code == 200

        # The plan: saved on the old, read and saved on the new, read back on the old.
        bea = client_id_of(old, "Bea Collins")
        plan_url = f"/api/v1/clients/{bea}/plan"
        read = therapist.get(plan_url)
        assert read.status_code == 200, read.text
        version = read.json()["version"]
        saved = therapist.put(
            plan_url,
            json={"goals": [{"text": "Saved by the previous release"}]},
            headers={"If-Match": read.headers["etag"]},
        )
        assert saved.status_code == 200, saved.text
        with new.client(headers=bearer(keyworker)) as http:
            on_new_plan = http.get(plan_url)
            assert on_new_plan.json()["version"] == version + 1
            assert on_new_plan.json()["content"]["goals"][0]["text"] == (
                "Saved by the previous release"
            )
            again = http.put(
                plan_url,
                json={"goals": [{"text": "Saved by this release"}]},
                headers={"If-Match": on_new_plan.headers["etag"]},
            )
            assert again.status_code == 200, again.text
        back = therapist.get(plan_url).json()
        assert (back["version"], back["content"]["goals"][0]["text"]) == (
            version + 2,
            "Saved by this release",
        )

        # A measure submitted through the old, one through the new; each lists both.
        alex = client_id_of(old, "Alex Morgan")
        phq9 = {str(n): 1 for n in range(1, 10)}
        gad7 = {str(n): 2 for n in range(1, 8)}
        sitting = f"upgrade-{uuid.uuid4().hex[:6]}"
        with new.client(headers=bearer(therapist)) as http:
            for sender, code, answers in ((therapist.http, "phq9", phq9), (http, "gad7", gad7)):
                done = sender.post(
                    f"/api/v1/clients/{alex}/measures",
                    json={"instrument": code, "answers": answers, "session_key": sitting},
                )
                assert done.status_code == 201, done.text
            listed_on_new = http.get(f"/api/v1/clients/{alex}/measures").json()
        listed_on_old = therapist.get(f"/api/v1/clients/{alex}/measures").json()
        for listed in (listed_on_new, listed_on_old):
            mine = {(m["instrument"], m["total"]) for m in listed if m["session_key"] == sitting}
            assert mine == {("phq9", 9), ("gad7", 14)}

        # Messages on /ws: the socket opened on the old before the migration hears one sent
        # through the new, and answers through the old.
        on_new = await WsClient.connect(new.base_url, therapist.tokens["access_token"])
        await on_new.wait_type("ready")
        sent = await on_new.send_message(conversation, "Sent through this release")
        assert sent["type"] == "message.ack", sent
        heard = await on_old.wait_type("message.new")
        assert heard["message"] == sent["message"]
        answer = await on_old.send_message(conversation, "Answered through the previous release")
        assert answer["type"] == "message.ack", answer
        assert answer["message"]["seq"] == sent["message"]["seq"] + 1
        got = await on_new.wait_type("message.new")
        assert got["message"] == answer["message"]
    except BaseException:
        # What each release's server said, for the failure's report.
        for server in (old.server, *old._others):
            print(f"log of {server.base_url}:\n{server.log_tail(6000)}")
        raise
    finally:
        await on_old.close()
        if on_new is not None:
            await on_new.close()

    # Both releases wrote the audit trail; each checks the whole chain whole.
    for live in (old, new):
        with live.client(headers=bearer(supervisor)) as http:
            chain = http.get("/api/v1/audit-events/verify")
        assert chain.status_code == 200, chain.text
        assert chain.json()["ok"] is True, chain.json()
        assert chain.json()["checked"] > 0
