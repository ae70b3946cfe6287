"""The committed ``frontend/openapi.json`` is the service's document, byte for byte, and it
declares who must be calling each operation.

The console's API types are generated from that file (``make openapi``); a route or schema
changed without regenerating it would leave the console compiling against an API that no
longer exists.
"""

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

COMMITTED = Path(__file__).resolve().parents[3] / "frontend" / "openapi.json"


def test_committed_openapi_document_matches_the_service(env):
    result = subprocess.run(
        [sys.executable, "-m", "user_service.cli", "openapi"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout == COMMITTED.read_text(), (
        "frontend/openapi.json is stale: run `make openapi` and commit the result"
    )


# --- who is calling, as the document declares it ----------------------------------------------

PUBLIC = {
    ("get", "/.well-known/openid-configuration"),
    ("get", "/health/live"),
    ("get", "/health/ready"),
    ("get", "/v1/.well-known/jwks.json"),
    ("get", "/v1/auth/.well-known/jwks.json"),
    ("get", "/v1/auth/providers"),
    ("post", "/v1/auth/register"),
    ("post", "/v1/auth/login"),
    ("post", "/v1/auth/refresh"),  # the refresh cookie
    ("post", "/v1/auth/mfa/verify"),  # the MFA session token in the body
    ("post", "/v1/auth/passkey/options"),
    ("post", "/v1/auth/passkey/verify"),
    ("post", "/v1/auth/passkey/mfa/options"),
    ("post", "/v1/auth/passkey/mfa/verify"),
    ("post", "/v1/auth/oidc/{provider}/start"),
    ("post", "/v1/auth/oidc/{provider}/callback"),
    ("post", "/v1/auth/oidc/link"),  # the link token and the password in the body
    ("post", "/v1/auth/oidc/link/passkey/options"),  # the link token in the body
    ("post", "/v1/auth/email/verify"),  # e-mailed single-use tokens
    ("post", "/v1/auth/password/reset-request"),
    ("post", "/v1/auth/password/reset/check"),
    ("post", "/v1/auth/password/reset"),
    ("post", "/v1/auth/freeze"),
    ("post", "/v1/oauth/token"),  # the client's secret (RFC 6749 §2.3.1)
}
BEARER_OR_ANOTHER_WAY = {
    ("post", "/v1/auth/logout"),  # or the refresh cookie
    ("post", "/v1/oauth/introspect"),  # or the client's secret
    ("post", "/v1/oauth/revoke"),
}


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_every_operation_that_needs_a_caller_declares_the_bearer_scheme():
    document = json.loads(COMMITTED.read_text())
    scheme = document["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    operations = _operations(document)
    assert {(method, path) for method, path, _ in operations} >= PUBLIC | BEARER_OR_ANOTHER_WAY
    for method, path, operation in operations:
        security = operation.get("security")
        if (method, path) in PUBLIC:
            assert security is None, f"{method} {path} is public"
        elif (method, path) in BEARER_OR_ANOTHER_WAY:
            assert security == [{"bearer": []}, {}], f"{method} {path}"
        else:
            assert security is not None and len(security) == 1, f"{method} {path}"
            assert list(security[0]) == ["bearer"], f"{method} {path}"


@pytest.mark.anyio
async def test_every_operation_declaring_the_bearer_scheme_refuses_a_call_without_it(app, client):
    """The document and the code agree: 401 ``not_authenticated`` (RFC 6750 §3) before any
    other check, wherever the bearer token is required."""
    required = [
        (method, path)
        for method, path, operation in _operations(app.openapi())
        if operation.get("security") and {} not in operation["security"]
    ]
    assert len(required) > 50
    for method, path in required:
        url = re.sub(r"\{[a-z_]+\}", str(uuid.uuid4()), path)
        response = await client.request(method, url)
        assert response.status_code == 401, f"{method} {path}: {response.text}"
        assert response.json()["code"] == "not_authenticated", f"{method} {path}"
        assert response.headers["www-authenticate"] == "Bearer", f"{method} {path}"
