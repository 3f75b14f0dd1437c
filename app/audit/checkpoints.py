"""Signed checkpoints of the audit chain, kept apart from the database.

The hash chain finds an event altered or removed from the middle, but not the newest events
removed: what is left is still a valid chain. So each server process, every
``audit_checkpoint_seconds`` while events are being written, reads the chain's length and its
newest event (in one statement, so both describe the same committed prefix of the chain) and
appends them as one line, signed with Ed25519 under a key of its own, to a file outside the
database. ``verify_chain`` then requires every checkpoint's event to be in the chain at the
position it counted, with the hash it recorded: removing the newest events, or replacing them
with a consistent chain of one's own, leaves a checkpoint that the table no longer matches, and
a line written without the key does not verify.

Appends are one ``write`` each (``O_APPEND``) and fsynced, so several processes on one host may
share the file; on several hosts each writes its own, and ``teamwell verify-audit`` is given all
of them. Each process checkpoints what every process committed, since it reads the table.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from app.audit import service as audit_service
from app.audit.service import Checkpoint
from app.clock import Clock
from app.config import Settings
from app.db import read_only
from app.errors import is_outage

log = logging.getLogger("teamwell.audit")

# Keeps the signing key apart from anything else derived from the same secret.
KEY_CONTEXT = b"teamwell audit checkpoint key\0"


def signing_key(secret: str) -> Ed25519PrivateKey:
    """The Ed25519 key for a configured (or generated) ``audit_checkpoint_key``."""
    return Ed25519PrivateKey.from_private_bytes(
        hashlib.sha256(KEY_CONTEXT + secret.encode()).digest()
    )


def settings_key(settings: Settings) -> Ed25519PrivateKey:
    return signing_key(settings.secret("audit_checkpoint_key"))


def _payload(checkpoint: Checkpoint) -> bytes:
    fields = {
        "count": checkpoint.count,
        "head_id": checkpoint.head_id,
        "head_hash": checkpoint.head_hash,
        "at": checkpoint.at.isoformat(),
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def encode(checkpoint: Checkpoint, key: Ed25519PrivateKey) -> str:
    """One line of the checkpoint file (without its newline)."""
    payload = _payload(checkpoint)
    signature = base64.b64encode(key.sign(payload)).decode()
    return json.dumps({**json.loads(payload), "sig": signature}, separators=(",", ":"))


class ForgedCheckpoint(ValueError):
    """A line of a checkpoint file that is not a checkpoint signed with the key."""


def decode(line: str, key: Ed25519PublicKey) -> Checkpoint:
    try:
        fields = json.loads(line)
        checkpoint = Checkpoint(
            count=_strict_int(fields["count"]),
            head_id=_strict_int(fields["head_id"]),
            head_hash=str(fields["head_hash"]),
            at=datetime.fromisoformat(fields["at"]),
        )
        key.verify(base64.b64decode(fields["sig"], validate=True), _payload(checkpoint))
    except (ValueError, KeyError, TypeError, InvalidSignature) as exc:
        raise ForgedCheckpoint("not a checkpoint signed with the checkpoint key") from exc
    return checkpoint


def _strict_int(value: object) -> int:
    if type(value) is not int:
        raise TypeError("not an integer")
    return value


def append(path: Path, checkpoint: Checkpoint, key: Ed25519PrivateKey) -> None:
    """Append one signed line and make it durable before returning (blocking: run in a thread)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (encode(checkpoint, key) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)  # one write with O_APPEND: lines of several processes never interleave
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Loaded:
    checkpoints: list[Checkpoint]
    # The file and line number of each line that did not verify.
    forged: list[tuple[Path, int]]


def load(paths: Iterable[Path], key: Ed25519PublicKey) -> Loaded:
    """Every checkpoint in these files (a file not there yet has none)."""
    checkpoints: list[Checkpoint] = []
    forged: list[tuple[Path, int]] = []
    for path in paths:
        try:
            text = path.read_text()
        except FileNotFoundError:
            continue
        lines = text.split("\n")
        # The last piece has no newline yet: an append being written as we read (or nothing).
        for number, line in enumerate(lines[:-1], start=1):
            if not line.strip():
                continue
            try:
                checkpoints.append(decode(line, key))
            except ForgedCheckpoint:
                forged.append((path, number))
    return Loaded(checkpoints, forged)


