"""Equality monitoring: special-category answers that only the client ever sees as theirs."""

from __future__ import annotations

from app.users.models import Role, User
from auth.policies.decision import ALLOW, Decision


def can_answer_own(user: User) -> Decision:
    """A client reads, gives and withdraws their own answers; nobody else reads them (staff
    may only write them, on the client's consent: ``can_change_client``)."""
    if user.role == Role.client and user.is_active:
        return ALLOW
    return Decision(False, "equality answers are the client's own")
