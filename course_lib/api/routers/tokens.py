"""/api/tokens: log in for a Sanctum-style token (shown once), and revoke one (notebook 07)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter
from fastapi.responses import Response

from course_lib.api import problems
from course_lib.api.deps import Caller, Id, ServicesDep
from course_lib.auth import ABILITIES, AuthError, check_credentials
from course_lib.auth.models import TokenIn, TokenOut
from course_lib.auth.tokens import INSTRUCTOR_ABILITIES

router = APIRouter(prefix="/api/tokens", tags=["tokens"])


@router.post("", status_code=201, response_model=TokenOut, responses=problems.documented(400, 401, 413, 422),
             summary="Log in with e-mail and password; the token is shown once")
def create_token(body: TokenIn, response: Response, svc: ServicesDep) -> TokenOut:
    abilities = body.abilities if body.abilities is not None else list(ABILITIES)
    unknown = sorted(set(abilities) - {*ABILITIES, *INSTRUCTOR_ABILITIES})
    if unknown:
        raise AuthError(422, "Unknown ability", f"{unknown} are not abilities; choose from {list(ABILITIES)} "
                        f"(instructors also {list(INSTRUCTOR_ABILITIES)})")
    user_id = check_credentials(svc.engine, body.email, body.password)
    new = svc.tokens.create(user_id, body.token_name, abilities, timedelta(days=body.expires_in_days))
    response.headers["Cache-Control"] = "no-store"  # a token must not sit in a proxy's cache
    return TokenOut(id=new.id, token=new.plain_text, abilities=list(new.abilities), expires_at=new.expires_at)


@router.delete("/{token_id}", status_code=204, response_class=Response, responses=problems.documented(401, 404, 422),
               summary="Revoke one of your tokens (it stops working at once)")
def revoke_token(token_id: Id, who: Caller, svc: ServicesDep) -> Response:
    if not svc.tokens.revoke(who.user_id, token_id):
        return problems.problem_response(404, "Not found", f"you have no token {token_id}")
    return Response(status_code=204)
