"""Property-based fuzzing of every operation in the OpenAPI document: never a 5xx.

schemathesis generates requests (valid and edge-case bodies, parameters, ids) for each of
the service's operations and sends them, as a signed-in admin with a verified e-mail, to an
app on its own SQLite database. Any answer ≥ 500 fails. Endpoints that would end the fuzzing
session (logout, deactivation, password change, session revocation) are sent without it.
"""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings

from user_service.app import create_app
from user_service.cli import alembic_config
from user_service.config import Settings
from user_service.users import repository as users_repository

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PASSWORD = "Correct-Horse-Battery-9"
SESSION_ENDING = ("/logout", "/deactivate", "/auth/sessions/", "/password/change")


@pytest.fixture(scope="module")
def signed_in(tmp_path_factory: pytest.TempPathFactory):
    from alembic import command

    work: Path = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite+aiosqlite:///{work / 'fuzz.db'}"
    command.upgrade(alembic_config(url), "head")
    settings = Settings(
        _env_file=None,
        database_url=url,
        kms_master_key_file=work / "master.key",
        jwt_key_size=2048,
        bcrypt_rounds=4,
        cookie_secure=False,
        environment="test",
        frontend_dist=work / "no-frontend",
        mail_dir=work / "mail",
        rate_limit_register_ip="100000 per minute",
        rate_limit_login_ip="100000 per minute",
        rate_limit_login_account="100000 per minute",
    )
    app = create_app(settings)
    with TestClient(app) as client:
        client.post(
            "/v1/auth/register",
            json={"email": "fuzz@example.com", "password": PASSWORD, "name": "Fuzz"},
        )

        async def make_verified_admin() -> None:
            async with app.state.services.sessionmaker() as db:
                user = await users_repository.get_by_email(db, "fuzz@example.com")
                assert user is not None
                user.email_verified_at = dt.datetime.now(dt.UTC)
                roles = await users_repository.roles_by_name(db, ["admin"])
                await users_repository.grant_role(db, user.id, roles["admin"], granted_by="fuzz")
                await db.commit()

        client.portal.call(make_verified_admin)  # type: ignore[union-attr]
        login = client.post(
            "/v1/auth/login", json={"email": "fuzz@example.com", "password": PASSWORD}
        )
        token = login.json()["access_token"]
        yield app, client, {"Authorization": f"Bearer {token}"}


def test_no_operation_answers_5xx(signed_in):
    app, client, auth = signed_in
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    server_errors: list[str] = []
    statuses: set[int] = set()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40

    for operation in operations:
        exercise_operation(operation, client, auth, statuses, server_errors)

    assert not server_errors, "\n".join(server_errors[:20])
    assert 200 in statuses  # the fuzzing reached real handlers, not only auth failures


def exercise_operation(
    operation, client, auth, statuses: set[int], server_errors: list[str]
) -> None:

    @given(case=operation.as_strategy())
    @hypothesis_settings(
        max_examples=10, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def exercise(case: schemathesis.Case) -> None:
        request = case.as_transport_kwargs()
        headers = dict(request.pop("headers", None) or {})
        if not any(part in request.get("url", "") for part in SESSION_ENDING):
            headers.update(auth)
        response = client.request(headers=headers, **request)
        statuses.add(response.status_code)
        if response.status_code >= 500:
            server_errors.append(
                f"{operation.label} → {response.status_code}: {response.text[:200]}"
            )

    exercise()
