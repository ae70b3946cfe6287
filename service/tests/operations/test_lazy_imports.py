"""Libraries for features most workers never run load on first use, not with the app.

A worker that only checks tokens keeps ≈ 20 MB less (docs/performance.md): py_webauthn with
the first passkey ceremony, zxcvbn with the first password checked against the rule.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SERVICE_DIR = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
import user_service.app  # every router, model and service module
loaded_with_app = sorted(n for n in ("webauthn", "zxcvbn") if n in sys.modules)
from user_service.auth.password_policy import PasswordRules, find_violations
find_violations("Correct-Horse-Battery-9", PasswordRules())
print(json.dumps({"with_app": loaded_with_app, "after_check": "zxcvbn" in sys.modules}))
"""


def test_webauthn_and_zxcvbn_are_not_loaded_with_the_app() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=SERVICE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found == {"with_app": [], "after_check": True}
