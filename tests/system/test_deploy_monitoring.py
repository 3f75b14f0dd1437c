"""The alert rules and the dashboard in deploy/: promtool accepts the rules, and every metric
they and the dashboard name is one the service exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

import app.metrics  # noqa: F401  (every metric registered)

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus-rules.yml"
DASHBOARD = DEPLOY / "grafana-dashboard.json"
NAME = re.compile(r"\bteamwell_[a-z_]+")


def exported() -> set[str]:
    names = set()
    for family in REGISTRY.collect():
        names.update(sample.name for sample in family.samples)
        names.add(family.name)
        for suffix in ("_total", "_bucket", "_count", "_sum"):
            names.add(family.name + suffix)
    return names


def test_promtool_accepts_the_rules() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is missing (Debian package prometheus)")
    checked = subprocess.run(
        [promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_rules_and_dashboard_name_only_exported_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    named = set(NAME.findall(RULES.read_text())) | {
        name for expr in expressions for name in NAME.findall(expr)
    }
    assert named, "the rules and the dashboard use the service's metrics"
    assert named <= exported(), named - exported()


def test_operations_lists_every_metric_the_service_exports() -> None:
    """The table of docs/operations.md "What is exported" names each of the service's metrics,
    and only those."""
    table = (DEPLOY.parent / "docs" / "operations.md").read_text()
    listed = set(re.findall(r"^\| `(teamwell_[a-z_]+)` \|", table, re.M))
    families = {family.name for family in REGISTRY.collect() if family.name.startswith("teamwell_")}
    # The client library names a counter's family without its ``_total``.
    documented = {name.removesuffix("_total") for name in listed}
    assert documented == families, documented ^ families
