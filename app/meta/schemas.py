from __future__ import annotations

from pydantic import BaseModel


class DemoLoginPublic(BaseModel):
    email: str
    role: str
    display_name: str


class DemoInfo(BaseModel):
    """Present only when the service runs as the demo (``TEAMWELL_DEMO_MODE``)."""

    logins: list[DemoLoginPublic]
    note: str


class ServiceMeta(BaseModel):
    name: str
    demo: DemoInfo | None
