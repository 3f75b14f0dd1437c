"""Signed JSON Web Tokens (HS256) with joserfc, the JOSE library of the authlib project."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

ALGORITHM = "HS256"
ISSUER = "teamwell"


class InvalidToken(Exception):
    """A token refused. ``signed``: its signature held (it expired, or is for another use), so
    ``subject`` is who it was issued to; otherwise ``subject`` is only who it claims to be."""

    def __init__(
        self, reason: str, *, subject: uuid.UUID | None = None, signed: bool = False
    ) -> None:
        super().__init__(reason)
        self.subject = subject
        self.signed = signed


def claimed_subject(token: str) -> uuid.UUID | None:
    """The ``sub`` a token claims, read without verifying it (to say whom a forgery named)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return uuid.UUID(str(claims["sub"]))
    except (IndexError, KeyError, TypeError, ValueError, RecursionError, binascii.Error):
        return None


def claimed_purpose(token: str) -> str | None:
    """The ``typ`` a token claims, read without verifying it: which reader to hand it to (the
    reader then verifies everything)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        purpose = claims["typ"]
        return purpose if isinstance(purpose, str) else None
    except (IndexError, KeyError, TypeError, ValueError, RecursionError, binascii.Error):
        return None


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID
    role: str
    mfa: bool
    expires_at: int


class TokenSigner:
    def __init__(self, secret: str) -> None:
        self._key = OctKey.import_key(secret.encode())
        # A key of its own for refresh successors, so that no value made with it is also a
        # valid signature of anything.
        self._successor_key = hmac.new(
            secret.encode(), b"teamwell refresh-token successor", hashlib.sha256
        ).digest()

    def refresh_successor(self, refresh_token: str) -> str:
        """The refresh token that replaces ``refresh_token`` when it is used: derived from it
        with a server key rather than drawn at random, so that a request presenting it again
        (a second tab refreshing at the same moment) can be given the same successor instead
        of starting a second line of tokens. Unpredictable without the key, like a random one.
        """
        digest = hmac.new(self._successor_key, refresh_token.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def encode(self, claims: dict[str, Any], *, now: datetime, lifetime: timedelta) -> str:
        body = {
            **claims,
            "iss": ISSUER,
            "iat": int(now.timestamp()),
            "exp": int((now + lifetime).timestamp()),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode({"alg": ALGORITHM, "typ": "JWT"}, body, self._key, algorithms=[ALGORITHM])

    def decode(self, token: str, *, purpose: str, now: datetime) -> dict[str, Any]:
        """Verify signature, algorithm, issuer, expiry and purpose (``typ`` claim)."""
        try:
            # Only HS256 is accepted; a token naming another algorithm (or "none") is refused.
            decoded = jwt.decode(token, self._key, algorithms=[ALGORITHM])
        # RecursionError: a header or claims of deeply nested JSON, made to crash the parser.
        except (JoseError, ValueError, RecursionError) as exc:
            raise InvalidToken(
                "token signature or format is not valid", subject=claimed_subject(token)
            ) from exc
        claims = dict(decoded.claims)
        subject = claimed_subject(token)
        if decoded.header.get("alg") != ALGORITHM:
            raise InvalidToken("unexpected algorithm", subject=subject)
        if claims.get("iss") != ISSUER or claims.get("typ") != purpose:
            raise InvalidToken("token is not for this use", subject=subject, signed=True)
        exp = claims.get("exp")
        if not isinstance(exp, int) or exp <= int(now.timestamp()):
            raise InvalidToken("token has expired", subject=subject, signed=True)
        return claims

    def access_token(
        self,
        *,
        user_id: uuid.UUID,
        session_id: uuid.UUID,
        role: str,
        mfa: bool,
        now: datetime,
        lifetime: timedelta,
    ) -> str:
        claims = {
            "typ": "access",
            "sub": str(user_id),
            "sid": str(session_id),
            "role": role,
            "mfa": mfa,
        }
        return self.encode(claims, now=now, lifetime=lifetime)

    def read_access_token(self, token: str, *, now: datetime) -> AccessClaims:
        claims = self.decode(token, purpose="access", now=now)
        try:
            return AccessClaims(
                user_id=uuid.UUID(claims["sub"]),
                session_id=uuid.UUID(claims["sid"]),
                role=str(claims["role"]),
                mfa=bool(claims.get("mfa")),
                expires_at=int(claims["exp"]),
            )
        except (KeyError, ValueError) as exc:
            raise InvalidToken(
                "token claims are incomplete", subject=claimed_subject(token), signed=True
            ) from exc


@dataclass(frozen=True)
class GuestClaims:
    """A guest's credential: one guest link, one meeting, nothing else. Its ``typ`` is
    ``guest``, so every route and the gateway, which read only ``access`` tokens, refuse it."""

    link_id: uuid.UUID
    meeting_id: uuid.UUID
    expires_at: int


def guest_token(
    signer: TokenSigner,
    *,
    link_id: uuid.UUID,
    meeting_id: uuid.UUID,
    now: datetime,
    lifetime: timedelta,
) -> str:
    claims = {"typ": "guest", "sub": str(link_id), "mid": str(meeting_id)}
    return signer.encode(claims, now=now, lifetime=lifetime)


def read_guest_token(signer: TokenSigner, token: str, *, now: datetime) -> GuestClaims:
    claims = signer.decode(token, purpose="guest", now=now)
    try:
        return GuestClaims(
            link_id=uuid.UUID(claims["sub"]),
            meeting_id=uuid.UUID(claims["mid"]),
            expires_at=int(claims["exp"]),
        )
    except (KeyError, ValueError) as exc:
        raise InvalidToken("token claims are incomplete", signed=True) from exc
