from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

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


PageDep = Annotated[PageParams, Depends(page_params)]


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int
