"""Invitations by one-time link (being built)."""

from fastapi import APIRouter

router = APIRouter(prefix="/invitations", tags=["invitations"])
