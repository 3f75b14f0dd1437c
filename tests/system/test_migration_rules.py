"""Expand, then contract (docs/deploy.md, "Upgrades"): during a rolling upgrade the previous
release's processes run against the new schema, so a migration may only add to it. A migration
that drops or renames a column or table, makes a column NOT NULL, or adds a NOT NULL column
without a server default breaks the old code's reads or inserts; it must wait for the next
release and say so as a contract step, with a module constant naming the revision whose release
stopped using what it removes::

    CONTRACT = "0024_plans_new_title"   # that release's code no longer reads plan.title

The rule reads each migration's ``upgrade()`` source (its alembic operations, and raw SQL handed
to ``op.execute``), not a database: it is cheap, and runs with the unit tests."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from app.migrate import MIGRATIONS_DIR, script_directory

# The migrations written before the rule (0001 to 0021_delivery_claims) are checked by it as
# any other: when it came in, none broke it (they create tables, add nullable or server-defaulted
# columns, relax NOT NULL, and fill new columns with UPDATE), so none needs an exception. One
# that must ship anyway is listed here, revision id to why the release it came in survived it;
# the list cannot grow unnoticed: an entry that breaks nothing, or a breaking migration missing
# from it, fails `test_grandfathered_migrations_are_exactly_those_that_break_the_rule`.
GRANDFATHERED: dict[str, str] = {}

# Raw SQL that removes, renames or tightens: DROP (a table, a column, a constraint's column),
# RENAME, or SET NOT NULL.
DESTRUCTIVE_SQL = re.compile(r"\b(DROP\s+(TABLE|COLUMN)|RENAME|SET\s+NOT\s+NULL)\b", re.IGNORECASE)


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_constant(node: ast.expr | None, value: object) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def _column_not_null_without_default(column: ast.expr) -> bool:
    if not (isinstance(column, ast.Call) and _call_name(column) == "Column"):
        return False
    not_null = _is_constant(_keyword(column, "nullable"), False) or _is_constant(
        _keyword(column, "primary_key"), True
    )
    return not_null and _keyword(column, "server_default") is None


def _call_name(call: ast.Call) -> str:
    func = call.func
    return (
        func.attr
        if isinstance(func, ast.Attribute)
        else func.id
        if isinstance(func, ast.Name)
        else ""
    )


def _strings(node: ast.AST) -> list[str]:
    return [
        n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    ]


def breaking_operations(source: str) -> list[str]:
    """What in a migration's ``upgrade()`` the previous release's code would not survive, one
    line each (empty: an expand step)."""
    tree = ast.parse(source)
    upgrade = next(
        (n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "upgrade"), None
    )
    if upgrade is None:
        return []
    found: list[str] = []
    for node in ast.walk(upgrade):
        if not isinstance(node, ast.Call):
            continue
        name, line = _call_name(node), node.lineno
        if name in {"drop_column", "drop_table"}:
            found.append(f"line {line}: {name}")
        elif name == "rename_table":
            found.append(f"line {line}: rename_table")
        elif name == "alter_column":
            if _keyword(node, "new_column_name") is not None:
                found.append(f"line {line}: alter_column renames a column")
            if _is_constant(_keyword(node, "nullable"), False) and (
                _keyword(node, "server_default") is None
            ):
                found.append(f"line {line}: alter_column makes a column NOT NULL")
        elif name == "add_column":
            if any(_column_not_null_without_default(arg) for arg in node.args):
                found.append(f"line {line}: add_column NOT NULL without a server default")
        elif name == "execute" and any(DESTRUCTIVE_SQL.search(t) for t in _strings(node)):
            found.append(f"line {line}: execute with SQL that drops, renames or sets NOT NULL")
    return found


def contract_of(source: str) -> str | None:
    """The revision a contract step declares it follows (its module's ``CONTRACT``), if any."""
    for node in ast.parse(source).body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        if any(isinstance(t, ast.Name) and t.id == "CONTRACT" for t in targets):
            value = node.value
            assert isinstance(value, ast.Constant) and isinstance(value.value, str), (
                "CONTRACT names a revision, as a string"
            )
            return value.value
    return None


def migrations() -> list[tuple[str, str, list[str]]]:
    """Each migration's revision, source and ancestors (oldest first), in order."""
    steps = list(script_directory().walk_revisions())[::-1]
    order = [step.revision for step in steps]
    return [
        (step.revision, Path(str(step.path)).read_text(), order[:index])
        for index, step in enumerate(steps)
    ]


def test_migrations_expand_only_unless_a_declared_contract_step() -> None:
    refused = []
    for revision, source, ancestors in migrations():
        broken = breaking_operations(source)
        contract = contract_of(source)
        if contract is not None:
            # It follows the release that stopped using what it removes: an earlier revision.
            # That the release between is a whole one is what the rolling-upgrade test shows
            # (tests/system/test_rolling_upgrade.py runs the previous release on the new schema).
            assert contract in ancestors, (
                f"{revision}: CONTRACT = {contract!r} must name an earlier revision"
            )
            continue
        if broken and revision not in GRANDFATHERED:
            refused.append(f"{revision}: " + "; ".join(broken))
    assert not refused, (
        "these migrations would break the previous release during a rolling upgrade; make "
        "them expand steps, or contract steps a release later with CONTRACT = '<revision>' "
        "(docs/deploy.md, Upgrades):\n" + "\n".join(refused)
    )


def test_grandfathered_migrations_are_exactly_those_that_break_the_rule() -> None:
    every = migrations()
    breaking = {revision for revision, source, _ in every if breaking_operations(source)}
    contracts = {revision for revision, source, _ in every if contract_of(source)}
    assert set(GRANDFATHERED) == breaking - contracts, (
        "an exception is for a migration that breaks the rule, and only a grandfathered one"
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('op.drop_table("plan")', "drop_table"),
        ('batch_op.drop_column("title")', "drop_column"),
        ('op.rename_table("plan", "care_plan")', "rename_table"),
        ('batch_op.alter_column("title", new_column_name="name")', "renames a column"),
        ('batch_op.alter_column("title", existing_type=sa.String(), nullable=False)', "NOT NULL"),
        ('batch_op.add_column(sa.Column("n", sa.Integer(), nullable=False))', "server default"),
        ('batch_op.add_column(sa.Column("n", sa.Integer(), primary_key=True))', "server default"),
        ('op.execute("ALTER TABLE plan DROP COLUMN title")', "execute"),
        ('op.execute(sa.text("ALTER TABLE plan RENAME TO care_plan"))', "execute"),
        ('op.execute("ALTER TABLE plan ALTER COLUMN title SET NOT NULL")', "execute"),
    ],
)
def test_the_rule_finds_each_breaking_operation(body: str, expected: str) -> None:
    source = f"def upgrade() -> None:\n    {body}\n\n\ndef downgrade() -> None:\n    pass\n"
    [found] = breaking_operations(source)
    assert expected in found


