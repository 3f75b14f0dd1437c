"""Sign-in throttling (auth/throttle.py): the pure rules at their edges, both stores, and the
per-address limit holding across two real server processes that share a real Redis.

The limits by account are tried over HTTP in tests/auth/test_auth.py; the servers there allow so
many failures per address (tests/conftest.py) that only this module's cluster meets that limit.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from app.config import Settings
from auth.throttle import (
    Failures,
    MemoryFailureStore,
    RedisFailureStore,
    SignInThrottle,
    account_delay,
    account_key,
    address_key,
    retry_after,
    throttled_until,
)
from tests.conftest import DEMO_PASSWORD, ROLE_EMAILS, Live, problem
from tests.support.cluster import cluster_fixture
from tests.support.redis import RedisServer
from tests.support.server import LiveServer

SETTINGS = Settings(
    login_max_failures=5,
    login_lockout_seconds=60,
    login_lockout_max_seconds=600,
    login_address_max_failures=20,
    login_address_window_seconds=900,
)
T0 = 1_800_000_000.0


# --- the pure rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "delay"),
    [(4, None), (5, 60.0), (6, 120.0), (8, 480.0), (9, 600.0), (400, 600.0)],
)
def test_the_account_delay_doubles_from_the_limit_and_is_capped(
    count: int, delay: float | None
) -> None:
    assert account_delay(count, SETTINGS) == delay


def test_an_account_is_throttled_from_its_last_failure_for_the_delay() -> None:
    five = Failures(count=5, first_at=T0 - 30, last_at=T0)
    assert throttled_until(account=five, address=None, now=T0, settings=SETTINGS) == T0 + 60
    assert throttled_until(account=five, address=None, now=T0 + 59.999, settings=SETTINGS)
    assert throttled_until(account=five, address=None, now=T0 + 60, settings=SETTINGS) is None
    four = Failures(count=4, first_at=T0 - 30, last_at=T0)
    assert throttled_until(account=four, address=None, now=T0, settings=SETTINGS) is None


def test_an_address_is_throttled_from_its_first_failure_for_the_window() -> None:
    below = Failures(count=19, first_at=T0, last_at=T0 + 100)
    at = Failures(count=20, first_at=T0, last_at=T0 + 100)
    assert throttled_until(account=None, address=below, now=T0 + 100, settings=SETTINGS) is None
    assert throttled_until(account=None, address=at, now=T0 + 100, settings=SETTINGS) == T0 + 900
    assert throttled_until(account=None, address=at, now=T0 + 900, settings=SETTINGS) is None


def test_the_later_limit_decides_and_the_wait_is_whole_seconds() -> None:
    account = Failures(count=5, first_at=T0, last_at=T0 + 880)  # until T0 + 940
    address = Failures(count=20, first_at=T0, last_at=T0 + 880)  # until T0 + 900
    until = throttled_until(account=account, address=address, now=T0 + 880, settings=SETTINGS)
    assert until == T0 + 940
    assert retry_after(T0 + 940, T0 + 880) == 60
    assert retry_after(T0 + 940, T0 + 880.5) == 60
    assert retry_after(T0 + 940, T0 + 939.99) == 1


def test_keys_name_the_account_at_an_address_without_the_email() -> None:
    key = account_key(" Someone@Example.org ", "10.0.0.1")
    assert key == account_key("someone@example.org", "10.0.0.1")
    assert key != account_key("someone@example.org", "10.0.0.2")
    assert "someone" not in key
    assert address_key("10.0.0.1") == "signin:address:10.0.0.1"


# --- the stores --------------------------------------------------------------------------------


async def test_the_memory_store_counts_and_forgets() -> None:
    store = MemoryFailureStore()
    assert await store.read("k", T0) is None
    assert (await store.add("k", T0, 10, extend=False)).count == 1
    second = await store.add("k", T0 + 5, 10, extend=False)
    assert second == Failures(count=2, first_at=T0, last_at=T0 + 5)
    assert await store.read("k", T0 + 9.999) == second
    assert await store.read("k", T0 + 10) is None  # ten seconds after the first: a fixed window
    await store.add("e", T0, 10, extend=True)
    await store.add("e", T0 + 8, 10, extend=True)
    assert (await store.read("e", T0 + 17)) is not None  # ten seconds after the latest
    await store.clear("e")
    assert await store.read("e", T0) is None


async def test_redis_counts_are_shared_between_clients(redis: RedisServer) -> None:
    first, second = RedisFailureStore(redis.url), RedisFailureStore(redis.url)
    key = f"signin:test:{uuid.uuid4().hex}"
    try:
        assert await first.read(key, T0) is None
        await first.add(key, T0, 60, extend=False)
        shared = await second.add(key, T0 + 1, 60, extend=False)
        assert shared == Failures(count=2, first_at=T0, last_at=T0 + 1)
        assert await first.read(key, T0 + 1) == shared
        await second.clear(key)
        assert await first.read(key, T0 + 1) is None
    finally:
        await first.close()
        await second.close()


async def test_without_redis_each_process_still_counts() -> None:
    """Redis unreachable: the throttle neither admits nor refuses everyone, it counts here."""
    store = RedisFailureStore("redis://127.0.0.1:1/0")
    throttle = SignInThrottle(SETTINGS, store)
    try:
        for _ in range(SETTINGS.login_max_failures - 1):
            assert await throttle.failed(email="a@example.org", address="10.1.1.1", now=T0) is None
        assert await throttle.failed(email="a@example.org", address="10.1.1.1", now=T0) == 60
        assert await throttle.wait(email="a@example.org", address="10.1.1.1", now=T0 + 1) == 59
    finally:
        await throttle.close()


# --- across two server processes -----------------------------------------------------------------

ADDRESS_LIMIT = 4


cluster = cluster_fixture(
    "throttle-cluster", {"TEAMWELL_LOGIN_ADDRESS_MAX_FAILURES": str(ADDRESS_LIMIT)}
)


def test_the_address_limit_holds_across_processes(cluster: tuple[Live, LiveServer]) -> None:
    """Failures from one address for different emails, alternating between the two processes:
    the limit is reached at its edge whichever process counted which, and then refuses that
    address on both, even a right password, while another address signs in."""
    first, second = cluster
    address = {"X-Forwarded-For": "203.0.113.7"}
    with (
        first.client(headers=address) as one,
        httpx.Client(base_url=second.base_url, headers=address, timeout=30) as two,
    ):
        servers = [one, two]
        for n in range(ADDRESS_LIMIT - 1):
            reply = servers[n % 2].post(
                "/api/v1/auth/login",
                json={"email": f"guess-{n}@example.org", "password": "spray-password-1"},
            )
            problem(reply, 401)
        limit = servers[(ADDRESS_LIMIT - 1) % 2].post(
            "/api/v1/auth/login",
            json={"email": "guess-last@example.org", "password": "spray-password-1"},
        )
        assert problem(limit, 429)["type"].endswith("sign-in-throttled")
        assert int(limit.headers["retry-after"]) > 0
        right = {"email": ROLE_EMAILS["client"], "password": DEMO_PASSWORD}
        for server in servers:
            problem(server.post("/api/v1/auth/login", json=right), 429)
    with first.client(headers={"X-Forwarded-For": "203.0.113.8"}) as elsewhere:
        assert elsewhere.post("/api/v1/auth/login", json=right).status_code == 200
