"""Retention rules: pure functions of the settings and ``now`` (from the injected clock), so every
edge is tested without a database or sleeping.

What is kept, and for how long (docs/security.md, "Faults and retention"):

* Sign-in records: a session ends when it is revoked (signed out, reused token, deactivation)
  or when it has gone unused for the idle limit (it can never refresh again). Ended sessions,
  with their refresh tokens, are removed ``auth_days`` after they ended; within a live session,
  refresh tokens are removed ``auth_days`` after they expired.
* One-time links (invitations, questionnaire links, single-sign-on codes): removed
  ``link_days`` after they stopped working (used, revoked or expired, whichever came first).
  They carry no clinical content, only that a link existed.
* Guest links into a client session: removed ``guest_link_days`` after they stopped working
  (used, revoked, the session cancelled, or the link's window closed ``guest_link_close_after``
  after the session's end). The guests' seats in the meeting stay, as attendance (who came, as
  what, when), with their reference to the link cleared: the link's secrets (the digests of its
  token and code) go.
* Messages: erased ``message_days`` after they were sent, only when that setting is given.
* Client records: a closed record, with everything about the client, is removed
  ``closed_client_years`` after it was last changed (the closure, or any later change), only
  when that setting is given. The NHS Records Management Code of Practice keeps mental-health
  records for 20 years after the last contact, and many organisations are bound to keep them
  longer; Teamwell never decides that for them.

"Outlived" is strict: something is kept for the whole period and removed once the period has
passed, i.e. when it ended *before* ``now - period``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetentionPolicy:
    auth_days: int
    link_days: int
    session_idle: timedelta
    message_days: int | None = None
    closed_client_years: int | None = None
    guest_link_days: int = 30
    # How long after a session's end its guest links stop working (guest_link_close_minutes_after).
    guest_link_close_after: timedelta = timedelta(minutes=30)

    def __post_init__(self) -> None:
        if self.auth_days < 0 or self.link_days < 0 or self.guest_link_days < 0:
            raise ValueError("retention periods cannot be negative")
        if self.message_days is not None and self.message_days < 1:
            raise ValueError("messages are kept at least a day")
        if self.closed_client_years is not None and self.closed_client_years < 1:
            raise ValueError("closed client records are kept at least a year")


@dataclass(frozen=True)
class Cutoffs:
    """What ended (or was sent, or was last changed) before these instants has outlived its
    retention; ``None``: that kind is kept."""

    auth_ended_before: datetime
    link_ended_before: datetime
    guest_link_ended_before: datetime
    messages_sent_before: datetime | None
    closed_clients_changed_before: datetime | None


def years_before(moment: datetime, years: int) -> datetime:
    """The same calendar moment ``years`` earlier; 29 February becomes the 28th."""
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:
        return moment.replace(year=moment.year - years, day=28)


def cutoffs(policy: RetentionPolicy, now: datetime) -> Cutoffs:
    return Cutoffs(
        auth_ended_before=now - timedelta(days=policy.auth_days),
        link_ended_before=now - timedelta(days=policy.link_days),
        guest_link_ended_before=now - timedelta(days=policy.guest_link_days),
        messages_sent_before=(
            now - timedelta(days=policy.message_days) if policy.message_days is not None else None
        ),
        closed_clients_changed_before=(
            years_before(now, policy.closed_client_years)
            if policy.closed_client_years is not None
            else None
        ),
    )


def session_ended_at(
    *, revoked_at: datetime | None, last_used_at: datetime, idle: timedelta
) -> datetime:
    """When a sign-in session ended: its revocation, or else when it went idle for good."""
    return revoked_at if revoked_at is not None else last_used_at + idle


def link_ended_at(expires_at: datetime, *ends: datetime | None) -> datetime:
    """When a one-time link stopped working: the first of its expiry and any use or revocation."""
    return min([expires_at, *(end for end in ends if end is not None)])


def guest_link_ended_at(
    *,
    session_ends_at: datetime,
    close_after: timedelta,
    used_at: datetime | None = None,
    revoked_at: datetime | None = None,
    cancelled_at: datetime | None = None,
) -> datetime:
    """When a guest link stopped working: its use, its withdrawal, the session's cancellation,
    or else the close of its window after the session's end, whichever came first."""
    return link_ended_at(session_ends_at + close_after, used_at, revoked_at, cancelled_at)


def has_outlived(ended_at: datetime, before: datetime | None) -> bool:
    return before is not None and ended_at < before
