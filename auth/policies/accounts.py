"""Accounts, the audit trail and the staff directory: the admin's work, and who reads what of it."""

from __future__ import annotations

import uuid

from app.users.models import CLINICAL_ROLES, Role, User
from auth.policies.decision import ALLOW, Decision


def can_manage_accounts(user: User) -> Decision:
    if user.role == Role.admin:
        return ALLOW
    return Decision(False, "only admins manage accounts, teams and organisations")


def can_change_organisation(user: User, organisation_id: uuid.UUID) -> Decision:
    """An admin renames or re-classifies their own organisation only: a partner's name and kind
    are what its own people, and the clients who consent to sharing with it, go by."""
    if user.role != Role.admin:
        return Decision(False, "only admins manage accounts, teams and organisations")
    if user.organisation_id != organisation_id:
        return Decision(False, "admins manage their own organisation only")
    return ALLOW


def can_change_role(target: User, new_role: Role) -> Decision:
    """Roles change only among the clinical roles. An account is never made an admin or a
    clinician from the other side (an admin would otherwise give itself, or an account it runs,
    clinical reach), nor a client's login staff or the reverse (it belongs to a record)."""
    if new_role == target.role:
        return ALLOW
    if target.role in CLINICAL_ROLES and new_role in CLINICAL_ROLES:
        return ALLOW
    return Decision(
        False,
        f"a {target.role} account does not become {new_role}; invite a new account instead",
    )


def can_read_audit(user: User) -> Decision:
    if user.role in (Role.admin, Role.supervisor):
        return ALLOW
    return Decision(False, "only supervisors and admins read the audit trail")


def is_staff(user: User) -> Decision:
    if user.is_staff:
        return ALLOW
    return Decision(False, "staff only")


def sees_client_accounts(user: User) -> Decision:
    """The directory of people: admins see every account of their organisation, clients' logins
    among them; clinical staff see the staff directory (clients are found through their
    records, not there)."""
    if user.role == Role.admin:
        return ALLOW
    return Decision(False, "clients are found through their records, not the staff directory")
