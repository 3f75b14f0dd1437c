"""A client's plan: who changes which of its sections. Who reads and changes the plan at all is
the record's rule (``auth.policies.clients``)."""

from __future__ import annotations

from collections.abc import Iterable

from app.plans.schemas import CLIENT_EDITABLE
from app.users.models import Role, User
from auth.policies.decision import ALLOW, Decision


def can_change_plan_sections(user: User, sections: Iterable[str]) -> Decision:
    """A client changes only their own goals; the care team changes everything."""
    if user.role == Role.client and not set(sections) <= CLIENT_EDITABLE:
        return Decision(False, "You can change your own goals; your care team changes the rest")
    return ALLOW
