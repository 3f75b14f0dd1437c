"""OpenID Connect single sign-on per organisation (being built)."""

from fastapi import APIRouter

router = APIRouter(prefix="/auth/sso", tags=["sso"])
