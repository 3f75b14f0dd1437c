"""Two server processes behind one address share PostgreSQL and Redis: a message sent through
one reaches a member connected to the other."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import REPO_ROOT, Live, demo_team_id, requirement, start_live
from tests.support.postgres import PostgresServer
from tests.support.redis import RedisServer, redis_available
from tests.support.server import LiveServer
from tests.support.ws import WsClient


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    if not redis_available():
        if requirement("TEAMWELL_TEST_REDIS"):
            pytest.fail("Redis is required for this run but is not installed")
        pytest.skip("Redis is not installed")
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def cluster(
    postgres: PostgresServer, redis: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Live, LiveServer]]:
    data_dir = tmp_path_factory.mktemp("cluster")
    first = start_live(
        "postgres",
        data_dir,
        postgres.create_database("cluster"),
        extra_env={"TEAMWELL_REDIS_URL": redis.url},
    )
    second = LiveServer(env=first.env, cwd=REPO_ROOT).start()
    try:
        yield first, second
    finally:
        second.stop()
        first.close()
        first.server.stop()


async def test_a_message_crosses_processes(cluster: tuple[Live, LiveServer]) -> None:
    first, second = cluster
    assert first.env["TEAMWELL_REDIS_URL"].startswith("redis://")
    keyworker = first.as_role("peer_keyworker")
    team_id = demo_team_id(keyworker)
    conversation = keyworker.post(
        "/api/v1/conversations", json={"kind": "team", "team_id": team_id}
    ).json()["id"]
    priya = await WsClient.connect(first.base_url, keyworker.tokens["access_token"])
    tom = await WsClient.connect(second.base_url, first.as_role("therapist").tokens["access_token"])
    try:
        await priya.wait_type("ready")
        await tom.wait_type("ready")
        ack = await priya.send_message(conversation, "Sent on process one")
        assert ack["type"] == "message.ack"
        got = await tom.wait_type("message.new")
        assert got["message"] == ack["message"]
        # And back the other way, with the sequence continuing across processes.
        back = await tom.send_message(conversation, "Answered on process two")
        assert back["message"]["seq"] == ack["message"]["seq"] + 1
        assert (await priya.wait_type("message.new"))["message"]["body"] == (
            "Answered on process two"
        )
    finally:
        await priya.close()
        await tom.close()
