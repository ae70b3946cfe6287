"""The refresh-token cookie (docs/api.md §3): HttpOnly, SameSite=Strict, Secure, path /v1/auth."""

from __future__ import annotations

from fastapi import Request, Response

from user_service.config import Settings
from user_service.exceptions import Forbidden

COOKIE_PATH = "/v1/auth"


def set_refresh_cookie(
    response: Response, settings: Settings, token: str, persistent: bool
) -> None:
    response.set_cookie(
        settings.cookie_name,
        token,
        max_age=settings.session_idle_days * 86400 if persistent else None,
        path=COOKIE_PATH,
        secure=settings.cookie_secure,
        httponly=True,
        samesite="strict",
    )


def clear_refresh_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        settings.cookie_name,
        path=COOKIE_PATH,
        secure=settings.cookie_secure,
        httponly=True,
        samesite="strict",
    )


def no_store(response: Response) -> None:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"


def refuse_cross_site(request: Request, settings: Settings) -> None:
    """Refresh and logout act on a cookie: refuse them from an origin we do not serve."""
    origin = request.headers.get("origin")
    if origin is None:
        if request.headers.get("sec-fetch-site") == "cross-site":
            raise Forbidden("Cross-site requests are not allowed here.", code="cross_site_request")
        return
    own_origin = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"
    if origin != own_origin and origin not in settings.allowed_origins:
        raise Forbidden("Cross-site requests are not allowed here.", code="cross_site_request")
