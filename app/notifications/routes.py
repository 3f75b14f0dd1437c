"""A person's own notification settings and devices; staff see whether a person's email
bounced (docs/api.md, "Notifications")."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response, status

from app.config import Settings
from app.db import SessionDep
from app.notifications import service
from app.notifications.schemas import (
    NotificationStatus,
    Preferences,
    PreferencesUpdate,
    PushSubscriptionIn,
    PushSubscriptionPublic,
)
from app.users import service as users_service
from auth.deps import AccountManager, CurrentUser

router = APIRouter(prefix="/me/notifications", tags=["notifications"])
staff_router = APIRouter(prefix="/users", tags=["notifications"])


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@router.get("", response_model=Preferences)
async def my_preferences(
    principal: CurrentUser, session: SessionDep, request: Request
) -> Preferences:
    """The caller's notification settings: per kind, which channels; time zone and quiet hours;
    the SMS number; whether email bounced; the VAPID key to subscribe with and the devices
    subscribed. Every signed-in person has them, defaults until they change them."""
    return await service.preferences(
        session=session, user=principal.user, settings=_settings(request)
    )


@router.put("", response_model=Preferences)
async def update_my_preferences(
    body: PreferencesUpdate, principal: CurrentUser, session: SessionDep, request: Request
) -> Preferences:
    """Replace the caller's notification settings. A clinician keeps urgent alerts on at least
    one channel (422 ``urgent-alerts-required``); SMS needs a number (422
    ``sms-number-required``) and a service that sends SMS (422 ``sms-unavailable``)."""
    updated = await service.update_preferences(
        session=session,
        user=principal.user,
        data=body,
        settings=_settings(request),
        now=principal.ctx.now(),
    )
    await principal.audit(
        "notification.preferences_update",
        resource_type="user",
        resource_id=principal.user.id,
    )
    return updated


@router.post(
    "/push-subscriptions",
    response_model=PushSubscriptionPublic,
    status_code=status.HTTP_201_CREATED,
)
async def subscribe_push(
    body: PushSubscriptionIn, principal: CurrentUser, session: SessionDep, request: Request
) -> PushSubscriptionPublic:
    """Register this browser's Web Push subscription for the caller (at most
    ``TEAMWELL_PUSH_SUBSCRIPTIONS_PER_PERSON``, else 409 ``too-many-push-subscriptions``). The
    endpoint must be https (422 ``push-endpoint-refused``). The same endpoint registered again
    is updated; registered by someone else, it moves to them."""
    subscription = await service.add_push_subscription(
        session=session,
        user=principal.user,
        data=body,
        settings=_settings(request),
        now=principal.ctx.now(),
    )
    await principal.audit(
        "notification.push_subscribe",
        resource_type="push_subscription",
        resource_id=subscription.id,
    )
    return PushSubscriptionPublic.model_validate(subscription)


@router.delete("/push-subscriptions/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT)
async def unsubscribe_push(
    subscription_id: uuid.UUID, principal: CurrentUser, session: SessionDep
) -> Response:
    """Stop push notifications to one of the caller's devices (404 when it is not theirs)."""
    await service.remove_push_subscription(
        session=session, user=principal.user, subscription_id=subscription_id
    )
    await principal.audit(
        "notification.push_unsubscribe",
        resource_type="push_subscription",
        resource_id=subscription_id,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@staff_router.get("/{user_id}/notification-status", response_model=NotificationStatus)
async def notification_status(
    user_id: uuid.UUID, principal: AccountManager, session: SessionDep
) -> NotificationStatus:
    """Whether email to a person of the admin's organisation bounced (the address to correct),
    and their latest failed deliveries: the kind and channel of each, never its content."""
    user = await users_service.get(session=session, user_id=user_id)
    if user.organisation_id != principal.user.organisation_id:
        raise users_service.UserNotFound()
    await principal.audit(
        "notification.status_read",
        resource_type="user",
        resource_id=user.id,
    )
    return await service.status(session=session, user=user)
