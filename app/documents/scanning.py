"""Malware scanning, as the documents service sees it: a ``Scanner`` answers clean, infected or
unavailable, and never raises for an unreachable daemon. The clamd scanner
(``app.documents.clamd``) is the one implementation; no scanner configured means versions are
``not_scanned`` (visible, and shown as such), never "clean"."""

from __future__ import annotations

from collections.abc import AsyncIterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from app.config import Settings


class ScanOutcome(StrEnum):
    CLEAN = "clean"
    INFECTED = "infected"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class ScanResult:
    outcome: ScanOutcome
    signature: str | None = None  # the virus name when INFECTED


class Scanner(Protocol):
    async def scan(self, data: bytes) -> ScanResult: ...

    # The file in parts, scanned as they come; the parts' own errors pass through.
    async def scan_parts(self, parts: AsyncIterable[bytes]) -> ScanResult: ...


def scanner_from_settings(settings: Settings) -> Scanner | None:
    """clamd when ``TEAMWELL_CLAMD_HOST`` is set; None (scanning not configured) otherwise."""
    if not settings.clamd_host:
        return None
    from app.documents.clamd import ClamdScanner

    return ClamdScanner(
        settings.clamd_host,
        settings.clamd_port,
        timeout_seconds=settings.clamd_timeout_seconds,
    )
