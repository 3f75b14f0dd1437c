"""docs/api.md's documents section is the server's: each table names exactly the fields of the
schema it documents, with their types and which may be null; every problem type the documents
code can answer is in its table; and docs/documents.md names every documents setting."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from app.documents import routes, service
from app.errors import Problem
from tests.conftest import Live
from tests.system.test_api_docs import check_fields, table_after, type_words_shallow

DOCS = Path(__file__).resolve().parents[3] / "docs"
API = (DOCS / "api.md").read_text()


@pytest.fixture(scope="module")
def spec(live_sqlite: Live) -> dict[str, Any]:
    with live_sqlite.client() as http:
        document: dict[str, Any] = http.get("/openapi.json").json()
    return document


@pytest.mark.parametrize(
    ("marker", "schema_name"),
    [
        ("The body of `POST /api/v1/documents/uploads`", "UploadCreate"),
        ("An upload:", "UploadPublic"),
        ("A version:", "VersionPublic"),
    ],
)
def test_the_documents_tables_are_the_schemas(
    spec: dict[str, Any], marker: str, schema_name: str
) -> None:
    check_fields(spec, spec["components"]["schemas"][schema_name], table_after(API, marker), "type")


def test_a_document_is_documented_as_served(spec: dict[str, Any]) -> None:
    table = table_after(API, "A document:")
    schema = spec["components"]["schemas"]["DocumentPublic"]
    assert set(table) == set(schema["properties"]), "documented fields differ"
    for name, prop in schema["properties"].items():
        nullable = "or null" in type_words_shallow(prop)
        assert ("or null" in table[name]["type"]) == nullable, name


def test_every_documents_problem_is_in_the_table() -> None:
    section = API[API.index("## Documents:") : API.index("## Strict input")]
    documented = set(re.findall(r"^\| \d{3} \| `([a-z-]+)` \|", section, re.MULTILINE))
    raised = {
        value.slug
        for module in (service, routes)
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, Problem)
        and value.__module__ == module.__name__
    }
    assert raised and raised <= documented, sorted(raised - documented)


def test_every_documents_setting_is_named_in_the_deployers_guide() -> None:
    guide = (DOCS / "documents.md").read_text()
    names = [name for name in Settings.model_fields if name.startswith("document_")]
    missing = [name for name in names if f"TEAMWELL_{name.upper()}" not in guide]
    assert names and not missing, missing
