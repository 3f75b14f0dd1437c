"""GET /api/v1/meta: needs no sign-in; outside a demo it names no account."""

from __future__ import annotations

from tests.conftest import DEMO_PASSWORD, Live


def test_meta_outside_a_demo_lists_no_logins(live_sqlite: Live) -> None:
    with live_sqlite.client() as http:
        reply = http.get("/api/v1/meta")
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"name": "Teamwell", "demo": None}
    assert DEMO_PASSWORD not in reply.text
