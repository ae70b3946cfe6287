"""``/v1/authz``: the policy decision point's HTTP face (docs/authorization.md §11)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from quantagro_auth.principals import ServicePrincipal

from user_service.auth.dependencies import SignedInUser
from user_service.authz import service
from user_service.authz.dependencies import PdpCaller
from user_service.authz.schemas import BatchCheckIn, BatchDecisionOut, CheckIn, DecisionOut
from user_service.deps import Services

router = APIRouter(prefix="/v1/authz", tags=["authorization"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid user or service token"},
    403: {"description": "insufficient_scope, subject_not_allowed"},
    404: {"description": "subject_not_found"},
    422: {"description": "unknown_permission, invalid_resource, invalid_subject"},
    503: {"description": "decision_unavailable: treat as a denial"},
}


def _subject(caller: SignedInUser | ServicePrincipal, named: str | None) -> service.SubjectQuery:
    if isinstance(caller, SignedInUser):
        return service.resolve_subject(caller.principal, named, user=caller.user)
    return service.resolve_subject(caller, named)


@router.post("/check", response_model=DecisionOut, responses=_ERRORS)
async def check(body: CheckIn, caller: PdpCaller, services: Services) -> Response:
    """May the subject do ``permission`` on ``resource``? Always 200 with ``allowed``."""
    subject = _subject(caller, body.subject)
    [decision] = await service.decide(services, subject, [body])
    # Built by ``decide`` as a DecisionOut already: rendered once, not validated again by
    # FastAPI's response model (which documents it).
    return Response(decision.model_dump_json(), media_type="application/json")


@router.post("/check-batch", response_model=BatchDecisionOut, responses=_ERRORS)
async def check_batch(
    body: BatchCheckIn, caller: PdpCaller, services: Services
) -> BatchDecisionOut:
    """Up to 50 questions about one subject, answered in order (for the SDK)."""
    subject = _subject(caller, body.subject)
    results = await service.decide(services, subject, body.checks, batch=True)
    return BatchDecisionOut(subject=subject.label, results=results)
