"""``Channels``: publish/subscribe for WebSockets and Server-Sent Events, in one process or many.

The backend carries each message once per process; inside a process the hub hands it to
every local subscriber's bounded queue. A subscriber whose queue is full is dropped (a log
line, ``SlowSubscriber`` with close code 1013) so that a slow client never slows the
publisher or grows memory. With ``history=N`` the last N messages of each channel are kept
(memory ring, Redis Streams) and a subscriber that comes back with the last id it saw gets
what it missed first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Final

import msgspec

from celeris.channels.base import (
    Backend,
    ChannelsUnavailable,
    Message,
    SlowSubscriber,
    order,
)
from celeris.channels.memory import MemoryBackend
from celeris.channels.subscription import Subscription
from celeris.core.errors import BadRequest
from celeris.core.responses import ServerSentEvent, ServerSentEvents
from celeris.core.websocket import WebSocket, WebSocketDisconnect, WebSocketState
from celeris.health import register_check
from celeris.settings import app_setting

if TYPE_CHECKING:
    from celeris.core.requests import Request

__all__ = ["Channels", "ChannelsHealth", "open_backend"]

logger = logging.getLogger("celeris.channels")

DEFAULT_URL: Final = "memory://"
_encode: Final = msgspec.json.encode


class ChannelsHealth(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The result of the channels health check."""

    status: str  # "ok" or "unavailable"
    channels: str  # the backend's name
    error: str | None = None


def open_backend(
    url: str,
    *,
    history: int = 0,
    timeout: float = 2.0,
    presence_ttl: float = 30.0,
    retention: float = 86_400.0,
) -> Backend:
    """Return the backend for ``url``: memory, Redis pub/sub, or Redis Streams with history."""
    scheme = url.partition("://")[0].lower()
    if scheme == "memory":
        return MemoryBackend(history)
    if scheme in ("redis", "rediss", "unix"):
        try:
            # NOTE: a backend loads when chosen; redis-py is the `channels` extra
            if history:
                from celeris.channels.streams import RedisStreams

                return RedisStreams(
                    url,
                    history=history,
                    retention=retention,
                    timeout=timeout,
                    presence_ttl=presence_ttl,
                )
            from celeris.channels.redis import RedisPubSub

            return RedisPubSub(url, timeout=timeout, presence_ttl=presence_ttl)
        except ImportError as exc:
            raise RuntimeError(
                f"CHANNELS_URL {scheme}:// needs redis-py: pip install 'celeris[channels]'"
            ) from exc
    if scheme == "nats":
        try:
            from celeris.channels.nats import NatsJetStream  # NOTE: loaded when chosen
        except ImportError as exc:
            raise RuntimeError(
                "CHANNELS_URL nats:// needs nats-py: pip install 'celeris[channels]'"
            ) from exc
        return NatsJetStream(url, history=history, timeout=timeout, presence_ttl=presence_ttl)
    raise RuntimeError(
        f"unknown channels backend {url!r} (channels.E001): use memory://, redis://host/0 "
        "or nats://host:4222"
    )


