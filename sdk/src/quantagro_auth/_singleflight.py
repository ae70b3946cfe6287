"""One in-flight call shared by every concurrent caller (JWKS refetch, service-token renewal)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """Run ``factory`` once for all callers that arrive while it is running.

    The shared call runs in its own task and callers await it through :func:`asyncio.shield`,
    so a caller that is cancelled (a client hung up) does not cancel the others' call.
    """

    def __init__(self) -> None:
        self._task: asyncio.Task[T] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def run(self, factory: Callable[[], Awaitable[T]]) -> T:
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(factory())
            self._task.add_done_callback(_retrieve)
        return await asyncio.shield(self._task)


def _retrieve(task: asyncio.Task[T]) -> None:
    """Mark the exception as retrieved when every waiter went away (no 'never retrieved')."""
    if not task.cancelled():
        task.exception()
