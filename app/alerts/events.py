"""What an alert announces: itself, to its one recipient, once it is stored (``alert.raised``).
Raised by a questionnaire's risk answer (app/measures) and by overdue IPS journey items
(app/ips)."""

from __future__ import annotations

from app.alerts.models import Alert
from app.clients.models import ClientRecord
from app.events import Event
from app.measures.service import alert_public
from realtime import protocol as p


class AlertRaised(Event):
    frame: p.AlertRaised


def alert_raised(alert: Alert, client: ClientRecord) -> AlertRaised:
    return AlertRaised(
        to=frozenset({alert.recipient_id}), frame=p.AlertRaised(alert=alert_public(alert, client))
    )