class Channels:
    """Publish/subscribe; ``Channels(app=app)`` opens it at start-up and closes it at shutdown.

    ``url``: the constructor's, else CHANNELS_URL / REDIS_URL (settings, environment), else
    ``memory://``; ``nats://`` is JetStream. ``history``: messages kept per channel for
    resuming (0: none, Redis uses pub/sub; more: Redis uses Streams). ``maxsize``: the queue
    of each subscriber.
    ``presence_ttl``: seconds a Redis presence entry outlives a process that stopped
    refreshing it. ``retention``: seconds a Redis stream outlives its last publish.
    """

    def __init__(
        self,
        app: Any = None,
        *,
        url: str | None = None,
        history: int = 0,
        maxsize: int = 1000,
        timeout: float = 2.0,
        retry_after: int = 5,
        presence_ttl: float = 30.0,
        retention: float = 86_400.0,
    ) -> None:
        if maxsize < 1:
            raise ValueError("Channels(maxsize=) must be at least 1")
        self.app = app
        self.url = url
        self.history = history
        self.maxsize = maxsize
        self.timeout = timeout
        self.retry_after = retry_after
        self.presence_ttl = presence_ttl
        self.retention = retention
        self.backend: Backend | None = None
        self._subs: dict[str, set[Subscription]] = {}
        # NOTE: the listen of a channel's first subscriber, which the next ones wait for
        self._listening: dict[str, asyncio.Future[None]] = {}
        self._lock = asyncio.Lock()
        self.dropped = 0  # subscribers dropped for being slow, since start
        if app is not None:
            self.install(app)

    def install(self, app: Any) -> None:
        """Attach to ``app``: opened at start-up, closed at shutdown, checked by /readyz."""
        self.app = app
        app.state.channels = self
        app.on_startup(self.start)
        app.on_shutdown(self.stop)
        register_check(app, "channels", self.check)

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Resolve the URL and open the backend (idempotent)."""
        async with self._lock:
            if self.backend is not None:
                return
            self.url = self.url or app_setting(self.app, "CHANNELS_URL", "REDIS_URL") or DEFAULT_URL
            backend = open_backend(
                self.url,
                history=self.history,
                timeout=self.timeout,
                presence_ttl=self.presence_ttl,
                retention=self.retention,
            )
            await backend.open(self._deliver)
            self.backend = backend

    async def stop(self) -> None:
        """End every subscription and close the backend."""
        backend, self.backend = self.backend, None
        for subs in self._subs.values():
            for sub in subs:
                sub.close()
        self._subs.clear()
        if backend is not None:
            await backend.close()

    async def __aenter__(self) -> Channels:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    async def _backend(self) -> Backend:
        backend = self.backend
        if backend is None:
            await self.start()
            backend = self.backend
            assert backend is not None
        return backend

    async def check(self) -> ChannelsHealth:
        """Ping the backend; return its health without raising."""
        backend = await self._backend()
        try:
            await asyncio.wait_for(backend.ping(), self.timeout)
        except (ChannelsUnavailable, TimeoutError) as exc:
            return ChannelsHealth(status="unavailable", channels=backend.name, error=str(exc))
        return ChannelsHealth(status="ok", channels=backend.name)

    # --- publishing --------------------------------------------------------------------------

    async def publish(self, channel: str, data: Any) -> str | None:
        """Send ``data`` (anything msgspec encodes as JSON) to every subscriber of ``channel``.

        Returns the message id (None on Redis pub/sub); raises ``ChannelsUnavailable`` (503)
        when the backend does not answer within ``timeout``.
        """
        backend = await self._backend()
        raw = _encode(data)
        try:
            return await asyncio.wait_for(backend.publish(channel, raw), self.timeout)
        except TimeoutError:
            raise self._unavailable("timed out") from None

    def _unavailable(self, why: object) -> ChannelsUnavailable:
        return ChannelsUnavailable(
            f"The channels backend is unavailable ({why}); try again shortly.",
            retry_after=self.retry_after,
        )

    async def presence(self, channel: str) -> list[str]:
        """Return the members subscribed to ``channel`` (in every process), sorted."""
        backend = await self._backend()
        try:
            return await asyncio.wait_for(backend.members(channel), self.timeout)
        except TimeoutError:
            raise self._unavailable("timed out") from None

    # --- subscribing -------------------------------------------------------------------------

    def subscribe(
        self,
        channel: str,
        *,
        last_id: str | None = None,
        member: str | None = None,
        maxsize: int | None = None,
    ) -> Subscription:
        """Return a subscription to ``channel``, used as ``async with``.

        ``last_id``: the id of the last message seen; on a backend with history the messages
        after it come first. ``member``: a name shown by ``presence(channel)`` meanwhile.
        Raises ValueError for a ``last_id`` that is not a message id.
        """
        if last_id is not None:
            order(last_id)
        return Subscription(
            self,
            channel,
            last_id=last_id,
            member=member,
            maxsize=self.maxsize if maxsize is None else maxsize,
        )

    def _deliver(self, channel: str, message_id: str | None, raw: bytes) -> None:
        """Hand a message from the backend to every local subscriber of ``channel``."""
        subs = self._subs.get(channel)
        if not subs:
            return
        message = Message(channel, message_id, raw)
        dropped: list[Subscription] | None = None
        for sub in subs:
            pending = sub._pending
            if pending is not None:
                pending.append(message)
            elif not sub.put(message):
                if dropped is None:
                    dropped = []
                dropped.append(sub)
        if dropped:
            for sub in dropped:
                self._drop(sub)

    def _drop(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.channel)
        if subs is not None:
            subs.discard(sub)
        self.dropped += 1
        logger.warning(
            "dropped a slow subscriber of %r (%d messages waiting; close code %d)",
            sub.channel,
            len(sub._buffer),
            SlowSubscriber.code,
        )
        sub.drop()

    async def _join(self, sub: Subscription) -> None:
        backend = await self._backend()
        channel = sub.channel
        subs = self._subs.get(channel)
        first = subs is None
        if subs is None:
            subs = self._subs[channel] = set()
        resume = sub.last_id is not None and backend.resumable
        if resume:
            sub._pending = []
        subs.add(sub)
        try:
            if first:
                listening = self._listening[channel] = asyncio.get_running_loop().create_future()
                try:
                    await asyncio.wait_for(backend.listen(channel), self.timeout)
                except asyncio.CancelledError:
                    listening.cancel()
                    raise
                except Exception as exc:
                    listening.set_exception(exc)
                    listening.exception()  # NOTE: retrieved: no "never retrieved" warning
                    raise
                finally:
                    self._listening.pop(channel, None)
                    if not listening.done():
                        listening.set_result(None)
            else:
                pending_listen = self._listening.get(channel)
                if pending_listen is not None:
                    await asyncio.shield(pending_listen)
            if sub.member is not None:
                await asyncio.wait_for(backend.join(channel, sub.token, sub.member), self.timeout)
            if resume:
                assert sub.last_id is not None
                missed = await asyncio.wait_for(backend.since(channel, sub.last_id), self.timeout)
                sub.gap = await asyncio.wait_for(
                    backend.trimmed_after(channel, sub.last_id), self.timeout
                )
                self._catch_up(sub, missed)
        except (ChannelsUnavailable, TimeoutError) as exc:
            sub._pending = None
            await self._leave(sub)
            if isinstance(exc, ChannelsUnavailable):
                raise
            raise self._unavailable("timed out") from None

    def _catch_up(self, sub: Subscription, missed: list[tuple[str, bytes]]) -> None:
        """Queue the missed messages, then the live ones that came meanwhile, each once."""
        assert sub.last_id is not None
        last = order(sub.last_id)
        channel = sub.channel
        buffer = sub._buffer
        for message_id, raw in missed:
            # NOTE: what was missed is bounded by the history, not by the queue's maxsize
            buffer.append(Message(channel, message_id, raw))
            last = order(message_id)
        pending, sub._pending = sub._pending or [], None
        for message in pending:
            if message.id is not None and order(message.id) <= last:
                continue
            if not sub.put(message):
                self._drop(sub)
                return
        sub._wake()

    async def _leave(self, sub: Subscription) -> None:
        channel = sub.channel
        subs = self._subs.get(channel)
        if subs is not None:
            subs.discard(sub)
        backend = self.backend
        if backend is None:
            return
        try:
            if subs is not None and not subs:
                del self._subs[channel]
                await asyncio.wait_for(backend.unlisten(channel), self.timeout)
            if sub.member is not None:
                await asyncio.wait_for(backend.leave(channel, sub.token), self.timeout)
        except (ChannelsUnavailable, TimeoutError) as exc:
            # NOTE: presence entries expire by themselves; nothing to undo by hand
            logger.info("leaving %r while the backend is unavailable: %s", channel, exc)

    # --- WebSockets and Server-Sent Events ---------------------------------------------------

    async def websocket(
        self,
        ws: WebSocket,
        channel: str,
        *,
        last_id: str | None = None,
        member: str | None = None,
    ) -> None:
        """Relay ``channel`` to ``ws`` until the client leaves, as JSON text frames
        ``{"channel": ..., "id": ..., "data": ...}``; a slow client is closed with 1013.
        """
        try:
            subscription = self.subscribe(channel, last_id=last_id, member=member)
        except ValueError:
            await ws.close(1008, "bad last_id")
            return
        if ws.application_state is WebSocketState.CONNECTING:
            await ws.accept()
        try:
            async with subscription as sub:
                if sub.gap:
                    await ws.send_text(_gap_frame(channel))
                await _relay(ws, sub)
        except ChannelsUnavailable:
            await ws.close(1013, "channels unavailable")

    def events(
        self,
        channel: str,
        *,
        request: Request | None = None,
        last_id: str | None = None,
        member: str | None = None,
        ping: float | None = 15.0,
    ) -> ServerSentEvents:
        """Return a ``text/event-stream`` of ``channel``: each message an event with its id.

        A browser's EventSource reconnects by itself with ``Last-Event-ID``; pass the
        ``request`` and that header resumes the stream. A bad id is a 400.
        """
        if last_id is None and request is not None:
            last_id = request.headers.get("last-event-id") or None
        try:
            subscription = self.subscribe(channel, last_id=last_id, member=member)
        except ValueError:
            raise BadRequest(f"Last-Event-ID {last_id!r} is not a message id") from None
        return ServerSentEvents(_events(subscription), ping=ping)


async def _relay(ws: WebSocket, sub: Subscription) -> None:
    """Forward messages to ``ws`` until the client leaves, the app stops or it is too slow."""
    # PERF: one watcher task per connection ends the subscription when the client leaves,
    # so each message costs one await, not a task racing the client's close.
    watcher = asyncio.ensure_future(_until_closed(ws, sub))
    try:
        while True:
            try:
                message = await sub.get()
            except StopAsyncIteration:
                if not watcher.done():
                    await ws.close(1001)  # NOTE: the app is stopping ("going away")
                return
            except SlowSubscriber as exc:
                await ws.close(exc.code, "too slow")
                return
            if watcher.done():
                return
            try:
                # PERF: one event dict per message for every subscriber, not one per send
                await ws.send(message.send_event())
            except WebSocketDisconnect:
                return
    finally:
        if not watcher.done():
            watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)


async def _until_closed(ws: WebSocket, sub: Subscription) -> None:
    try:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
    finally:
        sub.close()


def _gap_frame(channel: str) -> str:
    return _encode({"channel": channel, "id": None, "gap": True}).decode()


async def _events(subscription: Subscription) -> AsyncIterator[ServerSentEvent]:
    try:
        async with subscription as sub:
            if sub.gap:
                yield ServerSentEvent(event="gap", data=_gap_frame(sub.channel))
            async for message in sub.messages():
                yield ServerSentEvent(data=message.raw.decode(), id=message.id)
    except SlowSubscriber:
        return  # NOTE: the stream ends; EventSource reconnects with Last-Event-ID
