"""Download tokens: a short-lived, signed permission to fetch one version, minted by an
authenticated call and spent at ``GET /files/{token}``, a path that carries no session
authority (it reads no cookie and no bearer header). Pure functions of a secret and ``now``.

A token is ``<payload>.<mac>``, both base64url without padding; the payload is
``v1|<version id>|<user id>|<expiry, unix seconds>|<inline 0/1>`` and the mac its
HMAC-SHA256 under ``TEAMWELL_DOCUMENT_TOKEN_SECRET``. The person it was minted for is in it so
that each use is audited as theirs and their permission is asked again when it is used."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

VERSION = "v1"
MAX_TOKEN_CHARS = 400


class TokenRefused(Exception):
    """A download token that is malformed, forged, altered or expired. ``grant`` is set when
    the signature held (an expired token), so the refusal names whom it was minted for."""

    def __init__(self, reason: str, grant: DownloadGrant | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.grant = grant


@dataclass(frozen=True)
class DownloadGrant:
    version_id: uuid.UUID
    user_id: uuid.UUID
    expires_at: datetime
    inline: bool


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, payload: bytes) -> bytes:
    return hmac.new(secret.encode(), payload, hashlib.sha256).digest()


def mint(secret: str, grant: DownloadGrant) -> str:
    expiry = int(grant.expires_at.timestamp())
    payload = f"{VERSION}|{grant.version_id}|{grant.user_id}|{expiry}|{int(grant.inline)}".encode()
    return f"{_b64(payload)}.{_b64(_mac(secret, payload))}"


def read(secret: str, token: str, *, now: datetime) -> DownloadGrant:
    """The grant a token carries, if it was signed with ``secret`` and has not expired."""
    if len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        raise TokenRefused("not a download token")
    encoded, mac = token.split(".")
    try:
        payload, given = _unb64(encoded), _unb64(mac)
    except (binascii.Error, ValueError):
        raise TokenRefused("not a download token") from None
    # One spelling per token: base64 whose unused bits differ decodes alike, and would
    # otherwise let an altered token through unnoticed.
    if _b64(payload) != encoded or _b64(given) != mac:
        raise TokenRefused("not a download token")
    if not hmac.compare_digest(_mac(secret, payload), given):
        raise TokenRefused("signature does not match (forged or altered)")
    try:
        version, version_id, user_id, expiry, inline = payload.decode().split("|")
        grant = DownloadGrant(
            version_id=uuid.UUID(version_id),
            user_id=uuid.UUID(user_id),
            expires_at=datetime.fromtimestamp(int(expiry), tz=UTC),
            inline=inline == "1",
        )
    except (ValueError, UnicodeDecodeError):
        raise TokenRefused("not a download token") from None
    if version != VERSION:
        raise TokenRefused("not a download token")
    # Expired at its expiry second: a token is good strictly before it.
    if now >= grant.expires_at:
        raise TokenRefused("expired", grant)
    return grant
