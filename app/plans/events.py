"""What a plan announces: each saved change and each comment, to everyone who may read the
client's record (``auth.policies.clients.record_audience``), once stored."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from app.events import Event
from app.plans.schemas import CommentPublic, PlanPublic
from realtime import protocol as p


class PlanUpdated(Event):
    frame: p.PlanUpdated


class PlanCommented(Event):
    frame: p.PlanCommented


def plan_updated(
    *,
    audience: Iterable[uuid.UUID],
    plan: PlanPublic,
    sections: list[str],
    by: uuid.UUID,
    by_name: str,
) -> PlanUpdated:
    return PlanUpdated(
        to=frozenset(audience),
        frame=p.PlanUpdated(
            client_id=plan.client_id,
            version=plan.version,
            sections=sections,
            updated_by=by,
            updated_by_name=by_name,
            content=plan.content,
        ),
    )


def plan_commented(
    *, audience: Iterable[uuid.UUID], client_id: uuid.UUID, comment: CommentPublic
) -> PlanCommented:
    return PlanCommented(
        to=frozenset(audience), frame=p.PlanCommented(client_id=client_id, comment=comment)
    )
