"""bench/bare_app.py's endpoint in a process that has imported everything the service imports
(``user_service.app``) but runs none of it: what the service's size alone costs a request
(``bench/cpu_breakdown.py bare,imports,live``; docs/performance.md)."""

import user_service.app  # noqa: F401  (only its weight in memory)
from bare_app import app

__all__ = ["app"]
