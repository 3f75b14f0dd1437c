"""Who is acting, from where, and when: passed from the edge (HTTP or WebSocket) to services."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from app.clock import Clock
from app.users.models import Role, User


@dataclass(frozen=True)
class Actor:
    user_id: uuid.UUID | None
    role: Role | None
    organisation_id: uuid.UUID | None
    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class Context:
    actor: Actor
    clock: Clock

    def now(self) -> datetime:
        return self.clock.now()


ANONYMOUS = Actor(user_id=None, role=None, organisation_id=None)


def acting_as(ctx: Context, user: User) -> Context:
    """A request's context once it knows who is acting (after sign-in, or a new account)."""
    actor = Actor(
        user_id=user.id,
        role=user.role,
        organisation_id=user.organisation_id,
        ip=ctx.actor.ip,
        user_agent=ctx.actor.user_agent,
    )
    return Context(actor=actor, clock=ctx.clock)
