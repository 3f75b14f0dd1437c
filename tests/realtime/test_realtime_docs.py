"""docs/realtime.md documents every frame the server sends, with its fields, exactly as
realtime/protocol.py defines them (``SERVER_FRAMES``), and nothing the server does not send.

The server-frame tables (columns ``type | fields | when`` or ``type | fields | to``) name each
frame type and its top-level fields, ``field?`` for one left out when it has no value; a field
whose value is an object or a list of objects lists that object's fields in brackets, and the
objects described in prose (a ``message``, a participant, ``ready.limits``) are checked too."""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path

from pydantic import BaseModel

from realtime import protocol as p

DOC = (Path(__file__).resolve().parents[2] / "docs" / "realtime.md").read_text()
NAME = re.compile(r"`\"?([A-Za-z_][\w.]*\??)\"?`")
NESTED = re.compile(r"\([^()]*\)|\[[^\[\]]*\]|\{[^{}]*\}")


def top_level(cell: str) -> str:
    """The cell without what is in brackets (an object's fields, notes in parentheses)."""
    while True:
        stripped = NESTED.sub("", cell)
        if stripped == cell:
            return cell
        cell = stripped


def cells(row: str) -> list[str]:
    # "\|" inside a cell is a literal bar (alternatives), not a column.
    return [c.strip() for c in re.split(r"(?<!\\)\|", row.strip().strip("|"))]


def documented_frames() -> dict[str, list[str]]:
    """Each documented frame type and the pieces of its fields cell (one per field)."""
    found: dict[str, list[str]] = {}
    in_table = False
    for line in DOC.splitlines():
        if not line.startswith("|"):
            in_table = False
            continue
        row = cells(line)
        if row[:2] == ["type", "fields"]:
            in_table = row[2] in ("when", "to")
            continue
        if not in_table or set(line) <= set("|- "):
            continue
        pieces = split_fields(row[1])
        for frame_type in NAME.findall(row[0]):
            assert frame_type not in found, f"{frame_type} is documented twice"
            found[frame_type] = pieces
    return found


def split_fields(cell: str) -> list[str]:
    """The cell cut at its top-level commas."""
    pieces, depth, current = [], 0, ""
    for char in cell:
        depth += char in "([{"
        depth -= char in ")]}"
        if char == "," and depth == 0:
            pieces.append(current)
            current = ""
        else:
            current += char
    return [piece.strip() for piece in [*pieces, current] if piece.strip()]


def field_names(model: type[BaseModel], *, skip: tuple[str, ...] = ()) -> set[str]:
    """A model's fields as they appear on the wire, ``name?`` when left out without a value."""
    names = set()
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        wire = info.alias or name
        names.add(f"{wire}?" if info.exclude_if is not None else wire)
    return names


def object_model(annotation: object) -> type[BaseModel] | None:
    """The model of a field holding an object or a list of objects, if it is one."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (list, types.UnionType, typing.Union):
        for arg in typing.get_args(annotation):
            found = object_model(arg)
            if found is not None:
                return found
    return None


def listed_fields(group: str) -> set[str]:
    """The field names an object's description lists: ``{`a`, `b` (a note), `c`: `x` \\| `y`}``."""
    names = set()
    for piece in split_fields(group.strip().strip("[]{}()")):
        found = NAME.findall(top_level(piece))
        if found:
            names.add(found[0])
    return names


def test_every_server_frame_is_documented_with_its_fields_and_nothing_else() -> None:
    documented = documented_frames()
    defined = {model.model_fields["type"].default: model for model in p.SERVER_FRAMES}
    assert set(documented) == set(defined), (
        f"not documented: {sorted(set(defined) - set(documented))}; "
        f"documented but never sent: {sorted(set(documented) - set(defined))}"
    )
    for frame_type, pieces in documented.items():
        model = defined[frame_type]
        names = [NAME.findall(top_level(piece)) for piece in pieces]
        assert all(names), f"{frame_type}: a field without its name in {pieces}"
        assert {n[0] for n in names} == field_names(model, skip=("type",)), frame_type
        for piece, found in zip(pieces, names, strict=True):
            name = found[0]
            inner = object_model(model.model_fields[_python_name(model, name)].annotation)
            groups = [g for g in NESTED.findall(piece) if NAME.search(g)]
            if inner is not None and groups:
                assert listed_fields(groups[0]) == field_names(inner), f"{frame_type}.{name}"


def _python_name(model: type[BaseModel], wire: str) -> str:
    wire = wire.rstrip("?")
    return next(name for name, info in model.model_fields.items() if (info.alias or name) == wire)


def test_the_objects_described_in_prose_are_the_ones_sent() -> None:
    message = re.search(r"A `message` is (\{[^}]*\})", DOC)
    assert message is not None
    assert listed_fields(message.group(1)) == field_names(p.MessagePublic)
    participant = re.search(r"A participant is (\{[^}]*\})", DOC)
    assert participant is not None
    assert listed_fields(participant.group(1)) == field_names(p.Participant)
    limits = DOC.split("`ready.limits`, this server's limits", 1)[1].split("\n\n", 2)[1]
    keys = {cells(row)[0].strip("`") for row in limits.splitlines()[2:]}
    assert keys == field_names(p.Limits)
