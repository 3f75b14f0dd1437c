"""Property-based fuzzing of every operation in the OpenAPI document, signed in as each role.

The operations come from the running server's ``/openapi.json``, so a route added tomorrow is
fuzzed without touching this file. For each operation schemathesis generates requests that fit
the document (positive), sent as every role and signed out, and requests that break it
(negative), sent as two roles in turn; then every integer in the query and the body is pushed
past 32 and 64 bits. Every answer must:

* not be a server error (5xx),
* be a problem (``application/problem+json`` with ``type``, ``title``, ``status``, ``detail``)
  when it is an error,
* match the document: a documented status code and content type, and a body that fits the
  documented schema.

Path parameters are sometimes the ids of real records (a demo client, the team, a meeting...), so
generated bodies reach the code behind the permission checks, not only the 404 in front of it.

Bounded for CI: a few examples per operation and mode, generated once (derandomised, so every
run sends the same requests) and replayed for each role, on a server of its own because fuzzing
writes (POST, PATCH, DELETE) and other tests rely on the demo data as seeded.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import FailedHealthCheck, Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import PARTNER_ADMIN_EMAIL, Live, live_server
from tests.support.builders import client_id_of

# Examples per operation for each generation mode. A positive example is sent once as every
# role; a negative one (refused by validation, which only roles let past the permission check
# reach) as NEGATIVE_ROLES_EACH roles, taking the roles in turn.
POSITIVE_EXAMPLES = 2
NEGATIVE_EXAMPLES = 2
NEGATIVE_ROLES_EACH = 2
# Integers just past 32 and 64 bits, sent by roles that reach most of the API's data.
EDGE_INTEGERS = (2**31, 2**63)
EDGE_ROLES = ("peer_keyworker", "supervisor", "admin")
REQUEST_TIMEOUT_SECONDS = 10
ROLES = [
    "peer_keyworker",
    "therapist",
    "employment_specialist",
    "supervisor",
    "admin",
    "client",
    "partner_admin",
    "anonymous",
]
# Operations not fuzzed, and why.
SKIPPED = {
    # Ends the session the fuzzer is signed in with (tests/auth/test_auth.py covers sign-out).
    ("POST", "/api/v1/auth/logout"),
    # Would point the server at an identity provider chosen by the fuzzer, off this machine
    # (tests/auth/sso/test_sso.py drives it against a provider on loopback).
    ("PUT", "/api/v1/auth/sso/organisations/{organisation_id}"),
}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@dataclass
class FuzzWorld:
    live: Live
    sessions: dict[str, requests.Session] = field(default_factory=dict)
    # Real ids by path-parameter name; other parameters are left to the generator.
    known: dict[str, str] = field(default_factory=dict)


def _bearer(token: str) -> requests.Session:
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    return http


@pytest.fixture(scope="module")
def fuzz_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzWorld]:
    with live_server(tmp_path_factory, "fuzz-api") as live:
        world = FuzzWorld(live)
        for role in ROLES:
            if role == "anonymous":
                world.sessions[role] = requests.Session()
            elif role == "partner_admin":
                world.sessions[role] = _bearer(
                    live.as_email(PARTNER_ADMIN_EMAIL).tokens["access_token"]
                )
            else:
                world.sessions[role] = _bearer(live.as_role(role).tokens["access_token"])
        world.known = _real_ids(live)
        yield world
        for http in world.sessions.values():
            http.close()


def _real_ids(live: Live) -> dict[str, str]:
    """Records for generated requests to land on. The person is one made for the purpose, so a
    generated deactivation or role change never signs out a session the fuzzer uses."""
    keyworker = live.as_role("peer_keyworker")
    admin = live.as_role("admin")
    alex = keyworker.get(f"/api/v1/clients/{client_id_of(live, 'Alex Morgan')}").json()
    target = live.new_account(
        f"fuzz-target-{uuid.uuid4().hex[:8]}@tyneside.example", "Fuzz Target", "therapist"
    )
    conversation = keyworker.post(
        "/api/v1/conversations", json={"kind": "team", "team_id": alex["team_id"]}
    )
    meeting = keyworker.post(
        "/api/v1/meetings",
        json={
            "kind": "case_meeting",
            "title": "Review",
            "client_id": alex["id"],
            "starts_at": "2030-01-07T10:00:00Z",
            "ends_at": "2030-01-07T11:00:00Z",
        },
    )
    job = keyworker.post(
        f"/api/v1/clients/{alex['id']}/jobs",
        json={
            "employer": "Tyne Foods",
            "role": "Packer",
            "hours_per_week": 16,
            "started_on": str(date.fromordinal(date.today().toordinal() - 7)),
        },
    )
    invitation = admin.post(
        "/api/v1/invitations",
        json={"email": f"fuzz-invitee-{uuid.uuid4().hex[:8]}@example.org", "role": "therapist"},
    )
    link = keyworker.post(
        f"/api/v1/clients/{alex['id']}/measure-links", json={"instrument": "phq9"}
    )
    for made in (conversation, meeting, job, invitation, link):
        assert made.status_code in (200, 201), made.text
    return {
        "client_id": alex["id"],
        "team_id": alex["team_id"],
        "organisation_id": alex["organisation_id"],
        "user_id": target["id"],
        "conversation_id": conversation.json()["id"],
        "meeting_id": meeting.json()["id"],
        "job_id": job.json()["id"],
        "invitation_id": invitation.json()["id"],
        "token": link.json()["link"].rstrip("/").rsplit("/", 1)[-1],
    }


def problem_json_for_errors(response: Any) -> str | None:
    """What is wrong with an error answer that is not an RFC 9457 problem, if anything."""
    if response.status_code < 400:
        return None
    content_type = (response.headers.get("content-type") or [""])[0]
    if not content_type.startswith("application/problem+json"):
        return f"error answered as {content_type!r}, not application/problem+json"
    body = response.json()
    missing = [k for k in ("type", "title", "status", "detail") if not body.get(k)]
    if missing or body["status"] != response.status_code:
        return f"problem without {missing} or with the wrong status: {body}"
    return None


def _failure_text(exc: BaseException) -> str:
    """One line per failed check (schemathesis groups them)."""
    found = getattr(exc, "exceptions", None) or [exc]
    return "; ".join(
        (getattr(e, "title", None) or str(e).strip().split("\n", 1)[0] or type(e).__name__)
        for e in found
    )


def _send_as(world: FuzzWorld, case: Any, role: str, label: str, failures: list[str]) -> None:
    label = f"{label} as {role}"
    try:
        response = case.call(
            base_url=world.live.base_url,
            session=world.sessions[role],
            timeout=REQUEST_TIMEOUT_SECONDS,
        )
    except requests.RequestException as exc:
        failures.append(f"{label}: no answer ({exc})\n  {case.as_curl_command()}")
        return
    found = []
    try:
        case.validate_response(response, checks=CHECKS)
    except BaseException as exc:  # schemathesis reports failures as an exception group
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        found.append(_failure_text(exc))
    wrong = problem_json_for_errors(response)
    if wrong:
        found.append(wrong)
    if found:
        failures.append(
            f"{label}: {response.status_code}: {'; '.join(found)}\n  {case.as_curl_command()}"
        )


def _examples(strategy: Any, count: int, test: Any) -> None:
    """Run ``test`` on ``count`` derandomised examples of ``strategy``."""

    @given(case=strategy)
    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,  # answers are timed by REQUEST_TIMEOUT_SECONDS instead
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        test(case)

    # Unsatisfiable: nothing in the operation can be broken (no parameters, no body).
    with contextlib.suppress(Unsatisfiable, FailedHealthCheck):
        run()


def _integer_query_parameters(operation: Any) -> list[str]:
    def integer(schema: dict[str, Any]) -> bool:
        return schema.get("type") == "integer" or any(
            integer(option) for option in schema.get("anyOf", [])
        )

    return [q.name for q in operation.query if integer(q.definition.get("schema", {}))]


def _push_body_integers(case: Any, value: int) -> Any:
    if isinstance(case.body, dict):
        for name, current in case.body.items():
            if isinstance(current, int) and not isinstance(current, bool):
                case.body[name] = value
    return case


def fuzz_operation(world: FuzzWorld, operation: Any, failures: list[str]) -> None:
    path_names = {p.name for p in operation.path_parameters}
    pinned = {name: world.known[name] for name in path_names if name in world.known}
    roles = list(world.sessions)

    def as_roles(chosen: list[str] | tuple[str, ...], kind: str) -> Any:
        def send(case: Any) -> None:
            for role in chosen:
                _send_as(world, case, role, f"{operation.label} ({kind})", failures)

        return send

    positive = operation.as_strategy()
    if pinned:
        positive = st.one_of(operation.as_strategy(path_parameters=pinned), positive)
    _examples(positive, POSITIVE_EXAMPLES, as_roles(roles, "positive"))

    turn = iter(range(10**6))

    def some_roles(case: Any) -> None:
        start = next(turn) * NEGATIVE_ROLES_EACH
        chosen = [roles[(start + i) % len(roles)] for i in range(NEGATIVE_ROLES_EACH)]
        as_roles(chosen, "negative")(case)

    negative = operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
    _examples(negative, NEGATIVE_EXAMPLES, some_roles)

    # Numbers at the edges of the database's integers, in the query and in the body: refused
    # (422) where the document bounds them, and never a statement that fails (500).
    at_edges = [
        operation.as_strategy(path_parameters=pinned, query={name: value})
        for name in _integer_query_parameters(operation)
        for value in EDGE_INTEGERS
    ]
    if operation.body:
        at_edges += [
            operation.as_strategy(path_parameters=pinned).map(
                lambda case, value=value: _push_body_integers(case, value)
            )
            for value in EDGE_INTEGERS
        ]
    for strategy in at_edges:
        _examples(strategy, 1, as_roles(EDGE_ROLES, "edge"))


def test_every_operation_as_every_role(fuzz_world: FuzzWorld) -> None:
    schema = schemathesis.openapi.from_url(fuzz_world.live.base_url + "/openapi.json")
    failures: list[str] = []
    fuzzed = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue
        fuzz_operation(fuzz_world, operation, failures)
        fuzzed += 1
    assert fuzzed >= 50, f"only {fuzzed} operations in the document"
    assert not failures, f"{len(failures)} bad answers:\n" + "\n".join(failures[:40])
    # Still up, and the audit chain the fuzzing appended to still verifies.
    assert requests.get(fuzz_world.live.base_url + "/healthz", timeout=10).status_code == 200
    verdict = fuzz_world.sessions["supervisor"].get(
        fuzz_world.live.base_url + "/api/v1/audit-events/verify", timeout=30
    )
    assert verdict.status_code == 200 and verdict.json()["ok"], verdict.text
