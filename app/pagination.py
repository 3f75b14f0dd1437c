from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from app.config import get_settings
from app.dbtypes import INT64_MAX

T = TypeVar("T")


class PageParams(BaseModel):
    limit: int
    offset: int


def page_params(
    limit: Annotated[int | None, Query(ge=1, description="Items per page")] = None,
    offset: Annotated[int, Query(ge=0, le=INT64_MAX, description="Items to skip")] = 0,
) -> PageParams:
    settings = get_settings()
    chosen = settings.page_size_default if limit is None else min(limit, settings.page_size_max)
    return PageParams(limit=chosen, offset=offset)


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


def page_of(page: PageParams, items: list[T], total: int) -> Page[T]:
    """The answer for one page: its items, how many there are in all, and the page asked for."""
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


PageDep = Annotated[PageParams, Depends(page_params)]


async def paginate(
    session: AsyncSession,
    query: SelectOfScalar[T],
    *order_by: Any,
    limit: int,
    offset: int,
) -> tuple[list[T], int]:
    """One page of ``query`` in the given order, and how many rows the whole query has.

    The order must end on a unique column, so that pages neither repeat nor skip a row.
    """
    total = (await session.exec(select(func.count()).select_from(query.subquery()))).one()
    rows = await session.exec(query.order_by(*order_by).limit(limit).offset(offset))
    return list(rows.all()), int(total)
