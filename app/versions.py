"""Optimistic concurrency over HTTP: a stored thing's version is its ETag, and an edit names the
version it was based on in If-Match, so a save made on a stale copy is refused rather than
overwriting someone's change silently (docs/api.md, "Saving over a version")."""

from __future__ import annotations

from app.errors import Problem


class VersionRequired(Problem):
    status, slug, title = 428, "if-match-required", "Say which version you edited"


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(header: str | None, what: str) -> int:
    """The version an edit was based on, from ``If-Match: "<version>"``; ``what`` names the
    thing edited in the refusal ("the record")."""
    if header is None:
        raise VersionRequired('Send If-Match with the ETag you read, e.g. If-Match: "3".')
    value = header.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise VersionRequired(f"If-Match must be {what}'s ETag.")
    return int(value)
