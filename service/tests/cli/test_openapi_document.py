"""The committed ``frontend/openapi.json`` is the service's document, byte for byte.

The console's API types are generated from that file (``make openapi``); a route or schema
changed without regenerating it would leave the console compiling against an API that no
longer exists.
"""

import subprocess
import sys
from pathlib import Path

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
