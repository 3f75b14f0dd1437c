"""What documents announce, once stored: ``document.added`` and ``document.changed``, to the
people who may read the document (``auth.policies.documents.audience``); a version not yet
found safe, to its uploader alone."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from app.documents.schemas import DocumentSummary
from app.events import Event
from realtime import protocol as p


class DocumentAdded(Event):
    frame: p.DocumentAdded


class DocumentChanged(Event):
    frame: p.DocumentChanged


def document_added(*, audience: Iterable[uuid.UUID], document: DocumentSummary) -> DocumentAdded:
    return DocumentAdded(to=frozenset(audience), frame=p.DocumentAdded(document=document))


def document_changed(
    *, audience: Iterable[uuid.UUID], document: DocumentSummary, change: str
) -> DocumentChanged:
    return DocumentChanged(
        to=frozenset(audience), frame=p.DocumentChanged(document=document, change=change)
    )
