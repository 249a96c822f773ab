"""Model-aware invalidation: values tagged with a table (and row) are dropped on commit.

``invalidate_on_commit(cache)`` listens to SQLAlchemy sessions (``celeris.db``'s included):
each flush records the tables and primary keys it inserted, updated or deleted, including
ORM-enabled bulk ``update()``/``delete()`` statements (table-wide); a commit then invalidates
``model_tag(Model)`` and ``model_tag(Model, pk)`` for each; a rollback forgets them. With a
Redis cache the tags live in Redis, so one worker's commit drops the value for every worker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.util.concurrency import await_only, in_greenlet

from celeris.cache.cache import Cache

__all__ = ["invalidate_on_commit", "model_tag"]

logger = logging.getLogger("celeris.cache")

_PENDING = "celeris.cache.pending_tags"


def model_tag(model: Any, pk: Any = None) -> str:
    """The tag of a table (``model_tag(Note)``) or one row (``model_tag(Note, 3)``)."""
    table = getattr(model, "__tablename__", None) or getattr(model, "name", None) or str(model)
    if pk is None:
        return f"table:{table}"
    if isinstance(pk, tuple):
        pk = ",".join(str(part) for part in pk)
    return f"table:{table}:{pk}"


def _row_tags(obj: Any) -> list[str]:
    state = inspect(obj)
    table = state.mapper.local_table.name
    tags = [f"table:{table}"]
    # NOTE: in after_flush a new row has its primary key but not yet its identity key
    identity = tuple(state.mapper.primary_key_from_instance(obj))
    if identity and None not in identity:
        tags.append(model_tag(table, identity[0] if len(identity) == 1 else identity))
    return tags


class _Listener:
    """The event handlers for one cache, registered on one session class."""

    def __init__(self, cache: Cache) -> None:
        self.cache = cache
        self._tasks: set[asyncio.Task[int]] = set()

    def after_flush(self, session: Session, flush_context: Any) -> None:
        pending: set[str] = session.info.setdefault(_PENDING, set())
        for obj in (*session.new, *session.dirty, *session.deleted):
            if obj in session.dirty and not session.is_modified(obj):
                continue
            pending.update(_row_tags(obj))

    def do_orm_execute(self, state: ORMExecuteState) -> None:
        if state.is_update or state.is_delete:
            table = getattr(state.statement, "table", None)
            name = getattr(table, "name", None)
            if name:
                state.session.info.setdefault(_PENDING, set()).add(f"table:{name}")

    def after_commit(self, session: Session) -> None:
        tags = session.info.pop(_PENDING, None)
        if not tags:
            return
        work = self.cache.invalidate(*sorted(tags))
        if in_greenlet():  # an AsyncSession: wait for it, so the commit returns invalidated
            await_only(work)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            work.close()
            logger.warning("cache tags %s not invalidated: no event loop (a sync Session)", tags)
            return
        task = loop.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def after_rollback(self, session: Session) -> None:
        session.info.pop(_PENDING, None)


def invalidate_on_commit(cache: Cache, target: Any = Session) -> Callable[[], None]:
    """Drop ``cache`` values tagged with the tables and rows each commit changed.

    ``target`` is the session class (or sync sessionmaker) to watch: every SQLAlchemy session
    by default. Returns a function that stops watching.
    """
    listener = _Listener(cache)
    hooks: list[tuple[str, Callable[..., None]]] = [
        ("after_flush", listener.after_flush),
        ("do_orm_execute", listener.do_orm_execute),
        ("after_commit", listener.after_commit),
        ("after_rollback", listener.after_rollback),
    ]
    for name, hook in hooks:
        event.listen(target, name, hook)

    def stop() -> None:
        for name, hook in hooks:
            event.remove(target, name, hook)

    return stop
