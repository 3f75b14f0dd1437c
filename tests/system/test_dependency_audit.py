"""The fallback dependency audit (scripts/pypi_advisories.py): what it reports from PyPI's
project pages, including what it cannot vouch for."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "pypi_advisories", ROOT / "scripts" / "pypi_advisories.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


advisories = load()

ADVISORY = {
    "id": "PYSEC-2024-1",
    "aliases": ["GHSA-aaaa-bbbb-cccc"],
    "fixed_in": ["2.0.1"],
}


def page(version: str, *found: dict[str, object]) -> dict[str, object]:
    return {"info": {"version": version}, "vulnerabilities": list(found)}


def test_an_advisory_on_the_installed_newest_release_is_reported() -> None:
    lines = advisories.report([("parser", "2.0.0")], [page("2.0.0", ADVISORY)], set())
    assert lines == [
        "VULNERABLE parser 2.0.0: PYSEC-2024-1 (fixed in: 2.0.1)",
        "vulnerable: 1 packages audited at their newest release from PyPI's project pages, "
        "0 not audited",
    ]


def test_an_accepted_advisory_is_matched_by_any_of_its_names() -> None:
    for name in ("PYSEC-2024-1", "GHSA-aaaa-bbbb-cccc"):
        lines = advisories.report([("parser", "2.0.0")], [page("2.0.0", ADVISORY)], {name})
        assert lines[-1].startswith("clean: 1 packages audited")


def test_an_older_release_is_named_as_not_audited_never_passed() -> None:
    lines = advisories.report(
        [("parser", "1.0.0"), ("quiet", "3.0")], [page("2.0.0", ADVISORY), None], set()
    )
    assert lines[0] == (
        "NOT AUDITED (PyPI's project page describes only the newest release): "
        "parser 1.0.0 (newest 2.0.0), quiet 3.0 (no answer)"
    )
    assert lines[-1].endswith(
        "0 packages audited at their newest release from PyPI's project pages, 2 not audited"
    )


def test_no_answer_at_all_is_unreachable() -> None:
    assert advisories.report([("parser", "1.0")], [None], set())[0].startswith("unreachable:")


def test_pins_and_accepted_ids_are_read_from_their_files(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("fastapi==0.115.0\n-e git+https://example/x#egg=x\nidna==3.7 ; x\n")
    assert advisories.pinned(requirements) == [("fastapi", "0.115.0"), ("idna", "3.7")]
    ignore = tmp_path / ".pip-audit-ignore"
    ignore.write_text("# comment\nGHSA-1  no fix; not exposed\n\n")
    assert advisories.accepted(ignore) == {"GHSA-1"}
