from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app.errors import problem_response
from app.migrate import current_revision, head_revision

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(request: Request) -> JSONResponse:
    """Ready to serve: the database answers and its schema is at the latest migration."""
    try:
        async with request.app.state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            current = await conn.run_sync(current_revision)
    except Exception:
        return problem_response(503, detail="The database is not reachable.", slug="not-ready")
    head = head_revision()
    if current != head:
        return problem_response(
            503, detail=f"The database is at migration {current}, not {head}.", slug="not-ready"
        )
    return JSONResponse({"status": "ready", "migration": head})
