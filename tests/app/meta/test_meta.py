"""GET /api/v1/meta: needs no sign-in; outside a demo it names no account, and only the demo
command turns demo mode on."""

from __future__ import annotations

from pathlib import Path

import pytest
import uvicorn

from app import cli
from app.config import get_settings
from tests.conftest import DEMO_PASSWORD, Live


def test_meta_outside_a_demo_lists_no_logins(live_sqlite: Live) -> None:
    with live_sqlite.client() as http:
        reply = http.get("/api/v1/meta")
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"name": "Teamwell", "demo": None}
    assert DEMO_PASSWORD not in reply.text


def test_the_demo_command_serves_in_demo_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``teamwell demo`` (and so ./scripts/demo) turns demo mode on for the app it serves."""
    monkeypatch.setenv("TEAMWELL_DEMO_MODE", "false")  # restored (unset) after the test
    monkeypatch.setenv("TEAMWELL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TEAMWELL_DATABASE_URL", f"sqlite:///{tmp_path / 'teamwell.db'}")
    served: list[bool] = []
    # The app reads get_settings() when uvicorn imports it; stand in for that moment. The
    # command line read (and cached) them first, as `teamwell demo` does.
    monkeypatch.setattr(uvicorn, "run", lambda *_a, **_k: served.append(get_settings().demo_mode))
    get_settings.cache_clear()
    try:
        assert cli.main(["demo", "--host", "127.0.0.1", "--port", "8000"]) == 0
    finally:
        get_settings.cache_clear()
    assert served == [True]
