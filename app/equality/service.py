"""Equality monitoring: the client's own answers, sealed at rest, and their use in aggregate.

No function here returns one person's answers to anyone but that person: ``own_answers`` is
called only for the signed-in client, and reporting reads them through ``group_of`` into
suppressed counts (app/reports/equality.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.equality.models import EqualityProfile
from app.equality.schemas import PREFER_NOT, EqualityAnswers, EqualityPublic
from app.errors import NotFound
from app.messaging.keyring import MessageKeyring

NOT_RECORDED = "not_recorded"

# Ethnicity is reported by the ONS's five high-level groups: 19 categories would leave almost
# every cell below the suppression threshold.
ETHNIC_GROUPS = ("asian", "black", "mixed", "white", "other")


class NoClientRecord(NotFound):
    pass


def profile_aad(client_id: uuid.UUID) -> bytes:
    """Binds the sealed answers to their client: copied onto another client they do not open."""
    return f"equality_profile:{client_id}".encode()


def _seal(
    keyring: MessageKeyring, client_id: uuid.UUID, answers: EqualityAnswers
) -> tuple[str, bytes]:
    plain = json.dumps(answers.model_dump(mode="json", exclude_none=True), sort_keys=True)
    return keyring.encrypt(plain, aad=profile_aad(client_id))


def _open(keyring: MessageKeyring, profile: EqualityProfile) -> EqualityAnswers:
    plain = keyring.decrypt(
        profile.answers_key_id, profile.answers_ciphertext, aad=profile_aad(profile.client_id)
    )
    return EqualityAnswers.model_validate(json.loads(plain))


async def _profile(session: AsyncSession, client_id: uuid.UUID) -> EqualityProfile | None:
    rows = await session.exec(select(EqualityProfile).where(EqualityProfile.client_id == client_id))
    return rows.first()


async def save(
    *,
    session: AsyncSession,
    keyring: MessageKeyring,
    client_id: uuid.UUID,
    answers: EqualityAnswers,
    entered_by: Literal["client", "staff"],
    consent_by: uuid.UUID,
    now: datetime,
) -> EqualityProfile:
    """Replace the client's answers (a question left out is no longer answered)."""
    key_id, blob = _seal(keyring, client_id, answers)
    profile = await _profile(session, client_id)
    if profile is None:
        profile = EqualityProfile(
            client_id=client_id,
            answers_key_id=key_id,
            answers_ciphertext=blob,
            entered_by=entered_by,
            consent_recorded_by=consent_by,
            consent_recorded_at=now,
            updated_at=now,
        )
    else:
        profile.answers_key_id, profile.answers_ciphertext = key_id, blob
        profile.entered_by = entered_by
        profile.consent_recorded_by, profile.consent_recorded_at = consent_by, now
        profile.updated_at = now
    session.add(profile)
    await session.commit()
    return profile


async def own_answers(
    *, session: AsyncSession, keyring: MessageKeyring, client_id: uuid.UUID
) -> EqualityPublic:
    """The signed-in client's own answers (all null when they have given none)."""
    profile = await _profile(session, client_id)
    if profile is None:
        return EqualityPublic(answers=EqualityAnswers(), entered_by=None, updated_at=None)
    return EqualityPublic(
        answers=_open(keyring, profile),
        entered_by="staff" if profile.entered_by == "staff" else "client",
        updated_at=profile.updated_at,
    )


async def withdraw(*, session: AsyncSession, client_id: uuid.UUID) -> bool:
    """The client withdraws: the answers are deleted, not kept. True if there were any."""
    profile = await _profile(session, client_id)
    if profile is None:
        return False
    await session.delete(profile)
    await session.commit()
    return True


async def answers_of(
    *, session: AsyncSession, keyring: MessageKeyring, client_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, EqualityAnswers]:
    """For aggregate reporting only: never returned to a caller as one person's answers."""
    ids = list(client_ids)
    if not ids:
        return {}
    rows = await session.exec(
        select(EqualityProfile).where(col(EqualityProfile.client_id).in_(ids))
    )
    return {p.client_id: _open(keyring, p) for p in rows}


def group_of(answers: EqualityAnswers | None, characteristic: str) -> str:
    """The reporting group of one client for one characteristic."""
    if answers is None:
        return NOT_RECORDED
    value = getattr(answers, characteristic)
    if value is None:
        return NOT_RECORDED
    text = str(value)
    if characteristic == "ethnicity" and text != PREFER_NOT:
        return text.split("_", 1)[0]
    return text


def groups_of(characteristic: str) -> tuple[str, ...]:
    """Every group of a characteristic, in the order reports show them."""
    if characteristic == "ethnicity":
        return (*ETHNIC_GROUPS, PREFER_NOT, NOT_RECORDED)
    enum = EqualityAnswers.model_fields[characteristic].annotation
    values = [str(v) for v in enum.__args__[0] if str(v) != PREFER_NOT]  # type: ignore[union-attr]
    return (*values, PREFER_NOT, NOT_RECORDED)
