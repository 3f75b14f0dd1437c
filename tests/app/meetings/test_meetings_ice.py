"""ICE servers and TURN REST credentials (coturn ``use-auth-secret``), with a fixed clock.

The credentials are checked against an independent HMAC computation here and accepted by a real
coturn in tests/app/meetings/test_coturn.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from app.config import Settings
from app.meetings.ice import ice_servers, turn_credentials

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
NOW_UNIX = 1_767_603_600  # 2026-01-05T09:00:00Z
SECRET = "a-turn-secret-shared-with-coturn-0123456789"
USER = uuid.UUID("6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f")
STUN = ["stun:turn.example.org:3478"]
TURN = ["turn:turn.example.org:3478?transport=udp", "turn:turn.example.org:3478?transport=tcp"]


def settings(tmp_path: Path, **fields: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path,
        "stun_urls": STUN,
        "turn_urls": TURN,
        "turn_secret": SecretStr(SECRET),
        **fields,
    }
    return Settings(**values)  # type: ignore[arg-type]


def expected_credential(secret: str, username: str) -> str:
    mac = hmac.HMAC(secret.encode(), username.encode(), "sha1")
    return base64.b64encode(mac.digest()).decode()


def test_the_clock_constant_is_what_it_says() -> None:
    assert int(NOW.timestamp()) == NOW_UNIX


def test_stun_then_turn_with_credentials_for_the_user(tmp_path: Path) -> None:
    servers = ice_servers(settings(tmp_path), user_id=USER, now=NOW)
    username = f"{NOW_UNIX + 3600}:{USER}"
    assert servers == [
        {"urls": STUN},
        {"urls": TURN, "username": username, "credential": expected_credential(SECRET, username)},
    ]
    assert json.loads(json.dumps(servers)) == servers  # goes to the browser as it is


def test_the_credential_is_base64_of_a_sha1_hmac(tmp_path: Path) -> None:
    turn = ice_servers(settings(tmp_path), user_id=USER, now=NOW)[1]
    raw = base64.b64decode(turn["credential"], validate=True)
    assert len(raw) == hashlib.sha1().digest_size == 20
    assert turn["credential"] != expected_credential(SECRET + "x", turn["username"])


def test_expiry_follows_the_configured_lifetime_and_the_clock(tmp_path: Path) -> None:
    short = settings(tmp_path, turn_credential_seconds=600)
    turn = ice_servers(short, user_id=USER, now=NOW)[1]
    assert turn["username"] == f"{NOW_UNIX + 600}:{USER}"
    later = ice_servers(short, user_id=USER, now=NOW + timedelta(seconds=1))[1]
    assert later["username"] == f"{NOW_UNIX + 601}:{USER}"
    assert later["credential"] != turn["credential"]
    # The same instant in another zone, or naive (taken as UTC), gives the same credentials.
    paris = NOW.astimezone(timezone(timedelta(hours=1)))
    assert ice_servers(short, user_id=USER, now=paris)[1] == turn
    assert ice_servers(short, user_id=USER, now=NOW.replace(tzinfo=None))[1] == turn


def test_each_user_gets_their_own_credentials(tmp_path: Path) -> None:
    other = uuid.UUID("00000000-0000-4000-8000-000000000001")
    mine = ice_servers(settings(tmp_path), user_id=USER, now=NOW)[1]
    theirs = ice_servers(settings(tmp_path), user_id=other, now=NOW)[1]
    assert theirs["username"].endswith(f":{other}")
    assert theirs["credential"] != mine["credential"]


def test_turn_credentials_directly() -> None:
    username, credential = turn_credentials(SECRET, name="someone", expires_at=42)
    assert username == "42:someone"
    assert credential == expected_credential(SECRET, "42:someone")


def test_no_turn_block_without_turn_urls(tmp_path: Path) -> None:
    assert ice_servers(settings(tmp_path, turn_urls=[]), user_id=USER, now=NOW) == [{"urls": STUN}]
    nothing = settings(tmp_path, stun_urls=[], turn_urls=[], turn_secret=None)
    assert ice_servers(nothing, user_id=USER, now=NOW) == []
    # No TURN, no need for a secret: none is generated.
    assert not (tmp_path / "secrets.json").exists()


def test_only_turn(tmp_path: Path) -> None:
    servers = ice_servers(settings(tmp_path, stun_urls=[]), user_id=USER, now=NOW)
    assert [server["urls"] for server in servers] == [TURN]


def test_without_a_configured_secret_one_is_generated_and_kept(tmp_path: Path) -> None:
    first = ice_servers(settings(tmp_path, turn_secret=None), user_id=USER, now=NOW)[1]
    stored = json.loads((tmp_path / "secrets.json").read_text())["turn_secret"]
    assert len(stored) >= 32
    assert first["credential"] == expected_credential(stored, first["username"])
    # A restart (new settings, same data dir) keeps the secret coturn was configured with.
    again = ice_servers(settings(tmp_path, turn_secret=None), user_id=USER, now=NOW)[1]
    assert again == first


@pytest.mark.parametrize("secret", ["changeme", "secret", "too-short-for-a-secret"])
def test_placeholder_or_short_secrets_are_refused(tmp_path: Path, secret: str) -> None:
    with pytest.raises(ValidationError, match="turn_secret"):
        settings(tmp_path, turn_secret=SecretStr(secret))


@pytest.mark.parametrize(
    ("field", "url"),
    [("stun_urls", "turn.example.org:3478"), ("turn_urls", "https://turn.example.org")],
)
def test_urls_must_be_stun_or_turn(tmp_path: Path, field: str, url: str) -> None:
    with pytest.raises(ValidationError, match=field):
        settings(tmp_path, **{field: [url]})


@pytest.mark.parametrize("seconds", [0, 59, 24 * 3600 + 1])
def test_credential_lifetime_is_bounded(tmp_path: Path, seconds: int) -> None:
    with pytest.raises(ValidationError, match="turn_credential_seconds"):
        settings(tmp_path, turn_credential_seconds=seconds)