async def verify(
    session: AsyncSession,
    paths: Iterable[Path],
    key: Ed25519PublicKey,
    *,
    name_files: bool = True,
) -> audit_service.ChainVerdict:
    """The chain checked against every checkpoint in these files. The files are read before the
    table, so each checkpoint describes events committed before the walk begins.

    ``name_files``: whether a forged line is named by its file's path ("<path> line <n>"), for
    the operator at ``teamwell verify-audit``, or only as "checkpoint line <n>", for the API,
    whose answer leaves the server and names none of its paths."""
    loaded = await asyncio.to_thread(load, list(paths), key)
    if loaded.forged:
        where = [
            f"{path} line {number}" if name_files else f"checkpoint line {number}"
            for path, number in loaded.forged[:5]
        ]
        return audit_service.ChainVerdict(
            ok=False,
            checked=0,
            reason=(
                f"{len(loaded.forged)} checkpoint line(s) not signed with the checkpoint key "
                f"(forged or damaged): {', '.join(where)}"
            ),
        )
    return await audit_service.verify_chain(session, checkpoints=loaded.checkpoints)


# How long the first checkpoint may hold up the server's start.
START_SECONDS = 5.0


class Checkpointer:
    """The process's checkpoint writer: one at start, then every ``interval`` seconds when the
    chain has grown (or changed), and one at stop."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        path: Path,
        key: Ed25519PrivateKey,
        clock: Clock,
        interval: float,
    ) -> None:
        self.sessions = sessions
        self.path = path
        self.key = key
        self.clock = clock
        self.interval = interval
        self.last: Checkpoint | None = None
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._written: Callable[[Checkpoint], None] | None = None

    async def start(self) -> None:
        """Checkpoint what is there (before the service answers anyone), then keep on. A
        database that does not answer in time does not hold up the start: the next interval
        tries again."""
        try:
            await asyncio.wait_for(self._checkpoint_or_log(), timeout=START_SECONDS)
        except TimeoutError:
            log.warning("no audit checkpoint at start: the database did not answer in time")
        self._task = asyncio.create_task(self._run(), name="audit checkpointer")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._checkpoint_or_log()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.interval)
            if self._stopping.is_set():
                return
            await self._checkpoint_or_log()

    async def _checkpoint_or_log(self) -> None:
        # A failed checkpoint only widens the window until the next one: the service goes on.
        try:
            await self.checkpoint()
        except Exception as exc:
            if is_outage(exc):  # the database away or not migrated yet: one line, as elsewhere
                log.warning("no audit checkpoint: the database is away or not migrated: %r", exc)
            else:
                log.exception("an audit checkpoint could not be written")

    async def checkpoint(self) -> Checkpoint | None:
        """Write a checkpoint if the chain is not where the last one left it; returns it."""
        async with self.sessions() as session:
            read_only(session)
            head = await audit_service.chain_head(session, after=self.last, at=self.clock.now())
        if head is None:
            return None
        if head.recounted and self.last is not None:
            log.error(
                "the audit trail no longer holds event %d as checkpointed at %s: events were "
                "removed or rewritten (run teamwell verify-audit)",
                self.last.head_id,
                self.last.at.isoformat(),
            )
        checkpoint = head.checkpoint
        if self.last is not None and (checkpoint.head_id, checkpoint.head_hash) == (
            self.last.head_id,
            self.last.head_hash,
        ):
            return None
        await asyncio.to_thread(append, self.path, checkpoint, self.key)
        self.last = checkpoint
        if self._written is not None:
            self._written(checkpoint)
        return checkpoint

    def on_written(self, callback: Callable[[Checkpoint], None]) -> None:
        """Call ``callback`` after each checkpoint is written (for tests waiting on one)."""
        self._written = callback
