"""The routers are searched in order of traffic (app.py), which is safe only while no two of
them claim the same path: then the order changes which route is found first, never which one
answers."""

import re

from fastapi.routing import APIRoute

from tests.conftest import make_settings
from user_service.app import create_app


def _routes_by_router(app) -> list[tuple[int, APIRoute]]:
    found: list[tuple[int, APIRoute]] = []
    for index, route in enumerate(app.router.routes):
        included = getattr(route, "original_router", None)
        members = included.routes if included is not None else [route]
        found += [(index, member) for member in members if isinstance(member, APIRoute)]
    return found


def test_no_two_routers_claim_the_same_path(backend):
    app = create_app(make_settings(backend))
    routes = [(i, r) for i, r in _routes_by_router(app) if r.path != "/{path:path}"]
    assert len(routes) > 80
    clashes = []
    for index, route in routes:
        concrete = re.sub(r"\{[^}]+\}", "x1", route.path)
        for other_index, other in routes:
            if other is route or other_index == index or not route.methods & other.methods:
                continue
            if other.path_regex.match(concrete):
                clashes.append(f"{route.path} is also matched by {other.path}")
    assert clashes == []


def test_the_hot_paths_are_searched_first(backend):
    """/health/live, then token checks and decisions, then a user's own reads."""
    app = create_app(make_settings(backend))
    order = [route.path for _, route in _routes_by_router(app)]
    hot = ["/health/live", "/v1/oauth/introspect", "/v1/authz/check", "/v1/users/me"]
    positions = [order.index(path) for path in hot]
    assert positions == sorted(positions)
    assert positions[-1] < len(order) // 3
