from __future__ import annotations

from fastapi import APIRouter, Request

from app.demo import demo_logins
from app.meta.schemas import DemoInfo, DemoLoginPublic, ServiceMeta

router = APIRouter(tags=["meta"])

# The demo password is generated at the demo's first start and printed by it; never sent here.
DEMO_NOTE = "The password is the one ./scripts/demo printed when it started."


@router.get("/meta", response_model=ServiceMeta)
async def service_meta(request: Request) -> ServiceMeta:
    """For the sign-in page: in a demo, the demo logins (never their password); otherwise
    nothing but the name. Needs no sign-in and holds no secret."""
    demo = None
    if request.app.state.settings.demo_mode:
        demo = DemoInfo(
            logins=[
                DemoLoginPublic(
                    email=login.email, role=str(login.role), display_name=login.display_name
                )
                for login in demo_logins()
            ],
            note=DEMO_NOTE,
        )
    return ServiceMeta(name="Teamwell", demo=demo)
