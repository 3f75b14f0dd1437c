"""The System page (app/system): how the service itself is running.

It names no person and no client, and never a secret (only key ids and ages), but it is the
running of the whole service, for the people who run it: admins only."""

from __future__ import annotations

from app.users.models import Role, User
from auth.policies.decision import ALLOW, Decision


def can_read_system(user: User) -> Decision:
    if user.role == Role.admin and user.is_active:
        return ALLOW
    return Decision(False, "only admins see the state of the service")
