"""The web client against the server's permissions: who sees what, and what has a place.

``web/access.js`` says, once, which roles open each page of the web client and see each
navigation entry, and which server operations each page needs. These tests hold it to the
permission table of ``tests/auth/policies/test_permissions.py`` (which a live server holds to every
role):

- no role is shown a page whose operations it may not call;
- every role that may call a navigation entry's main operation sees the entry, or finds the
  operation on another page it sees (``elsewhere``), or is named with a reason (``notShownTo``);
- every operation of the API that someone may call is called somewhere in the web client, unless
  it is named below with the reason it is not for people, or as not yet built.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.auth.policies.test_permissions import RULES, SELF_SERVICE

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

Operation = tuple[str, str]  # (method, path template as in the OpenAPI document)


def load_access() -> dict[str, Any]:
    """The object between the ACCESS markers of web/access.js (plain JSON by design)."""
    text = (WEB / "access.js").read_text(encoding="utf-8")
    block = text.split("// ACCESS BEGIN\n", 1)[1].split("// ACCESS END", 1)[0]
    literal = block.strip().removeprefix("export const ACCESS =").strip().removesuffix(";")
    data: dict[str, Any] = json.loads(literal)
    return data


ACCESS = load_access()
WEB_ROLES: list[str] = ACCESS["roles"]
PAGES: dict[str, dict[str, Any]] = ACCESS["pages"]
TABLE: dict[Operation, frozenset[str]] = {(r.method, r.path): r.allowed for r in RULES}


def operation(text: str) -> Operation:
    method, path = text.split(" ", 1)
    return method, path


def callers(op: Operation) -> frozenset[str]:
    """The roles of the web client that may call ``op`` by the permission table (the table's
    outsider and partner admin are a therapist and an admin in another relation, not roles)."""
    if op in SELF_SERVICE:
        return frozenset(WEB_ROLES)
    assert op in TABLE, f"{op} is in neither the permission table nor its self-service list"
    return TABLE[op] & frozenset(WEB_ROLES)


# Where the permission table's example is narrower than the rule it tests: the table calls each
# operation in one relation of the demo (e.g. a case meeting the client is not invited to), so a
# role the rule admits in another relation is named here, with the test that shows it.
WIDER_THAN_THE_TABLE: dict[tuple[Operation, str], str] = {
    (("GET", "/api/v1/meetings/{meeting_id}"), "client"): (
        "A client opens a session they are invited to "
        "(tests/browser/test_meeting_room.py: Alex waits in the lobby and is admitted)."
    ),
    **{
        (("GET", "/api/v1/supervision/records/{record_id}"), role): (
            "Anyone who attended a supervision session opens its record, whatever their role "
            "(tests/browser/test_supervision.py: a keyworker and an admin who attended open it "
            "from How are you?)."
        )
        for role in ("peer_keyworker", "employment_specialist", "admin")
    },
}


def test_the_access_module_is_consistent() -> None:
    assert sorted(ACCESS["landing"]) == sorted(WEB_ROLES)
    for role, page in ACCESS["landing"].items():
        assert role in PAGES[page]["roles"], f"{role} lands on {page}, which they may not open"
    for entry in ACCESS["nav"] + ACCESS["tools"]:
        assert {"label", "href"} <= PAGES[entry].keys(), f"navigation entry {entry} needs both"
    for page_id, page in PAGES.items():
        assert set(page["roles"]) <= set(WEB_ROLES), page_id
        assert page["needs"], f"{page_id} names no operation"
        for role in page.get("elsewhere", {}) | page.get("notShownTo", {}):
            assert role not in page["roles"], f"{page_id}: {role} sees it; no exception needed"


@pytest.mark.parametrize("page_id", list(PAGES))
def test_no_role_sees_a_page_it_may_not_use(page_id: str) -> None:
    page = PAGES[page_id]
    for need in page["needs"]:
        op = operation(need)
        refused = {r for r in page["roles"] if r not in callers(op)}
        refused -= {r for r in refused if (op, r) in WIDER_THAN_THE_TABLE}
        assert not refused, f"{page_id} is shown to {sorted(refused)}, who may not call {need}"


@pytest.mark.parametrize("entry", ACCESS["nav"] + ACCESS["tools"])
def test_every_role_that_may_use_an_entry_sees_it(entry: str) -> None:
    page = PAGES[entry]
    main = page["needs"][0]
    elsewhere: dict[str, str] = page.get("elsewhere", {})
    reasons: dict[str, str] = page.get("notShownTo", {})
    for role in sorted(callers(operation(main))):
        if role in page["roles"]:
            continue
        if role in elsewhere:
            other = PAGES[elsewhere[role]]
            assert role in other["roles"] and main in other["needs"], (
                f"{role} is said to find {main} on {elsewhere[role]}, but does not"
            )
            continue
        assert len(reasons.get(role, "")) > 20, (
            f"{role} may call {main} but does not see {entry}, and no reason is given"
        )


# --------------------------------------------------------------- every operation has a place --

# Operations no person uses through the web client, and why.
NOT_FOR_PEOPLE: dict[Operation, str] = {
    ("GET", "/healthz"): "Liveness probe for the orchestrator, not for people.",
    ("GET", "/readyz"): "Readiness probe for the load balancer, not for people.",
    ("GET", "/api/v1/auth/sso/{slug}/callback"): (
        "The identity provider sends the browser here; the web client never calls it."
    ),
    ("GET", "/api/v1/meetings/ice-servers"): (
        "The web client is given the relay servers in the meeting.joined and meeting.admitted "
        "frames; this copy is for other callers that set up media themselves."
    ),
    ("GET", "/api/v1/conversations/unread"): (
        "A light unread summary for other callers; the web client counts unread messages from "
        "the conversation list and the realtime frames it already holds."
    ),
    ("GET", "/files/{token}"): (
        "The browser opens the short-lived link that asking for a download or preview answers "
        "with (views/documents.js), in a frame, an image or a download; the client never "
        "builds this address."
    ),
}

# Operations people need that the web client does not offer yet: the gap, written down (none
# today; an operation added to the API without a screen goes here, with its reason).
NOT_YET_IN_THE_WEB_CLIENT: dict[Operation, str] = {}

LITERAL = r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"|`(?:[^`\\]|\\.)*`"
PLACEHOLDER = "\x00"


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # the path as the client builds it, each unknown ${...} a PLACEHOLDER
    words: frozenset[str]  # plain words the file quotes (what a ${verb} may stand for)
    where: str


def _call_text(source: str, start: int) -> str:
    """From ``start`` (just inside a call's opening parenthesis) to its closing one."""
    depth, i = 1, start
    while i < len(source) and depth:
        found = re.compile(LITERAL).match(source, i)
        if found:
            i = found.end()
            continue
        depth += {"(": 1, ")": -1}.get(source[i], 0)
        i += 1
    return source[start:i]


def _resolve(literal: str, names: dict[str, str], depth: int = 0) -> str:
    body = literal[1:-1]
    if literal[0] != "`":
        return body

    def part(m: re.Match[str]) -> str:
        inner = m.group(1).strip()
        if inner in names and depth < 5:
            return _resolve(names[inner], names, depth + 1)
        return PLACEHOLDER

    return re.sub(r"\$\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}", part, body)


def client_calls() -> Iterator[Call]:
    """Every API request the web client's code makes, as far as reading the code tells."""
    for file in sorted(WEB.rglob("*.js")):
        source = file.read_text(encoding="utf-8")
        where = str(file.relative_to(ROOT))
        words = frozenset(re.findall(r"'([a-z][a-z0-9-]*)'", source))
        names: dict[str, str] = {}
        functions = dict(
            re.findall(rf"function (\w+)\([^)]*\)\s*\{{\s*return ({LITERAL});", source)
        )
        for name, value in re.findall(rf"\b(?:const|let)\s+(\w+)\s*=\s*({LITERAL})", source):
            names[name] = value
        for name, fn in re.findall(r"\b(?:const|let)\s+(\w+)\s*=\s*(\w+)\(", source):
            if fn in functions:
                names[name] = functions[fn]
        # An address the browser follows (a link), not a request.
        if "href" in names and "/api/" in names["href"]:
            yield Call("GET", _resolve(names["href"], names), words, where)
        for m in re.finditer(rf"\b(?:request|download|send)\(\s*({LITERAL}|[A-Za-z_]\w*)", source):
            argument = m.group(1)
            if argument[0] not in "'\"`":
                if argument not in names:
                    continue  # a path handed in from elsewhere, seen where it is built
                argument = names[argument]
            text = _call_text(source, m.end())
            verb = re.search(r"method:\s*'(\w+)'|^\s*,\s*'(GET|POST|PUT|PATCH|DELETE)'", text)
            method = (verb.group(1) or verb.group(2)) if verb else "GET"
            path = _resolve(argument, names).split("?", 1)[0]
            if path.startswith(("/api/", PLACEHOLDER)):
                yield Call(method.upper(), path, words, where)


def places(op: Operation, calls: list[Call]) -> list[str]:
    """Where the web client calls ``op``."""
    method, template = op
    target = re.sub(r"\{[^}]+\}", "{}", template)
    found = []
    for call in calls:
        if call.method != method:
            continue
        one = r"(?:\{\}|" + "|".join(re.escape(w) for w in sorted(call.words)) + ")"
        pattern = "".join(
            (".+" if i == 0 else one) if chunk == PLACEHOLDER else re.escape(chunk)
            for i, chunk in enumerate(re.split(f"({PLACEHOLDER})", call.path))
        )
        if re.fullmatch(pattern, target):
            found.append(call.where)
    return found


@pytest.fixture(scope="module")
def api_operations() -> list[Operation]:
    from app.main import app

    paths = app.openapi()["paths"]
    return sorted(
        (m.upper(), p) for p, ops in paths.items() for m in ops if m.upper() in HTTP_METHODS
    )


def test_the_scan_finds_what_the_client_is_known_to_call() -> None:
    """The reading of the code finds calls in each way the client builds them."""
    calls = list(client_calls())
    assert places(("GET", "/api/v1/me/today"), calls)  # a plain string
    assert places(("GET", "/api/v1/clients/{client_id}/journey"), calls)  # ${base}/journey
    assert places(("PATCH", "/api/v1/clients/{client_id}/jobs/{job_id}"), calls)  # send(x, 'PATCH')
    assert places(("POST", "/api/v1/teams/{team_id}/members/{user_id}/confirm"), calls)  # ${verb}
    assert places(("GET", "/api/v1/auth/sso/{slug}/login"), calls)  # a link
    assert not places(("DELETE", "/api/v1/teams/{team_id}/members/{user_id}/confirm"), calls)


def test_every_operation_someone_may_call_has_a_place_in_the_web_client(
    api_operations: list[Operation],
) -> None:
    calls = list(client_calls())
    for op, reason in (NOT_FOR_PEOPLE | NOT_YET_IN_THE_WEB_CLIENT).items():
        assert op in api_operations, f"{op} is listed but the API has no such operation"
        assert len(reason) > 20, f"{op} is listed without a reason"
    missing = [
        f"{m} {p}"
        for m, p in api_operations
        if (m, p) not in NOT_FOR_PEOPLE
        and (m, p) not in NOT_YET_IN_THE_WEB_CLIENT
        and callers((m, p))
        and not places((m, p), calls)
    ]
    assert not missing, "operations with no place in the web client:\n" + "\n".join(missing)


def test_the_lists_name_only_what_the_client_lacks(api_operations: list[Operation]) -> None:
    """An operation given a place comes off the lists, so they stay true."""
    calls = list(client_calls())
    listed = {**NOT_FOR_PEOPLE, **NOT_YET_IN_THE_WEB_CLIENT}
    placed = {op: places(op, calls) for op in listed}
    assert not {op: w for op, w in placed.items() if w}, "listed, yet the web client calls them"
