"""The backup archive's encryption: a passphrase stretched with scrypt, the archive sealed with
AES-256-GCM in chunks (the STREAM construction), so a file of any size is encrypted and checked
in bounded memory, and a wrong passphrase, an altered byte, reordered chunks or a cut-off file
are all refused before anything is restored.

Layout: ``MAGIC`` | header (salt, scrypt cost, nonce prefix) | chunks, each a 4-byte length and
``AES-GCM(chunk)``. A chunk's nonce is the prefix, its index and a last-chunk flag; the header is
every chunk's associated data, so it cannot be changed either.
"""

from __future__ import annotations

import os
import secrets
import struct
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

MAGIC = b"TEAMWELL-BACKUP-AES256GCM-1\n"
SALT_BYTES = 16
PREFIX_BYTES = 7  # + 4 bytes of chunk index + 1 byte last-chunk flag = the 12-byte nonce
CHUNK_BYTES = 1 << 20
TAG_BYTES = 16
# scrypt at N=2^17, r=8: 128 MiB and about a second, once per backup or restore (the cost is
# stored in the header, so a later version may raise it and still read old archives).
SCRYPT_LOG2_N = 17
SCRYPT_R = 8
SCRYPT_P = 1
# A header naming a cost beyond this is refused rather than allowed to exhaust memory.
MAX_SCRYPT_LOG2_N = 20
_HEADER = struct.Struct(f">{SALT_BYTES}sBBB{PREFIX_BYTES}s")
_LENGTH = struct.Struct(">I")


class ArchiveError(Exception):
    """The archive cannot be opened: not one, a wrong passphrase, or altered."""


class WrongKey(ArchiveError):
    """The passphrase or identity given does not open the archive."""


class Damaged(ArchiveError):
    """The archive was altered, cut off or is not one at all."""


def is_encrypted(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(MAGIC)) == MAGIC


def _key(passphrase: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    if not passphrase:
        raise ArchiveError("the backup passphrase is empty")
    return Scrypt(salt=salt, length=32, n=1 << log2_n, r=r, p=p).derive(passphrase.encode())


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", index, 1 if last else 0)


def encrypt_file(source: Path, target: BinaryIO, passphrase: str) -> None:
    salt, prefix = secrets.token_bytes(SALT_BYTES), secrets.token_bytes(PREFIX_BYTES)
    header = _HEADER.pack(salt, SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P, prefix)
    aead = AESGCM(_key(passphrase, salt, SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P))
    target.write(MAGIC + header)
    size = source.stat().st_size
    chunks = max(1, -(-size // CHUNK_BYTES))
    if chunks >= 1 << 32:
        raise ArchiveError("the archive is too large for one encrypted file")
    with source.open("rb") as plain:
        for index in range(chunks):
            sealed = aead.encrypt(
                _nonce(prefix, index, index == chunks - 1), plain.read(CHUNK_BYTES), header
            )
            target.write(_LENGTH.pack(len(sealed)) + sealed)


def decrypt_file(source: BinaryIO, target: Path, passphrase: str) -> None:
    """Decrypt into ``target`` (created 0600); raises ArchiveError and leaves no usable target
    when the passphrase is wrong or any byte was changed, added or cut off."""
    if source.read(len(MAGIC)) != MAGIC:
        raise Damaged("not an encrypted Teamwell backup")
    header = source.read(_HEADER.size)
    if len(header) != _HEADER.size:
        raise Damaged("the archive is cut off in its header")
    salt, log2_n, r, p, prefix = _HEADER.unpack(header)
    if not (1 <= log2_n <= MAX_SCRYPT_LOG2_N and 1 <= r <= 32 and 1 <= p <= 16):
        raise Damaged("the archive's header was altered (impossible key-stretching cost)")
    aead = AESGCM(_key(passphrase, salt, log2_n, r, p))
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as plain:
        index, finished = 0, False
        while True:
            length_bytes = source.read(_LENGTH.size)
            if not length_bytes:
                break
            if finished:
                raise Damaged("the archive has data after its last chunk (altered)")
            if len(length_bytes) != _LENGTH.size:
                raise Damaged("the archive is cut off")
            (length,) = _LENGTH.unpack(length_bytes)
            if not TAG_BYTES <= length <= CHUNK_BYTES + TAG_BYTES:
                raise Damaged("the archive was altered (impossible chunk length)")
            sealed = source.read(length)
            if len(sealed) != length:
                raise Damaged("the archive is cut off")
            # The last chunk is the one that opens with the last-chunk flag in its nonce.
            for last in (False, True):
                try:
                    plain.write(aead.decrypt(_nonce(prefix, index, last), sealed, header))
                except InvalidTag:
                    continue
                finished = last
                break
            else:
                if index == 0:
                    # The first chunk is where a wrong passphrase shows; an altered header or
                    # first chunk looks the same, and the message says both.
                    raise WrongKey(
                        "the passphrase is wrong, or the archive was altered at its start"
                    )
                raise Damaged(f"the archive was altered (chunk {index} does not verify)")
            index += 1
    if not finished:
        raise Damaged("the archive is cut off (its last chunk is missing)")
