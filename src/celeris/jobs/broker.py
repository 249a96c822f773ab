"""Broker backends: RabbitMQ, Redis streams or NATS JetStream carry the work, through taskiq.

The job records stay in a ``celeris.db`` database (the app's own, else ``jobs.db``): they hold
the state, attempts, results and errors, serve the data API and the admin, and make enqueueing
transactional. The broker carries "job X is due" messages, one queue (stream, subject) per
celeris queue, so idle workers wait on the broker instead of polling, and a message is
acknowledged only after the job's outcome was recorded.

Handing over is an outbox: a record is written first, then published and marked sent; every
worker's relay publishes due records that were never sent (delayed jobs, retries, jobs of dead
workers put back by the reaper, a publish that failed, a crash between commit and publish) and
re-publishes any still queued ``resend_after`` seconds after it was sent. A message for a job
that is not queued (a duplicate) is acknowledged and dropped, so each job runs once per attempt.

The records being the source of truth, publishing need not wait for the broker: the jobs stored
in one loop iteration go out together (up to ``_IDS_PER_MESSAGE`` ids a message, acknowledged
after its last job), and on RabbitMQ without publisher confirms, as Celery does (persistent
messages; what the broker loses, the relay publishes again).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from celeris.db import Database
from celeris.jobs.base import JobRecord
from celeris.jobs.database import DatabaseBackend
from celeris.jobs.errors import JobsConfigError

__all__ = ["BrokerBackend", "make_broker"]

log = logging.getLogger("celeris.jobs")

_EXTRAS = {"amqp": "jobs-amqp", "redis": "jobs-redis", "rediss": "jobs-redis", "nats": "jobs-nats"}
_MAX_PRIORITY = 10
_PUBLISH_TIMEOUT = 2.0  # seconds
_MAX_WAITING = 4096  # jobs stored and waiting for the background publisher
_IDS_PER_MESSAGE = 32  # job ids in one broker message, at most
_CLOSE_TIMEOUT = 10.0  # seconds close() waits for the publishes in flight


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def make_broker(url: str, queue: str, *, consumer: bool, prefetch: int) -> Any:
    """Return a taskiq broker for one celeris ``queue`` on the broker at ``url``."""
    scheme = url.partition("://")[0].lower()
    name = f"celeris.jobs.{queue}"
    try:
        if scheme == "amqp":
            from taskiq_aio_pika import AioPikaBroker, Exchange, Queue, QueueType

            broker: Any = AioPikaBroker(
                url,
                qos=prefetch,
                exchange=Exchange(name="celeris.jobs"),
                task_queues=[
                    Queue(
                        name=name,
                        routing_key=queue,
                        type=QueueType.CLASSIC,
                        max_priority=_MAX_PRIORITY,
                    )
                ],
                dead_letter_queue=Queue(name="celeris.jobs.dead_letter", type=QueueType.CLASSIC),
            )
        elif scheme in ("redis", "rediss"):
            from taskiq_redis import RedisStreamBroker

            # NOTE: consumer_id "0": a group created after messages were published still gets
            # them (the default "$" would skip everything sent before the first worker started).
            broker = RedisStreamBroker(
                url,
                queue_name=name,
                consumer_group_name="celeris",
                consumer_id="0",
                xread_block=1000,
                xread_count=prefetch,
            )
        elif scheme == "nats":
            from taskiq_nats import PullBasedJetStreamBroker

            durable = name.replace(".", "_")
            broker = PullBasedJetStreamBroker(
                url,
                subject=name,
                stream_name=durable,
                durable=durable,
                pull_consume_batch=prefetch,
                pull_consume_timeout=1.0,
            )
        else:
            raise JobsConfigError(f"jobs.E001: {scheme}:// is not a broker scheme")
    except ImportError as error:
        raise JobsConfigError(
            f"jobs.E001: JOBS_URL {scheme}:// needs pip install 'celeris[{_EXTRAS[scheme]}]' "
            f"({error})"
        ) from None
    broker.is_worker_process = consumer
    return broker


class _Delivery:
    """A broker message naming ``pending`` jobs not yet settled, and its acknowledgement."""

    __slots__ = ("ack", "pending")

    def __init__(self, ack: Callable[[], Any] | None, pending: int) -> None:
        self.ack = ack
        self.pending = pending


class BrokerBackend(DatabaseBackend):
    """Records in a database, deliveries through a taskiq broker."""

    blocking_claim = True  # claim() waits for messages itself: the worker does not poll

    def __init__(
        self,
        database: Database,
        broker_url: str,
        queues: Callable[[], set[str]],
        *,
        poll: float = 0.5,
        resend_after: float = 60.0,
        own: bool = False,
    ) -> None:
        super().__init__(database, own=own)
        self.broker_url = broker_url
        self.url = _redacted(broker_url)
        self.records_url = database.url.render_as_string(hide_password=True)
        self._queues = queues
        self.poll = poll
        self.resend_after = resend_after
        self._publishers: dict[str, Any] = {}
        self._exchanges: dict[str, Any] = {}  # amqp: queue -> exchange on an unconfirmed channel
        self._publishers_lock = asyncio.Lock()
        self._consumers: dict[str, Any] = {}
        self._listeners: list[asyncio.Task[None]] = []
        self._inbox: asyncio.Queue[tuple[str, _Delivery]] = asyncio.Queue()
        self._acks: dict[str, _Delivery] = {}
        self._outgoing: list[JobRecord] = []  # stored this loop iteration, to publish together
        self._flushing: asyncio.Task[None] | None = None
        self._relayed_at = 0.0
        self._sending: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        """Create the tables and connect one publisher per known queue."""
        await super().open()
        try:
            async with asyncio.timeout(_PUBLISH_TIMEOUT * 2):
                for queue in sorted(self._queues()):
                    await self._publisher(queue)
        except Exception as error:
            # NOTE: start without the broker: jobs are stored and published once it is back.
            log.warning("jobs broker %s unavailable at start-up (%s)", self.url, error)

    async def close(self) -> None:
        """Finish the publishes in flight, stop listening and disconnect from the broker."""
        loop = asyncio.get_running_loop()
        # NOTE: only this loop's: a Jobs used by one asyncio.run, then closed by another
        in_flight = [t for t in self._sending if not t.done() and t.get_loop() is loop]
        if in_flight:
            # NOTE: bounded: a broker that stops answering must not hang shutdown. A publish
            # given up here leaves its record unfinished; the relay republishes it later.
            _, pending = await asyncio.wait(in_flight, timeout=_CLOSE_TIMEOUT)
            if pending:
                log.warning(
                    "jobs: %d publishes still in flight after %.0f s at close; the relay "
                    "republishes them",
                    len(pending),
                    _CLOSE_TIMEOUT,
                )
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
        self._sending.clear()
        for task in self._listeners:
            task.cancel()
        await asyncio.gather(*self._listeners, return_exceptions=True)
        self._listeners.clear()
        for broker in [*self._consumers.values(), *self._publishers.values()]:
            with contextlib.suppress(Exception):
                await broker.shutdown()
        self._consumers.clear()
        self._publishers.clear()
        self._exchanges.clear()

    async def _publisher(self, queue: str) -> Any:
        async with self._publishers_lock:
            broker = self._publishers.get(queue)
            if broker is None:
                broker = make_broker(self.broker_url, queue, consumer=False, prefetch=1)
                await broker.startup()
                if self.broker_url.partition("://")[0].lower() == "amqp":
                    # PERF: the hot path publishes on a channel of its own without publisher
                    # confirms, as Celery (kombu) does by default: the job's record is the
                    # source of truth, and the relay publishes again what the broker lost.
                    channel = await broker.write_conn.channel(publisher_confirms=False)
                    self._exchanges[queue] = await channel.get_exchange(
                        "celeris.jobs", ensure=False
                    )
                self._publishers[queue] = broker
            return broker

    async def _publish(self, queue: str, priority: int, ids: Sequence[str]) -> None:
        """Publish one message naming the jobs ``ids`` (all of ``queue``, one priority)."""
        priority = max(0, min(_MAX_PRIORITY, priority))
        body = " ".join(ids).encode()
        exchange = self._exchanges.get(queue)
        if exchange is None and queue not in self._publishers:
            await self._publisher(queue)
            exchange = self._exchanges.get(queue)
        if exchange is not None:
            from aio_pika import DeliveryMode, Message

            # NOTE: the body is all the worker reads (taskiq's listener yields it alone);
            # persistent, so a message the broker took survives its restart, as Celery's.
            message = Message(body, delivery_mode=DeliveryMode.PERSISTENT, priority=priority)
            await exchange.publish(message, routing_key=queue, mandatory=False)
            return
        from taskiq import BrokerMessage

        kicked = BrokerMessage(
            task_id=ids[0],
            task_name="celeris.job",
            message=body,
            # NOTE: no "queue_name" label: each celeris queue has a broker of its own, and the
            # Redis broker would take that label as the stream's key.
            labels={"priority": str(priority)},  # NATS headers are text
        )
        await (await self._publisher(queue)).kick(kicked)

    async def _kick(self, record: JobRecord) -> bool:
        return not await self._kick_many([record])

    async def _kick_many(self, records: Sequence[JobRecord]) -> list[JobRecord]:
        """Publish ``records``, a message per queue, priority and _IDS_PER_MESSAGE jobs.

        Return those whose publish failed.
        """
        # PERF: one message for the jobs enqueued together: one publish, one delivery and one
        # acknowledgement for up to _IDS_PER_MESSAGE jobs instead of one each.
        groups: dict[tuple[str, int], list[JobRecord]] = {}
        for record in records:
            groups.setdefault((record.queue, record.priority), []).append(record)
        failed: list[JobRecord] = []
        for (queue, priority), group in groups.items():
            for start in range(0, len(group), _IDS_PER_MESSAGE):
                chunk = group[start : start + _IDS_PER_MESSAGE]
                try:
                    # NOTE: bounded, so a request that enqueues never hangs on a broker that
                    # stopped answering; the stored records are published later by the relay.
                    async with asyncio.timeout(_PUBLISH_TIMEOUT):
                        await self._publish(queue, priority, [r.id for r in chunk])
                except Exception as error:
                    # NOTE: the records are stored; the relay publishes them again.
                    log.warning(
                        "%d job(s) not handed to the broker yet (%s): %s",
                        len(chunk),
                        chunk[0].id,
                        error,
                    )
                    failed += chunk
        return failed

    async def push(self, record: JobRecord, session: Any = None) -> JobRecord:
        """Store the record (in ``session`` when given) and publish it unless it waits."""
        due = record.run_at <= time.time()
        if session is None and due:
            record.sent_at = time.time()  # the relay re-publishes if this process dies now
        stored = await super().push(record, session)
        if stored.id == record.id and session is None and due:
            if len(self._outgoing) >= _MAX_WAITING:
                # NOTE: back-pressure: enqueues faster than the broker takes them wait for
                # their own publish, instead of piling up publishes that would time out.
                await self._send([stored])
                return stored
            # PERF: published in the background, together with the other records stored in
            # this loop iteration: the enqueue returns once the record is stored. The record
            # is marked sent, so if this process dies first the relay publishes it
            # ``resend_after`` seconds later; a publish that fails marks it unsent at once.
            self._outgoing.append(stored)
            loop = asyncio.get_running_loop()
            flushing = self._flushing
            if flushing is None or flushing.done() or flushing.get_loop() is not loop:
                task = loop.create_task(self._flush())
                self._flushing = task
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)
        return stored

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let the rest of this loop iteration join
        while self._outgoing:
            # NOTE: the records stored while this batch is published make the next batch
            records, self._outgoing = self._outgoing, []
            await self._send(records)

    async def _send(self, records: Sequence[JobRecord]) -> None:
        """Publish; mark the jobs whose publish failed unsent, so the next relay pass retries."""
        for record in await self._kick_many(records):
            try:
                await self.mark_unsent(record.id)
            except Exception as error:  # the relay re-publishes it after resend_after
                log.warning("job %s: cannot mark it unsent (%s)", record.id, error)

    async def committed(self, record: JobRecord) -> None:
        """Publish a job whose transaction just committed."""
        if record.run_at <= time.time() and await self._kick(record):
            await self.mark_sent(record.id)

    async def relay(self) -> int:
        """Publish due jobs that were never handed over, or long ago."""
        records = await self.unsent(self.resend_after)
        if records:
            await self._send(records)
        return len(records)

    async def _listen(self, queue: str, prefetch: int) -> None:
        while True:
            broker = None
            try:
                broker = make_broker(self.broker_url, queue, consumer=True, prefetch=prefetch)
                await broker.startup()
                self._consumers[queue] = broker
                async for message in broker.listen():
                    data = message.data if hasattr(message, "data") else message
                    ids = bytes(data).decode().split()
                    delivery = _Delivery(getattr(message, "ack", None), len(ids))
                    for job_id in ids:
                        self._inbox.put_nowait((job_id, delivery))
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("jobs broker listener for %r failed (%s); reconnecting", queue, error)
                if broker is not None:
                    with contextlib.suppress(Exception):
                        await broker.shutdown()
                await asyncio.sleep(1.0)

    async def _ack(self, delivery: _Delivery | None) -> None:
        """One of the message's jobs is settled: acknowledge the message after its last."""
        if delivery is None:
            return
        delivery.pending -= 1
        if delivery.pending > 0 or delivery.ack is None:
            return
        try:
            result = delivery.ack()
            if inspect.isawaitable(result):
                await result
        except Exception as error:
            log.warning("jobs broker: ack failed (%s); the job may be delivered again", error)

    async def claim(
        self, queues: Sequence[str] | None, worker: str, limit: int, lease: float
    ) -> list[JobRecord]:
        """Wait up to ``poll`` seconds for messages and lease their jobs."""
        if not self._listeners:
            chosen = sorted(queues if queues is not None else self._queues())
            # PERF: the broker may hand over twice the worker's concurrency: the next messages
            # wait here while jobs run, instead of the ack -> deliver round trip after each job
            # (the extra ones stay unacknowledged: redelivered if this worker dies).
            self._listeners = [
                asyncio.create_task(self._listen(queue, 2 * max(limit, 1))) for queue in chosen
            ]
        now = time.monotonic()
        if now - self._relayed_at >= self.poll:
            self._relayed_at = now
            await self.relay()
        try:
            first = await asyncio.wait_for(self._inbox.get(), self.poll)
        except TimeoutError:
            return []
        pending = [first]
        while len(pending) < limit and not self._inbox.empty():
            pending.append(self._inbox.get_nowait())
        acks: dict[str, _Delivery] = {}
        for job_id, ack in pending:
            if job_id in acks:
                await self._ack(ack)  # the same job twice in one batch
            else:
                acks[job_id] = ack
        records = await self.claim_ids(list(acks), worker, lease)
        for record in records:
            self._acks[record.id] = acks.pop(record.id)
        for ack in acks.values():
            await self._ack(ack)  # a duplicate, or a job cancelled or already done
        return records

    async def finish(self, job_id: str, worker: str, result: str) -> bool:
        """Record the result, then acknowledge the message."""
        done = await super().finish(job_id, worker, result)
        await self._ack(self._acks.pop(job_id, None))
        return done

    async def fail(self, job_id: str, worker: str, error: str, retry_at: float | None) -> bool:
        """Record the failure (a retry is published by the relay when due), then acknowledge."""
        failed = await super().fail(job_id, worker, error, retry_at)
        await self._ack(self._acks.pop(job_id, None))
        return failed

    async def release(self, job_id: str, worker: str) -> None:
        """Hand the job back (the relay publishes it again), then acknowledge."""
        await super().release(job_id, worker)
        await self._ack(self._acks.pop(job_id, None))
