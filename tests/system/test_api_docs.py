"""The documented shapes are the server's: the tables in docs/api.md ("Message history") and
docs/meetings.md ("Request bodies") are read and compared with the running server's OpenAPI
document, and a real history answer has exactly the documented keys. A field added to, renamed
in or dropped from the schemas (or the docs) fails here until the other side says the same."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Live, demo_team_id
from tests.support.ws import WsClient

DOCS = Path(__file__).resolve().parents[2] / "docs"

Row = dict[str, str]


def table_after(text: str, marker: str) -> dict[str, Row]:
    """The first Markdown table after the line starting with ``marker``, by its first cell
    (the name in backticks), each row as {column heading: cell}."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(marker))
    rows: list[list[str]] = []
    for line in lines[start + 1 :]:
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif rows:
            break
    heading, _rule, *body = rows
    table = {}
    for cells in body:
        name = re.fullmatch(r"`([^`]+)`", cells[0])
        assert name, f"{marker}: the first cell names a field in backticks: {cells[0]!r}"
        table[name.group(1)] = dict(zip(heading, cells, strict=True))
    return table


@pytest.fixture(scope="module")
def spec(live_sqlite: Live) -> dict[str, Any]:
    with live_sqlite.client() as http:
        document: dict[str, Any] = http.get("/openapi.json").json()
    return document


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def variants(spec: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [resolve(spec, s) for s in schema.get("anyOf", [schema])]


def type_words(spec: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    """What the documented type must say about a schema, in the docs' words."""
    words = set()
    for one in variants(spec, schema):
        kind, form = one.get("type"), one.get("format")
        if kind == "null":
            words.add("or null")
        elif "enum" in one:
            words |= {f"`{value}`" for value in one["enum"]}
        elif kind == "array":
            item = resolve(spec, one["items"])
            words.add("array of UUID strings" if item.get("format") == "uuid" else "array of")
        elif form == "uuid":
            words.add("UUID string")
        elif form == "date-time":
            words.add("date-time string")
        else:
            words.add(
                {
                    "string": "string",
                    "integer": "integer",
                    "boolean": "boolean",
                    "number": "number",
                }[kind]
            )
    return words


def limits(spec: dict[str, Any], schema: dict[str, Any]) -> set[int]:
    keys = ("minLength", "maxLength", "minItems", "maxItems", "minimum", "maximum")
    return {one[k] for one in variants(spec, schema) for k in keys if k in one}


def numbers(cell: str) -> set[int]:
    return {int(n) for n in re.findall(r"(?<![\w-])\d+(?![\w:-])", cell)}


def check_fields(
    spec: dict[str, Any], schema: dict[str, Any], table: dict[str, Row], type_column: str
) -> None:
    properties = schema["properties"]
    assert set(table) == set(properties), "documented fields differ from the server's"
    for name, prop in properties.items():
        documented = table[name][type_column]
        for word in type_words(spec, prop):
            assert word in documented, f"{name}: {documented!r} should say {word!r}"
        if "or null" not in type_words(spec, prop):
            assert "or null" not in documented, f"{name} is never null"


# --- docs/meetings.md: request bodies ---------------------------------------------------------


@pytest.mark.parametrize(
    ("marker", "schema_name"),
    [
        ("`POST /api/v1/meetings` (arrange", "MeetingCreate"),
        ("`PATCH /api/v1/meetings/{id}` (change", "MeetingUpdate"),
        ("`POST /api/v1/meetings/{id}/guest-links` (make", "GuestLinkCreate"),
        ("`POST /api/v1/guest-links/{token}/join` (say", "GuestJoin"),
    ],
)
def test_the_meeting_request_bodies_are_documented_as_validated(
    spec: dict[str, Any], marker: str, schema_name: str
) -> None:
    text = (DOCS / "meetings.md").read_text()
    table = table_after(text, marker)
    schema = spec["components"]["schemas"][schema_name]
    check_fields(spec, schema, table, "type")
    # An unknown field is refused, as the docs say.
    assert schema.get("additionalProperties") is False
    required = set(schema.get("required", []))
    for name, row in table.items():
        assert row["required"].startswith("yes") == (name in required), name
        expected = limits(spec, schema["properties"][name])
        assert expected <= numbers(row["limits and rules"]), (
            f"{name}: the limits {sorted(expected)} are not all in {row['limits and rules']!r}"
        )


# --- docs/api.md: message history ---------------------------------------------------------------


def _history_op(spec: dict[str, Any], path: str) -> dict[str, Any]:
    operation: dict[str, Any] = spec["paths"][f"/api/v1/conversations/{{conversation_id}}/{path}"][
        "get"
    ]
    return operation


def _page_schema(spec: dict[str, Any], path: str) -> dict[str, Any]:
    answer = _history_op(spec, path)["responses"]["200"]["content"]["application/json"]
    return resolve(spec, answer["schema"])


def test_the_history_answer_is_documented_as_served(spec: dict[str, Any]) -> None:
    text = (DOCS / "api.md").read_text()
    page = table_after(text, "The answer, for both")
    message = table_after(text, "Each message:")
    for path in ("messages", "search"):
        schema = _page_schema(spec, path)
        check_fields(spec, schema, page, "type")
        assert set(schema["required"]) == set(page), "every key is always present"
        each = resolve(spec, schema["properties"]["messages"]["items"])
        check_fields(spec, each, message, "type")

    query = table_after(text, "Query of `/messages`")
    parameters = {
        p["name"]: p for p in _history_op(spec, "messages")["parameters"] if p["in"] == "query"
    }
    assert set(query) == set(parameters)
    for name, parameter in parameters.items():
        row = query[name]
        assert not parameter.get("required", False)
        for word in type_words(spec, parameter["schema"]) - {"or null"}:
            assert word in row["type"], f"{name}: {row['type']!r} should say {word!r}"
        assert limits(spec, parameter["schema"]) <= numbers(row["type"]), name


async def test_a_history_answer_has_exactly_the_documented_keys(live_sqlite: Live) -> None:
    text = (DOCS / "api.md").read_text()
    page_keys = set(table_after(text, "The answer, for both"))
    message_keys = set(table_after(text, "Each message:"))
    keyworker = live_sqlite.as_role("peer_keyworker")
    team = demo_team_id(keyworker)  # hers; other tests add teams she is not on
    opened = keyworker.post("/api/v1/conversations", json={"kind": "team", "team_id": team})
    assert opened.status_code == 200, opened.text
    conversation = opened.json()["id"]
    socket = await WsClient.connect(live_sqlite.base_url, keyworker.tokens["access_token"])
    try:
        await socket.wait_type("ready")
        sent = await socket.send_message(conversation, "Shall we meet on Thursday?")
        assert sent["type"] == "message.ack", sent
    finally:
        await socket.close()
    for path, query in (("messages", {}), ("messages", {"after_seq": 0}), ("search", {"q": "Thu"})):
        reply = keyworker.get(f"/api/v1/conversations/{conversation}/{path}", params=query)
        assert reply.status_code == 200, reply.text
        answer = reply.json()
        assert set(answer) == page_keys
        assert answer["messages"], path
        for message in answer["messages"]:
            assert set(message) == message_keys


# --- docs/api.md: home (my day) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("marker", "schema_name", "leaf"),
    [
        ("`GET /api/v1/me/today` is what", "Today", False),
        ("An unread conversation:", "UnreadConversation", True),
        ("Due work (the rules", "DueWork", True),
        ("`client`:", "ClientDay", False),
        ("A questionnaire due:", "QuestionnaireDue", True),
        ("`admin` (no clinical content):", "AdminDay", True),
    ],
)
def test_the_home_day_is_documented_as_answered(
    spec: dict[str, Any], marker: str, schema_name: str, leaf: bool
) -> None:
    table = table_after((DOCS / "api.md").read_text(), marker)
    schema = spec["components"]["schemas"][schema_name]
    if leaf:
        check_fields(spec, schema, table, "type")
    else:  # parts that are objects of their own: the names, and which may be null
        assert set(table) == set(schema["properties"]), "documented fields differ"
        for name, prop in schema["properties"].items():
            nullable = "or null" in type_words_shallow(prop)
            assert ("or null" in table[name]["type"]) == nullable, name


def type_words_shallow(schema: dict[str, Any]) -> set[str]:
    return {"or null" for one in schema.get("anyOf", []) if one.get("type") == "null"}


@pytest.mark.parametrize(
    ("marker", "schema_name"),
    [
        ("The body of `POST .../benefits/claims`", "BenefitClaimCreate"),
        ("A claim:", "BenefitClaimPublic"),
        ("The body of `POST .../benefits/better-off-calculations`", "BetterOffCreate"),
        ("The off-flow status (`off_flow`)", "OffFlowPublic"),
    ],
)
def test_the_benefits_are_documented_as_served(
    spec: dict[str, Any], marker: str, schema_name: str
) -> None:
    table = table_after((DOCS / "api.md").read_text(), marker)
    check_fields(spec, spec["components"]["schemas"][schema_name], table, "type")


def test_the_scheduled_job_is_documented_as_served(spec: dict[str, Any]) -> None:
    table = table_after((DOCS / "api.md").read_text(), "A job:")
    check_fields(spec, spec["components"]["schemas"]["ScheduledJobPublic"], table, "type")


# --- docs/api.md: notifications -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("marker", "schema_name"),
    [
        ("The settings (`GET` and `PUT` answer):", "Preferences"),
        ("The body of `PUT` (every field", "PreferencesUpdate"),
        ("The body of `POST .../push-subscriptions`", "PushSubscriptionIn"),
    ],
)
def test_the_notification_settings_are_documented_as_served(
    spec: dict[str, Any], marker: str, schema_name: str
) -> None:
    """Every field by name, and which may be null, as the server's schema says."""
    table = table_after((DOCS / "api.md").read_text(), marker)
    schema = spec["components"]["schemas"][schema_name]
    assert set(table) == set(schema["properties"]), "documented fields differ"
    type_column = "type"
    for name, prop in schema["properties"].items():
        nullable = "or null" in type_words_shallow(prop)
        assert ("or null" in table[name][type_column]) == nullable, name
    if schema_name != "Preferences":
        assert schema.get("additionalProperties") is False


