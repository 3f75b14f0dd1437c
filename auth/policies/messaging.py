"""Conversations: who is in one, who opens one, who may be messaged directly.

Team and case conversations follow the team and the care team rather than copying them: a
team's conversation is its members' in force (``teams.membership_is_in_force``), a case thread
is the record's audience (``clients.can_read_client``; a client is only in the thread that
includes them), a direct conversation its two participants. HTTP routes name membership through
``auth.deps.ConversationMember``; every frame on ``/ws`` that names a conversation asks
``member_conversation``.

The group commit (``app/messaging/batch.py``) reads team and direct membership for a whole
batch in one statement on the database driver, for speed; that statement's membership is
``MEMBERS_SQL`` below, beside the predicate it must agree with (``is_member``).
``tests/auth/policies/test_policy_sql.py`` holds the two to the same answer on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from app.clients import service as clients_service
from app.clients.models import ClientRecord
from app.messaging import service as messaging_service
from app.messaging.models import Conversation, ConversationKind
from app.teams import service as teams_service
from app.users.models import Role, User
from auth.policies import clients as client_policies
from auth.policies.decision import ALLOW, Decision

# Team and direct membership as SQL text, for the group commit: one row (conversation id,
# member id), both cast to text, per member of the conversations that ``{c}`` (the dialect's
# test of a conversation id against the batch's) admits. A team's members are those in force
# (``teams.membership_in_force``: confirmed); a direct conversation's, its participants. Case
# threads are not here: their membership is the record's, decided in Python and audited
# (``is_member``). Whether the sender is active is read beside this (``is_member`` asks it first).
MEMBERS_SQL = """
SELECT CAST(c.id AS TEXT) AS conversation_id, CAST(m.user_id AS TEXT) AS member_id
  FROM conversation c JOIN team_membership m ON m.team_id = c.team_id
  WHERE c.kind = 'team' AND c.id {c} AND m.confirmed_at IS NOT NULL
UNION ALL
SELECT CAST(conversation_id AS TEXT), CAST(user_id AS TEXT)
  FROM conversation_participant WHERE conversation_id {c}
"""


def sees_staff_threads(user: User) -> Decision:
    """A client's case has two threads: one with the client, and the care team's own. A client
    is only ever in the first."""
    if user.role == Role.client:
        return Decision(False, "The staff-only thread is for the care team")
    return ALLOW


async def is_member(session: AsyncSession, user: User, conversation: Conversation) -> bool:
    """Whether this person is in the conversation now (an inactive account is in none)."""
    if not user.is_active:
        return False
    if conversation.kind == ConversationKind.direct:
        return await messaging_service.is_participant(
            session=session, conversation_id=conversation.id, user_id=user.id
        )
    if conversation.kind == ConversationKind.team:
        assert conversation.team_id is not None
        return await teams_service.is_member(
            session=session, team_id=conversation.team_id, user_id=user.id
        )
    assert conversation.client_id is not None
    client = await clients_service.get(session=session, client_id=conversation.client_id)
    if not conversation.includes_client and not sees_staff_threads(user):
        return False
    return bool(await client_policies.can_read_client(session, user, client))


async def member_conversation(
    session: AsyncSession, user: User, conversation_id: uuid.UUID
) -> Conversation:
    """The conversation, if this person is in it: 404 if there is none, ``NotAMember`` (403)
    if they are not."""
    conversation = await messaging_service.get(session=session, conversation_id=conversation_id)
    if not await is_member(session, user, conversation):
        raise messaging_service.NotAMember()
    return conversation


async def can_open_team_conversation(
    session: AsyncSession, user: User, team_id: uuid.UUID
) -> Decision:
    """A team's conversation is opened by its members in force."""
    if await teams_service.is_member(session=session, team_id=team_id, user_id=user.id):
        return ALLOW
    return Decision(False, "Only the team's members take part in its conversation")


async def can_open_case_thread(
    session: AsyncSession, user: User, client: ClientRecord, *, includes_client: bool
) -> Decision:
    """A client's case threads are opened by those who may read the record; the care team's
    own thread not by the client."""
    if not await client_policies.can_read_client(session, user, client):
        return Decision(False, "Case threads are for the client's care team")
    if not includes_client:
        return sees_staff_threads(user)
    return ALLOW


async def contacts(session: AsyncSession, user: User) -> set[uuid.UUID]:
    """Whose presence this person sees, and who may message them directly: colleagues who share
    a team or a client's care team; for a client, only their own care team. The relation is
    symmetric, so it is also who sees this person's presence."""
    return await contact_ids(session, user.id, user.role)


async def contact_ids(session: AsyncSession, user_id: uuid.UUID, role: Role) -> set[uuid.UUID]:
    """``contacts`` of a person known by id and role (a socket has both without the row)."""
    # One statement: every socket's presence reads this as it connects.
    colleagues = () if role == Role.client else (teams_service.colleagues_of,)
    return await clients_service.care_relationship_ids(
        session=session, user_id=user_id, also=colleagues
    )
