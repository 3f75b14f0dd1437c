"""What a notice says: fixed texts, one per notice, and nothing else.

No clinical content leaves the service (docs/security.md): a notice never carries a message's
body, a client's name, a score or anything typed by a person. That holds by construction: a
caller names a :class:`Notice` (an enum) and a link into the web client; the words come from
this table alone, and there is no parameter through which other text could reach an email, a
push or an SMS. A link is a route of the web client made of identifiers only (``LINK``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from app.notifications.models import Kind


class Notice(StrEnum):
    new_messages = "new_messages"
    urgent_alert = "urgent_alert"
    urgent_alert_escalated = "urgent_alert_escalated"
    meeting_invitation = "meeting_invitation"
    meeting_reminder = "meeting_reminder"
    questionnaire = "questionnaire"
    journey_work_due = "journey_work_due"
    check_in_due = "check_in_due"
    document_quarantined = "document_quarantined"


@dataclass(frozen=True)
class Template:
    kind: Kind
    # The subject of an email, the title of a push, the first line of an SMS.
    title: str
    # One sentence after the title, generic as the title.
    text: str


TEMPLATES: dict[Notice, Template] = {
    Notice.new_messages: Template(
        Kind.messages,
        "You have a new message in Teamwell",
        "Sign in to Teamwell to read it.",
    ),
    Notice.urgent_alert: Template(
        Kind.urgent_alerts,
        "You have an urgent alert in Teamwell",
        "Sign in to Teamwell to see it and acknowledge it.",
    ),
    Notice.urgent_alert_escalated: Template(
        Kind.urgent_alerts,
        "An urgent alert in Teamwell needs someone to act",
        "It has not been acknowledged. Sign in to Teamwell to see it.",
    ),
    Notice.meeting_invitation: Template(
        Kind.meetings,
        "You have a new meeting invitation in Teamwell",
        "Sign in to Teamwell to see when it is.",
    ),
    Notice.meeting_reminder: Template(
        Kind.meetings,
        "You have a meeting soon in Teamwell",
        "Open Teamwell to see it and join.",
    ),
    Notice.questionnaire: Template(
        Kind.questionnaires,
        "You have a questionnaire to fill in on Teamwell",
        "Open the link to fill it in.",
    ),
    Notice.journey_work_due: Template(
        Kind.journey_work,
        "You have journey work due in Teamwell",
        "Sign in to Teamwell to see what is due.",
    ),
    Notice.check_in_due: Template(
        Kind.check_ins,
        "It is time for your check-in in Teamwell",
        "Sign in to Teamwell when you have a moment.",
    ),
    # A file someone uploaded was found to carry malware: no name, no place, no signature.
    # Sent with the messages' choices (files travel with conversations and records alike).
    Notice.document_quarantined: Template(
        Kind.messages,
        "A file you uploaded to Teamwell was not accepted",
        "Sign in to Teamwell to see which one and why.",
    ),
}

# A route of the web client ("#/messages", "#/clients/<id>/plan") or a path of the service
# ("/m/<token>"): letters, digits, "/", "-", "_" and "#" only, so no words of a person's can be
# carried in it (no spaces, no query, no percent-encoding).
LINK = re.compile(r"^(#/|/)[A-Za-z0-9/_#-]{0,190}$")


class UnsafeLink(ValueError):
    """A link that is not a plain route of identifiers."""


def checked_link(link: str) -> str:
    if not LINK.fullmatch(link):
        raise UnsafeLink(f"not a link a notice may carry: {link!r}")
    return link


def absolute(public_url: str, link: str) -> str:
    return public_url.rstrip("/") + ("/" + link if link.startswith("#") else link)


@dataclass(frozen=True)
class Rendered:
    title: str
    text: str
    url: str

    @property
    def email_text(self) -> str:
        return f"{self.title}.\n\n{self.text}\n\n{self.url}\n"

    @property
    def sms_text(self) -> str:
        return f"{self.title}. {self.url}"


def render(notice: Notice, link: str, public_url: str) -> Rendered:
    template = TEMPLATES[notice]
    return Rendered(template.title, template.text, absolute(public_url, checked_link(link)))
