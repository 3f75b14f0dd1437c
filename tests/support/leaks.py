"""What must never leave the service (logs, traces): the demo's people, and a check that a text
holds none of a test's secrets, nor anything shaped like an email address or a bearer token."""

from __future__ import annotations

import re

from app.demo import CLIENTS, STAFF
from tests.conftest import ROLE_EMAILS

__all__ = ["assert_nothing_leaked", "demo_identities"]

EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")


def demo_identities() -> dict[str, str]:
    """The demo's staff emails and names, its clients' names and the client's sign-in email,
    each under a description of what it is."""
    found: dict[str, str] = {}
    for email, name, *_ in STAFF:
        found[f"email {email}"] = email
        found[f"name {name}"] = name
    for name, *_ in CLIENTS:
        found[f"client name {name}"] = name
    found["client email"] = ROLE_EMAILS["client"]
    return found


def assert_nothing_leaked(text: str, secrets: dict[str, str]) -> None:
    leaked = sorted(what for what, value in secrets.items() if value and value in text)
    assert leaked == [], leaked
    assert not EMAIL.search(text)
    assert "Bearer " not in text and "eyJ" not in text
