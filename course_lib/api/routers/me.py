"""/api/me: who the bearer token belongs to, and what it may do (notebook 07)."""

from __future__ import annotations

from fastapi import APIRouter

from course_lib.api import problems
from course_lib.api.deps import Caller
from course_lib.auth.models import MeOut

router = APIRouter(prefix="/api/me", tags=["tokens"])


@router.get("", response_model=MeOut, responses=problems.documented(401))
def me(who: Caller) -> MeOut:
    return MeOut(id=who.user_id, email=who.email, name=who.name, token_id=who.token_id,
                 token_name=who.token_name, abilities=list(who.abilities), token_expires_at=who.expires_at)
