from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app.errors import problem_response
from app.migrate import migration_state

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(request: Request) -> JSONResponse:
    """Ready to serve: the database answers and its schema is at this code's latest migration,
    or past it (a rolling upgrade: the next release has expanded the schema, and this process
    keeps serving until it is replaced)."""
    try:
        async with request.app.state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            state = await conn.run_sync(migration_state)
    except Exception:
        return problem_response(503, detail="The database is not reachable.", slug="not-ready")
    if state.pending:
        return problem_response(
            503,
            detail=f"The database is at migration {state.current}, not {state.head}.",
            slug="not-ready",
        )
    return JSONResponse({"status": "ready", "migration": state.current})
