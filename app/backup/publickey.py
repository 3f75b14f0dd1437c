"""Backups encrypted to public keys, so the host that takes them cannot read them.

The archive is an age file (https://age-encryption.org/v1, X25519 recipients, through pyrage):
whoever holds one of the matching identities (private keys) opens it, with ``teamwell restore
--identity FILE`` or the age tools themselves (``age -d -i FILE``). The host that runs the
backups holds only the recipients (public keys), so an intruder there, or on the backup store,
reads nothing. age seals the payload in 64 KiB chunks, each authenticated, and pyrage reads and
writes through file objects, so an archive of any size is encrypted and opened in bounded memory.

age's header names the kind of each recipient stanza (``-> X25519 ...``: an ephemeral public
share and the wrapped file key, no secret) so ``archive_mode`` tells an age archive from a
passphrase one without any key.

Identity files are written as ``age-keygen`` writes them: comment lines (the creation time and
the public key) and one ``AGE-SECRET-KEY-1...`` line, mode 0600.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import pyrage
from pyrage import x25519

from app.backup.archive import ArchiveError, Damaged, WrongKey

AGE_MAGIC = b"age-encryption.org/v1\n"
RECIPIENT_PREFIX = "age1"
IDENTITY_PREFIX = "AGE-SECRET-KEY-1"


class KeyFileError(ArchiveError):
    """A recipient or identity given is not one (its text is never repeated: it may be secret)."""


def is_age(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(AGE_MAGIC)) == AGE_MAGIC


def parse_recipients(values: list[str]) -> list[x25519.Recipient]:
    recipients = []
    for value in values:
        text = value.strip()
        try:
            recipients.append(x25519.Recipient.from_str(text))
        except pyrage.RecipientError:
            # A recipient is public, so it may be named; a pasted identity must not be echoed.
            shown = text if text.lower().startswith(RECIPIENT_PREFIX) else "(not an age1… key)"
            raise KeyFileError(f"not an age X25519 recipient: {shown}") from None
    return recipients


def _key_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or error
        raise KeyFileError(f"cannot read {path}: {reason}") from None
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def read_recipients_file(path: Path) -> list[x25519.Recipient]:
    """One ``age1...`` recipient a line; blank lines and ``#`` comments ignored."""
    return parse_recipients(_key_lines(path))


def read_identities(paths: list[Path]) -> list[x25519.Identity]:
    identities = []
    for path in paths:
        lines = _key_lines(path)
        if not lines:
            raise KeyFileError(f"{path} holds no identity")
        for number, line in enumerate(lines, 1):
            try:
                identities.append(x25519.Identity.from_str(line))
            except pyrage.IdentityError:
                raise KeyFileError(
                    f"{path}: key line {number} is not an age identity (AGE-SECRET-KEY-1…)"
                ) from None
    return identities


def generate_identity(path: Path, now: datetime) -> str:
    """Write a new identity to ``path`` (0600, never over an existing file); return its
    recipient, the public key to give ``teamwell backup --recipient``."""
    identity = x25519.Identity.generate()
    recipient = str(identity.to_public())
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path} exists: an identity is never overwritten") from None
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(
            f"# created: {now.isoformat(timespec='seconds')}\n"
            f"# public key: {recipient}\n"
            f"{identity}\n"
        )
    return recipient


def encrypt_file(source: Path, target: BinaryIO, recipients: list[x25519.Recipient]) -> None:
    if not recipients:
        raise KeyFileError("no recipient to encrypt to")
    with source.open("rb") as plain:
        pyrage.encrypt_io(plain, target, recipients)


def decrypt_file(source: BinaryIO, target: Path, identities: list[x25519.Identity]) -> None:
    """Decrypt into ``target`` (created 0600). A wrong identity raises WrongKey; an altered or
    cut-off archive, Damaged, possibly after part of it was written (the caller throws the
    target away: nothing is restored from an archive that did not open to its end)."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as plain:
        try:
            pyrage.decrypt_io(source, plain, identities)
        except pyrage.DecryptError as error:
            if "No matching keys" in str(error):
                # age cannot tell a recipient stanza altered from one for someone else.
                raise WrongKey(
                    "no identity given opens the backup (it was made for other recipients, or "
                    "its header was altered)"
                ) from None
            raise Damaged(f"the archive is damaged or altered ({error})") from None
        except OSError as error:
            # pyrage reports a payload chunk that does not verify (a changed byte, a cut-off or
            # extended file) as an OSError without an errno; a real I/O error has one.
            if error.errno is not None:
                raise
            raise Damaged("the archive is damaged or altered (a chunk does not verify)") from None
