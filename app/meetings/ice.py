"""ICE servers for a meeting's peer connections, with short-lived TURN credentials.

The credentials follow the TURN REST scheme that coturn checks with ``use-auth-secret``: the
username is ``"<expiry unix seconds>:<user id>"`` and the password is
``base64(HMAC-SHA1(secret, username))``, so coturn needs only the shared secret and Teamwell keeps
no TURN state. Pure: the clock's ``now`` is passed in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import datetime
from typing import Any

from app.clock import as_utc
from app.config import Settings


def turn_credentials(secret: str, *, name: str, expires_at: int) -> tuple[str, str]:
    """(username, credential) valid until ``expires_at`` (unix seconds) for ``name``."""
    username = f"{expires_at}:{name}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


def ice_servers(settings: Settings, *, user_id: uuid.UUID, now: datetime) -> list[dict[str, Any]]:
    """The RTCIceServer list for ``user_id``: the STUN URLs, then the TURN URLs with credentials
    that expire ``turn_credential_seconds`` after ``now``. Empty when neither is configured."""
    servers: list[dict[str, Any]] = []
    if settings.stun_urls:
        servers.append({"urls": list(settings.stun_urls)})
    if settings.turn_urls:
        expires_at = int(as_utc(now).timestamp()) + settings.turn_credential_seconds
        username, credential = turn_credentials(
            settings.secret("turn_secret"), name=str(user_id), expires_at=expires_at
        )
        servers.append(
            {"urls": list(settings.turn_urls), "username": username, "credential": credential}
        )
    return servers