@pytest.mark.parametrize(
    "body",
    [
        'op.create_table("plan", sa.Column("id", sa.Uuid(), nullable=False))',
        'batch_op.add_column(sa.Column("n", sa.Integer(), nullable=True))',
        'batch_op.add_column(sa.Column("n", sa.Integer()))',
        'batch_op.add_column(sa.Column("n", sa.Boolean(), nullable=False, server_default="0"))',
        'batch_op.alter_column("title", existing_type=sa.String(), nullable=True)',
        'op.execute("UPDATE plan SET title = name")',
        'op.drop_index("ix_plan_title")',
    ],
)
def test_the_rule_lets_expand_steps_through(body: str) -> None:
    # downgrade() drops what upgrade() made, as it must: only upgrade() is read.
    source = (
        f"def upgrade() -> None:\n    {body}\n\n\n"
        'def downgrade() -> None:\n    op.drop_table("plan")\n'
    )
    assert breaking_operations(source) == []


def test_a_contract_step_names_the_revision_it_follows() -> None:
    source = 'CONTRACT = "0020_documents"\n\ndef upgrade() -> None:\n    op.drop_table("x")\n'
    assert contract_of(source) == "0020_documents"
    assert contract_of("def upgrade() -> None:\n    pass\n") is None


def test_every_migration_file_is_read() -> None:
    files = {p.name for p in (MIGRATIONS_DIR / "versions").glob("*.py")}
    read = {Path(str(step.path)).name for step in script_directory().walk_revisions()}
    assert files == read
