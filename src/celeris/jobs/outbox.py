"""Transactional enqueue: jobs enqueued with ``session=`` are handed over only on commit.

When the jobs live in the session's own database, the job row is written in the session's
transaction (the table is its own outbox): it exists for workers exactly when the request's
writes do. Otherwise (``memory://``, another database) the record waits in the session and is
pushed to the backend right after the commit; a rollback drops it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from sqlalchemy import event

from celeris.jobs.base import JobRecord

if TYPE_CHECKING:
    from celeris.jobs.jobs import Jobs

__all__ = ["Outbox"]

log = logging.getLogger("celeris.jobs")

_KEY = "celeris.jobs.outbox"


class Outbox:
    """Records waiting for their session to commit."""

    def __init__(self, jobs: Jobs) -> None:
        self.jobs = jobs
        self._tasks: set[asyncio.Task[None]] = set()

    def after_commit(self, session: Any, record: JobRecord, *, deliver: bool) -> None:
        """Announce (or push, when ``deliver``) ``record`` once ``session`` commits."""
        sync_session = session.sync_session
        pending: list[tuple[JobRecord, bool]] | None = sync_session.info.get(_KEY)
        if pending is None:
            pending = sync_session.info[_KEY] = []
            event.listen(sync_session, "after_commit", self._committed)
            event.listen(sync_session, "after_rollback", self._rolled_back)
        pending.append((record, deliver))

    def _committed(self, sync_session: Any) -> None:
        pending = sync_session.info.get(_KEY) or []
        sync_session.info[_KEY] = []
        for record, deliver in pending:
            if deliver:
                self._spawn(self._deliver(record))
                continue
            self.jobs.announce(record)
            committed = getattr(self.jobs.backend, "committed", None)
            if committed is not None:  # a broker backend publishes it now
                self._spawn(committed(record))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _rolled_back(self, sync_session: Any) -> None:
        sync_session.info[_KEY] = []

    async def _deliver(self, record: JobRecord) -> None:
        try:
            await self.jobs.push(record)
        except Exception:
            log.exception(
                "job %s (%s) could not be handed over after commit", record.id, record.name
            )

    async def flush(self) -> None:
        """Wait for hand-overs in flight (at shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
