"""Who may use the IPS routes that are not about one client's record.

Routes about a client (the journey, milestones, jobs, reviews, assigning a specialist) use the
record policies in ``auth.policies`` (``ReadableClient``, ``ChangeableClient``). These rules have
the same shape (``User -> Decision``) and belong with them in ``auth/policies.py``; they live
here until that file is free to change.
"""

from __future__ import annotations

from app.users.models import CLINICAL_ROLES, Role, User
from auth.policies import ALLOW, Decision


def can_log_employer_contacts(user: User) -> Decision:
    """Job development is the employment specialist's: they log their own employer contacts."""
    if user.role == Role.employment_specialist:
        return ALLOW
    return Decision(False, "employment specialists log their own employer contacts")


def can_read_employer_contacts(user: User) -> Decision:
    """A specialist reads their own log; a supervisor the logs of the specialists they supervise
    (the IPS-25 job-development items are judged on them)."""
    if user.role in (Role.employment_specialist, Role.supervisor):
        return ALLOW
    return Decision(False, "employer contacts are read by the specialists and their supervisors")


def can_read_caseloads(user: User) -> Decision:
    """Caseload sizes (counts, no client names) are open to the clinical team."""
    if user.role in CLINICAL_ROLES:
        return ALLOW
    return Decision(False, "caseloads are for the clinical team and its supervisors")


def can_override_caseload(user: User) -> Decision:
    """Assigning beyond the caseload limit is a supervisor's decision."""
    if user.role == Role.supervisor:
        return ALLOW
    return Decision(False, "only a supervisor may assign beyond the caseload limit")
