"""Every job kind's handler, imported in one place so every runner knows them all (as
``app.models`` does for tables). A domain keeps its handlers in its own ``jobs.py``."""

import app.documents.jobs  # documents.scan, documents.retention
import app.ips.jobs  # ips.journey_alerts
import app.measures.jobs  # alerts.escalate
import app.meetings.jobs  # meetings.reminder
import app.messaging.jobs  # messages.digest
import app.notifications.jobs  # notifications.deliver
import app.retention.jobs  # retention.run
import app.supervision.jobs  # noqa: F401  (wellbeing.check_in_prompts, wellbeing.check_in_prompt)
