"""Known vulnerabilities of installed packages from PyPI's project pages, for when pip-audit's
own services cannot be reached.

pip-audit asks PyPI about each exact version (``/pypi/<name>/<version>/json``) or OSV. Where
only the package index's project pages answer (``/pypi/<name>/json``), those still carry PyPI's
advisories for the project's newest release. That is the installed version for a package kept up
to date, so such a package is audited exactly; a package installed at an older release is not,
and is named as not audited rather than passed.

Usage: python pypi_advisories.py <requirements.txt from pip freeze> [<ignore file>]
Prints one line per finding and a last line "clean: ..." or "vulnerable: ..." (or
"unreachable: ..." when PyPI did not answer at all). Exits 0; scripts/test reads the lines.
"""

from __future__ import annotations

import json
import re
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PYPI = "https://pypi.org/pypi/{name}/json"
TIMEOUT_SECONDS = 20


def pinned(requirements: Path) -> list[tuple[str, str]]:
    found = []
    for line in requirements.read_text().splitlines():
        match = re.fullmatch(r"\s*([A-Za-z0-9._-]+)==([^\s;#]+).*", line)
        if match:
            found.append((match.group(1), match.group(2)))
    return found


def accepted(ignore_file: Path | None) -> set[str]:
    """Advisory ids the ignore file accepts (scripts/test has checked each has a reason)."""
    if ignore_file is None or not ignore_file.exists():
        return set()
    ids = set()
    for line in ignore_file.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            ids.add(line.split()[0])
    return ids


def project(name: str) -> dict | None:
    try:
        # A fixed https address, never a scheme taken from input.
        with urllib.request.urlopen(PYPI.format(name=name), timeout=TIMEOUT_SECONDS) as reply:  # noqa: S310
            return json.load(reply)
    except (urllib.error.URLError, OSError, ValueError):
        return None


def report(
    packages: list[tuple[str, str]], pages: list[dict | None], ignored: set[str]
) -> list[str]:
    """The lines to print, given each pinned package's project page (None: no answer)."""
    if all(page is None for page in pages):
        return ["unreachable: PyPI's project pages did not answer"]
    lines: list[str] = []
    audited, not_audited, findings = 0, [], 0
    for (name, version), page in zip(packages, pages, strict=True):
        if page is None:
            not_audited.append(f"{name} {version} (no answer)")
            continue
        latest = page["info"]["version"]
        if latest != version:
            not_audited.append(f"{name} {version} (newest {latest})")
            continue
        audited += 1
        for advisory in page.get("vulnerabilities") or []:
            if {advisory["id"], *advisory.get("aliases", [])} & ignored:
                continue
            findings += 1
            fixes = ", ".join(advisory.get("fixed_in") or []) or "no fix released"
            lines.append(f"VULNERABLE {name} {version}: {advisory['id']} (fixed in: {fixes})")
    if not_audited:
        lines.append(
            "NOT AUDITED (PyPI's project page describes only the newest release): "
            + ", ".join(not_audited)
        )
    verdict = "vulnerable" if findings else "clean"
    lines.append(
        f"{verdict}: {audited} packages audited at their newest release from PyPI's project "
        f"pages, {len(not_audited)} not audited"
    )
    return lines


def main(argv: list[str]) -> int:
    packages = pinned(Path(argv[1]))
    ignored = accepted(Path(argv[2]) if len(argv) > 2 else None)
    with ThreadPoolExecutor(max_workers=16) as pool:
        pages = list(pool.map(lambda p: project(p[0]), packages))
    print("\n".join(report(packages, pages, ignored)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
