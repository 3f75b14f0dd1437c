"""What a benefit history announces: each claim added or ended and each better-off calculation,
to everyone who may read it (``auth.policies.benefits.benefits_audience``), once stored. The
frame names the change, not the benefit: a reader fetches the history to see it."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Literal

from app.events import Event
from realtime import protocol as p

Change = Literal["claim_added", "claim_ended", "calculation_added"]


class BenefitsUpdated(Event):
    frame: p.BenefitsUpdated


def benefits_updated(
    *,
    audience: Iterable[uuid.UUID],
    client_id: uuid.UUID,
    change: Change,
    by: uuid.UUID,
    by_name: str,
) -> BenefitsUpdated:
    return BenefitsUpdated(
        to=frozenset(audience),
        frame=p.BenefitsUpdated(
            client_id=client_id, change=change, updated_by=by, updated_by_name=by_name
        ),
    )
