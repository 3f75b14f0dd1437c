"""A rolling upgrade (docs/deploy.md, "Upgrades"): the database migrated by this release, the
previous release's code still serving beside this one's on it, and the main flows crossing
between them: signing in, the plan, messages on `/ws` both ways, a measure, the audit chain.

The previous release is the tree at the commit before the newest migration came in: on the
first-parent line of history (a merge brings a branch's migration), the parent of the commit
that added the head revision's file. It is taken out of git with ``git archive``, so the
repository must have its history: a shallow clone fails the test (it cannot be made whole
offline), as a missing previous release is not a passed check."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from app.migrate import script_directory
from tests.conftest import REPO_ROOT, ROLE_EMAILS, Live, demo_team_id, fresh_database, start_live
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
        pytest.fail("the rolling-upgrade test needs the project's git history; this is no clone")
    if git(repo, "rev-parse", "--is-shallow-repository") == "true":
        pytest.fail(
            "the rolling-upgrade test needs the previous release from git history, and this "
            "clone is shallow: clone with full history (git clone without --depth), or run "
            "`git fetch --unshallow` where the remote is reachable"
        )
    added = git(
        repo, "log", "--first-parent", "--diff-filter=A", "--format=%H", "--", newest_file()
    ).split()
    if not added:
        # The newest migration is not committed yet: the release before it is the last commit.
        return git(repo, "rev-parse", "HEAD")
    return git(repo, "rev-parse", f"{added[-1]}^1")


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


def test_a_shallow_clone_fails_the_test_and_says_why(tmp_path: Path) -> None:
    clone = tmp_path / "shallow"
    git(REPO_ROOT, "clone", "--quiet", "--depth", "1", f"file://{REPO_ROOT}", str(clone))
    with pytest.raises(pytest.fail.Exception, match="shallow"):
        previous_release(clone)


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
def old_and_new(
    request: pytest.FixtureRequest,
    old_tree: Path,
    redis: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Live, Live]]:
    """This release's server, which migrated the database to its head and loaded the demo
    data, and the previous release's server beside it on the same database, data directory
    (keys, secrets) and Redis."""
    data_dir = tmp_path_factory.mktemp(f"upgrade-{request.param}")
    url = fresh_database(request, data_dir, "upgrade")
    new = start_live(request.param, data_dir, url, {"TEAMWELL_REDIS_URL": redis.url})
    try:
        # The previous release's code: its own tree first on the path, the same interpreter.
        # (Bytecode written, as the test checks the old modules were the ones loaded.)
        env = {**new.env, "PYTHONPATH": str(old_tree), "PYTHONDONTWRITEBYTECODE": ""}
        old_server = LiveServer(env=env, cwd=old_tree).start()
        new._others.append(old_server)  # stopped with the new one
        old = Live(
            backend=request.param,
            base_url=old_server.base_url,
            env=env,
            data_dir=data_dir,
            server=old_server,
        )
        try:
            yield old, new
        finally:
            old.close()
    finally:
        new.stop()


def client_named(live: Live, name: str) -> str:
    items = live.as_role("peer_keyworker").get("/api/v1/clients").json()["items"]
    return str(next(c["id"] for c in items if c["display_name"] == name))


async def test_the_previous_release_serves_the_new_schema_beside_this_one(
    old_and_new: tuple[Live, Live], old_tree: Path
) -> None:
    old, new = old_and_new
    head = script_directory().get_current_head()

    # The old server runs the previous release's code: Python compiled its modules from the
    # extracted tree (which had no bytecode), and it knows an older head, which its readiness
    # names when it predates ready-when-ahead.
    assert list((old_tree / "app" / "__pycache__").glob("main.*.pyc")), "old code not loaded"
    old_head = ScriptDirectory(str(old_tree / "migrations")).get_current_head()
    assert old_head is not None and old_head != head
    with old.client() as http:
        ready = http.get("/readyz")
    if ready.status_code == 503:
        assert ready.json()["detail"] == (
            f"The database is at migration {head}, not {old_head}."
        ), ready.text
    else:
        assert ready.json() == {"status": "ready", "migration": head}, ready.text

    # Signing in on either; each one's tokens work on the other.
    therapist = old.sign_in(ROLE_EMAILS["therapist"])
    keyworker = new.sign_in(ROLE_EMAILS["peer_keyworker"])
    old._sessions["therapist"] = therapist
    new._sessions["peer_keyworker"] = keyworker
    old._sessions["peer_keyworker"] = keyworker
    for live, session in ((new, therapist), (old, keyworker)):
        with live.client(headers={"Authorization": session.http.headers["Authorization"]}) as h:
            assert h.get("/api/v1/auth/me").status_code == 200

    # The plan: saved on the old, read and saved on the new, read back on the old.
    bea = client_named(new, "Bea Collins")
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
    with new.client(headers={"Authorization": therapist.http.headers["Authorization"]}) as h:
        on_new = h.get(plan_url)
    assert on_new.json()["version"] == version + 1
    assert on_new.json()["content"]["goals"][0]["text"] == "Saved by the previous release"
    again = keyworker.put(
        plan_url,
        json={"goals": [{"text": "Saved by this release"}]},
        headers={"If-Match": on_new.headers["etag"]},
    )
    assert again.status_code == 200, again.text
    back = therapist.get(plan_url).json()
    assert (back["version"], back["content"]["goals"][0]["text"]) == (
        version + 2,
        "Saved by this release",
    )

    # A measure submitted through the old, listed by the new, and one the other way.
    alex = client_named(new, "Alex Morgan")
    phq9 = {str(n): 1 for n in range(1, 10)}
    gad7 = {str(n): 2 for n in range(1, 8)}
    sitting = f"upgrade-{uuid.uuid4().hex[:6]}"
    with new.client(headers={"Authorization": therapist.http.headers["Authorization"]}) as h:
        for session_http, code, answers in ((therapist.http, "phq9", phq9), (h, "gad7", gad7)):
            done = session_http.post(
                f"/api/v1/clients/{alex}/measures",
                json={"instrument": code, "answers": answers, "session_key": sitting},
            )
            assert done.status_code == 201, done.text
        on_new_list = h.get(f"/api/v1/clients/{alex}/measures").json()
    on_old_list = therapist.get(f"/api/v1/clients/{alex}/measures").json()
    for listed in (on_new_list, on_old_list):
        mine = {(m["instrument"], m["total"]) for m in listed if m["session_key"] == sitting}
        assert mine == {("phq9", 9), ("gad7", 14)}

    # Messages on /ws: sent through the old, received on the new, and back.
    made = keyworker.post(
        "/api/v1/conversations", json={"kind": "team", "team_id": demo_team_id(keyworker)}
    )
    assert made.status_code in (200, 201), made.text
    conversation = made.json()["id"]
    on_old = await WsClient.connect(old.base_url, keyworker.tokens["access_token"])
    on_new_ws = await WsClient.connect(new.base_url, therapist.tokens["access_token"])
    try:
        await on_old.wait_type("ready")
        await on_new_ws.wait_type("ready")
        ack = await on_old.send_message(conversation, "Sent through the previous release")
        assert ack["type"] == "message.ack", ack
        got = await on_new_ws.wait_type("message.new")
        assert got["message"] == ack["message"]
        answer = await on_new_ws.send_message(conversation, "Answered through this release")
        assert answer["type"] == "message.ack", answer
        assert answer["message"]["seq"] == ack["message"]["seq"] + 1
        heard = await on_old.wait_type("message.new")
        assert heard["message"]["body"] == "Answered through this release"
    finally:
        await on_old.close()
        await on_new_ws.close()

    # Both releases wrote the audit trail; either checks the whole chain whole.
    supervisor = new.sign_in(ROLE_EMAILS["supervisor"])
    for live in (old, new):
        with live.client(headers={"Authorization": supervisor.http.headers["Authorization"]}) as h:
            chain = h.get("/api/v1/audit-events/verify")
        assert chain.status_code == 200, chain.text
        assert chain.json()["ok"] is True, chain.json()
        assert chain.json()["checked"] > 0
