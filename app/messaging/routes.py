"""Conversations over HTTP: open, list with unread counts, history, search and read markers.
Sending, typing and live delivery go over the `/ws` gateway."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from app.clients import service as clients_service
from app.db import SessionDep
from app.dbtypes import INT32_MAX
from app.errors import Problem
from app.messaging import service
from app.messaging.keyring import MessageKeyring
from app.messaging.models import Conversation, ConversationKind
from app.messaging.schemas import (
    ConversationOpen,
    ConversationPublic,
    MessagePage,
    UnreadCount,
)
from app.pagination import Page
from app.teams import service as teams_service
from app.users import service as users_service
from auth.deps import ConversationMember, CurrentUser, Principal

router = APIRouter(prefix="/conversations", tags=["messaging"])


def keyring_of(request: Request) -> MessageKeyring:
    keyring: MessageKeyring = request.app.state.keyring
    return keyring


async def _audit_case_read(principal: Principal, conversation: Conversation) -> None:
    """Reading a case thread is an access to the client's record."""
    if conversation.kind == ConversationKind.case:
        await principal.audit(
            "case_thread.read",
            resource_type="conversation",
            resource_id=conversation.id,
            client_id=conversation.client_id,
        )


@router.get("", response_model=Page[ConversationPublic])
async def list_conversations(
    principal: CurrentUser,
    session: SessionDep,
    request: Request,
    limit: Annotated[int | None, Query(ge=1)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[ConversationPublic]:
    """The caller's conversations with unread counts."""
    cap = request.app.state.settings.conversations_page_max
    chosen = min(limit or cap, cap)
    everything = await service.conversations_of(session=session, user=principal.user)
    window = everything[offset : offset + chosen]
    items = await service.public_conversations(
        session=session, user=principal.user, conversations=window
    )
    return Page(items=items, total=len(everything), limit=chosen, offset=offset)


@router.post("", response_model=ConversationPublic)
async def open_conversation(
    body: ConversationOpen, principal: CurrentUser, session: SessionDep
) -> ConversationPublic:
    """Open a direct conversation with a colleague (or a client's care-team member), the team's
    conversation, or a thread on a client's record; an existing one is returned as it is."""
    user = principal.user
    if body.kind == ConversationKind.direct and body.user_id:
        other = await users_service.get(session=session, user_id=body.user_id)
        conversation = await service.open_direct(
            session=session, ctx=principal.ctx, user=user, other=other
        )
    elif body.kind == ConversationKind.team and body.team_id:
        team = await teams_service.get(session=session, team_id=body.team_id)
        conversation = await service.open_team(
            session=session, ctx=principal.ctx, user=user, team=team
        )
    elif body.kind == ConversationKind.case and body.client_id:
        client = await clients_service.get(session=session, client_id=body.client_id)
        conversation = await service.open_case(
            session=session,
            ctx=principal.ctx,
            user=user,
            client=client,
            includes_client=body.includes_client,
        )
        await principal.audit(
            "case_thread.open",
            resource_type="conversation",
            resource_id=conversation.id,
            client_id=client.id,
        )
    else:
        raise service.InvalidConversation(
            "Say who: user_id for direct, team_id for team, client_id for case."
        )
    return (
        await service.public_conversations(session=session, user=user, conversations=[conversation])
    )[0]


@router.get("/unread", response_model=list[UnreadCount])
async def unread(principal: CurrentUser, session: SessionDep) -> list[UnreadCount]:
    """Unread messages per conversation."""
    conversations = await service.conversations_of(session=session, user=principal.user)
    return await service.unread_counts(
        session=session, user_id=principal.id, conversations=conversations
    )


@router.get("/{conversation_id}", response_model=ConversationPublic)
async def get_conversation(
    conversation: ConversationMember, principal: CurrentUser, session: SessionDep
) -> ConversationPublic:
    """One conversation the caller is in."""
    await _audit_case_read(principal, conversation)
    return (
        await service.public_conversations(
            session=session, user=principal.user, conversations=[conversation]
        )
    )[0]


@router.get("/{conversation_id}/messages", response_model=MessagePage)
async def history(
    conversation: ConversationMember,
    principal: CurrentUser,
    session: SessionDep,
    request: Request,
    after_seq: Annotated[
        int | None, Query(ge=0, le=INT32_MAX, description="Messages after this")
    ] = None,
    before_seq: Annotated[
        int | None, Query(ge=1, le=INT32_MAX, description="Messages before this")
    ] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> MessagePage:
    """A page of history: after a sequence number (catching up, oldest first), or the latest
    before one (scrolling back). With neither, the latest page."""
    cap = request.app.state.settings.sync_page_max
    chosen = min(limit or cap, cap)
    await _audit_case_read(principal, conversation)
    if after_seq is not None and before_seq is not None:
        raise Problem("Give after_seq or before_seq, not both.")
    if after_seq is not None:
        messages, has_more = await service.page(
            session=session, conversation_id=conversation.id, after_seq=after_seq, limit=chosen
        )
    else:
        upper = before_seq if before_seq is not None else conversation.last_seq + 1
        messages = await service.before(
            session=session, conversation_id=conversation.id, before_seq=upper, limit=chosen
        )
        has_more = bool(messages) and messages[0].seq > 1
    names = await service.sender_names(session=session, messages=messages)
    keyring = keyring_of(request)
    return MessagePage(
        conversation_id=conversation.id,
        messages=[service.to_public(m, keyring, names.get(m.sender_id)) for m in messages],
        has_more=has_more,
        last_seq=conversation.last_seq,
    )


@router.get("/{conversation_id}/search", response_model=MessagePage)
async def search(
    conversation: ConversationMember,
    principal: CurrentUser,
    session: SessionDep,
    request: Request,
    q: Annotated[str, Query(min_length=2, max_length=100)],
) -> MessagePage:
    """Messages containing the words, newest last. Bodies are encrypted at rest, so the search
    decrypts this one conversation's messages in the server's memory; nothing is indexed."""
    await _audit_case_read(principal, conversation)
    keyring = keyring_of(request)
    cap = request.app.state.settings.sync_page_max
    needle = q.casefold()
    hits = []
    after = 0
    while True:
        batch, more = await service.page(
            session=session, conversation_id=conversation.id, after_seq=after, limit=500
        )
        for message in batch:
            public = service.to_public(message, keyring)
            if not public.deleted and needle in public.body.casefold():
                hits.append((message, public))
        if not more or not batch:
            break
        after = batch[-1].seq
    names = await service.sender_names(session=session, messages=[m for m, _ in hits])
    found = [
        pub.model_copy(update={"sender_name": names.get(pub.sender_id)}) for _, pub in hits[-cap:]
    ]
    return MessagePage(
        conversation_id=conversation.id,
        messages=found,
        has_more=len(hits) > cap,
        last_seq=conversation.last_seq,
    )
