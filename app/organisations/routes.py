from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from app.db import SessionDep
from app.organisations import service
from app.organisations.schemas import OrganisationCreate, OrganisationPublic, OrganisationUpdate
from app.pagination import Page, PageDep, page_of
from auth.deps import AccountManager, CurrentUser, refuse_unless
from auth.policies import accounts as account_policies

router = APIRouter(prefix="/organisations", tags=["organisations"])


@router.get("", response_model=Page[OrganisationPublic])
async def list_organisations(
    principal: CurrentUser, session: SessionDep, page: PageDep
) -> Page[OrganisationPublic]:
    """Organisations in the programme (names and kinds only: needed to record consent)."""
    rows, total = await service.list_all(session=session, limit=page.limit, offset=page.offset)
    return page_of(page, [OrganisationPublic.model_validate(o) for o in rows], total)


@router.post("", response_model=OrganisationPublic, status_code=status.HTTP_201_CREATED)
async def create_organisation(
    body: OrganisationCreate, principal: AccountManager, session: SessionDep
) -> OrganisationPublic:
    """Add a partner organisation (admins)."""
    organisation = await service.create(session=session, ctx=principal.ctx, data=body)
    await principal.audit(
        "organisation.create", resource_type="organisation", resource_id=organisation.id
    )
    return OrganisationPublic.model_validate(organisation)


@router.get("/{organisation_id}", response_model=OrganisationPublic)
async def get_organisation(
    organisation_id: uuid.UUID, principal: CurrentUser, session: SessionDep
) -> OrganisationPublic:
    """One organisation."""
    organisation = await service.get(session=session, organisation_id=organisation_id)
    return OrganisationPublic.model_validate(organisation)


@router.patch("/{organisation_id}", response_model=OrganisationPublic)
async def update_organisation(
    organisation_id: uuid.UUID,
    body: OrganisationUpdate,
    principal: AccountManager,
    session: SessionDep,
) -> OrganisationPublic:
    """Rename or re-classify an organisation (admins of that organisation; another's is 403,
    audited)."""
    organisation = await service.get(session=session, organisation_id=organisation_id)
    decision = account_policies.can_change_organisation(principal.user, organisation.id)
    await refuse_unless(
        decision,
        session,
        principal,
        action="organisation.update",
        resource_type="organisation",
        resource_id=organisation.id,
    )
    organisation = await service.update(session=session, organisation=organisation, data=body)
    await principal.audit(
        "organisation.update", resource_type="organisation", resource_id=organisation.id
    )
    return OrganisationPublic.model_validate(organisation)