# --- docs/api.md: equality monitoring -----------------------------------------------------------


def test_the_equality_answers_are_documented_as_validated(spec: dict[str, Any]) -> None:
    """Every question, each of its values, and that each may be null (not answered)."""
    table = table_after((DOCS / "api.md").read_text(), "The answers (`PUT` body")
    schema = spec["components"]["schemas"]["EqualityAnswers"]
    check_fields(spec, schema, table, "type")
    assert schema.get("additionalProperties") is False


def test_the_client_s_equality_reply_is_documented_as_served(spec: dict[str, Any]) -> None:
    table = table_after((DOCS / "api.md").read_text(), "The client's reply (`GET` and `PUT")
    schema = spec["components"]["schemas"]["EqualityPublic"]
    assert set(table) == set(schema["properties"]), "documented fields differ"
    for name, prop in schema["properties"].items():
        nullable = "or null" in type_words_shallow(prop)
        assert ("or null" in table[name]["type"]) == nullable, name


# --- docs/api.md: the System page ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("marker", "schema_name", "leaf"),
    [
        ("The answer:", "SystemReport", False),
        ("Its `version`:", "VersionInfo", True),
        ("Its `migrations`:", "MigrationInfo", True),
        ("Its `database`:", "DatabaseInfo", True),
        ("Its `redis`:", "RedisInfo", True),
        ("Its `jobs`", "JobQueueInfo", True),
        ("Its `audit_chain`", "AuditChainInfo", True),
        ("Each of `keys`:", "KeyAge", True),
    ],
)
def test_the_system_page_is_documented_as_served(
    spec: dict[str, Any], marker: str, schema_name: str, leaf: bool
) -> None:
    text = (DOCS / "api.md").read_text()
    table = table_after(text[text.index("## System\n") :], marker)
    schema = spec["components"]["schemas"][schema_name]
    if leaf:
        check_fields(spec, schema, table, "type")
    else:
        assert set(table) == set(schema["properties"]), "documented fields differ"
