"""axe-core in the page: ``await axe_check(page, "what is on screen")`` fails the test with every
WCAG 2.2 A/AA violation on the page as it is now, each with the elements it found it on.

Call it once the view has rendered what is to be checked (a heading, a loaded table): axe checks
the DOM it is given, not what arrives later. It runs in the page's own frame under its real
Content-Security-Policy: the rules' source goes in through Playwright's ``evaluate`` (the DevTools
protocol), which the policy does not govern, never as a ``<script>`` the policy would refuse.

The rules are the npm package ``axe-core``, pinned in ``tests/browser/axe/package-lock.json`` and
installed by ``scripts/test`` (``npm ci``) with the same Node.js choice as the SSO tests'
provider. Without them the calling test skips, unless ``TEAMWELL_TEST_NODE=required`` (CI), when
it fails.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

from tests.support.oidc import node_required

AXE_DIR = Path(__file__).resolve().parent / "axe"
AXE_SOURCE = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"

# WCAG 2.0, 2.1 and 2.2 at levels A and AA: the level the service is held to.
WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa")
# The sizes a screen is scanned at: a desktop's and a phone's (width, height).
SIZES = {"desktop": (1366, 768), "phone": (390, 844)}

_RUN = """
async (tags) => {
  const result = await window.axe.run(document, {
    runOnly: { type: 'tag', values: tags },
    resultTypes: ['violations'],
  });
  return result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.map((n) => ({ target: n.target.join(' '), summary: n.failureSummary })),
  }));
}
"""


@functools.cache
def axe_source() -> str:
    if not AXE_SOURCE.exists():
        why = "axe-core is not installed (npm ci --prefix tests/browser/axe)"
        if node_required():
            pytest.fail(f"{why}, and TEAMWELL_TEST_NODE=required")
        pytest.skip(why)
    return AXE_SOURCE.read_text(encoding="utf-8")


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"  {violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"]:
            summary = " ".join(str(node["summary"] or "").split())
            lines.append(f"    - {node['target']}: {summary[:300]}")
    return "\n".join(lines)


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """The WCAG A/AA violations axe finds on the page as it is now."""
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        await page.evaluate(axe_source())
    found: list[dict[str, Any]] = await page.evaluate(_RUN, list(WCAG_TAGS))
    return found


async def axe_check(page: Page, context_label: str) -> None:
    """Fail, listing each violation and its elements, unless axe finds nothing."""
    found = await axe_violations(page)
    assert not found, f"axe-core: accessibility violations on {context_label}:\n" + describe(found)


async def scan_both_sizes(
    page: Page, context_label: str, back_to: tuple[int, int] | None = SIZES["desktop"]
) -> None:
    """``axe_check`` at each of ``SIZES``, then the page back at ``back_to`` (``None``: left at
    the last size), as the steps after the scan expect it."""
    for size, (width, height) in SIZES.items():
        await page.set_viewport_size({"width": width, "height": height})
        await axe_check(page, f"{context_label} at {size} size")
    if back_to is not None:
        await page.set_viewport_size({"width": back_to[0], "height": back_to[1]})
