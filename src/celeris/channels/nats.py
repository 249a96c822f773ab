"""``NatsJetStream``: resumable channels on NATS JetStream (``nats://``).

One stream holds every channel (``<prefix>.<channel>`` subjects), keeping the last
``history`` messages of each (``max_msgs_per_subject``); message ids are the stream's
sequence numbers. Each process has one ordered push consumer per channel it has subscribers
for, started after the last sequence it delivered: after a reconnect the consumers are made
again from there, so nothing retained is lost. Presence lives in a key-value bucket whose
entries expire unless their process refreshes them.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, Final

import nats
import nats.errors
import nats.js.errors
from nats.js import api

from celeris.channels.base import ChannelsUnavailable, Deliver, order

__all__ = ["NatsJetStream"]

logger = logging.getLogger("celeris.channels")

_PLAIN: Final = re.compile(r"[A-Za-z0-9_:-]+")
# NOTE: every failure that means "NATS is not answering", as opposed to a bug of ours.
_DOWN: Final = (nats.errors.Error, OSError, TimeoutError)


def subject_token(channel: str) -> str:
    """Return ``channel`` as one subject token (hex-encoded if it has ``.``, ``*``, ``>``...)."""
    if _PLAIN.fullmatch(channel):
        return channel
    return "~" + channel.encode().hex()


class NatsJetStream:
    """JetStream publish, one ordered consumer per listened channel, KV presence."""

    name = "nats-jetstream"
    resumable = True

    def __init__(
        self,
        url: str,
        *,
        history: int = 1000,
        prefix: str = "celeris.channels",
        timeout: float = 2.0,
        presence_ttl: float = 30.0,
    ) -> None:
        self.url = url
        self.history = history or 1000
        self.prefix = prefix
        self.timeout = timeout
        self.presence_ttl = presence_ttl
        self.stream = re.sub(r"[^A-Za-z0-9_-]", "_", prefix).upper()
        self._nc: Any = None
        self._js: Any = None
        self._kv: Any = None
        self._deliver: Deliver | None = None
        self._subs: dict[str, Any] = {}  # channel -> its push subscription
        self._positions: dict[str, int] = {}  # channel -> last stream sequence delivered
        self._present: dict[tuple[str, str], str] = {}
        self._refresher: asyncio.Task[None] | None = None
        self._connector: asyncio.Task[None] | None = None

    def _unavailable(self, exc: object) -> ChannelsUnavailable:
        return ChannelsUnavailable(f"NATS channels backend: {exc}", retry_after=5)

    def _subject(self, channel: str) -> str:
        return f"{self.prefix}.{subject_token(channel)}"

    async def open(self, deliver: Deliver) -> None:
        self._deliver = deliver
        try:
            await self._connect()
        except ChannelsUnavailable as exc:
            # NOTE: NATS down at start-up is not fatal: publishing answers 503 until it is up
            logger.warning("NATS unreachable at start-up, retrying: %s", exc)
            self._connector = asyncio.create_task(self._connect_later())
        self._refresher = asyncio.create_task(self._refresh_presence())

    async def _connect(self) -> None:
        try:
            nc = await nats.connect(
                self.url,
                connect_timeout=self.timeout,
                # NOTE: nats-py applies this to the first connect too, where -1 (forever)
                # would hang the app's start-up; once connected, reconnect forever.
                max_reconnect_attempts=1,
                reconnect_time_wait=0.2,
                allow_reconnect=True,
                reconnected_cb=self._reconnected,
                disconnected_cb=self._disconnected,
                error_cb=self._error,
            )
        except _DOWN as exc:
            raise self._unavailable(exc) from exc
        nc.options["max_reconnect_attempts"] = -1
        try:
            js = nc.jetstream(timeout=self.timeout)
            config = api.StreamConfig(
                name=self.stream,
                subjects=[f"{self.prefix}.>"],
                max_msgs_per_subject=self.history,
            )
            try:
                await js.add_stream(config)
            except nats.js.errors.BadRequestError:
                await js.update_stream(config)  # NOTE: exists: apply this history
            self._kv = await js.create_key_value(
                bucket=f"{self.stream}_PRESENCE", ttl=self.presence_ttl
            )
        except _DOWN as exc:
            await nc.close()
            raise self._unavailable(exc) from exc
        self._nc, self._js = nc, js

    async def _connect_later(self) -> None:
        delay = 0.2
        while self._deliver is not None:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
            try:
                await self._connect()
            except ChannelsUnavailable:
                continue
            logger.warning("NATS reachable")
            return

    async def close(self) -> None:
        self._deliver = None
        for task in (self._refresher, self._connector):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._refresher = self._connector = None
        nc, self._nc = self._nc, None
        if nc is not None:
            for channel, token in list(self._present):
                await self._forget(channel, token)
            await nc.close()
        self._subs.clear()
        self._positions.clear()

    async def ping(self) -> None:
        nc = self._nc
        if nc is None or not nc.is_connected:
            raise self._unavailable("not connected")
        try:
            await nc.flush(timeout=self.timeout)
        except _DOWN as exc:
            raise self._unavailable(exc) from exc

    async def publish(self, channel: str, raw: bytes) -> str | None:
        if self._nc is None or not self._nc.is_connected:
            # NOTE: nats-py would buffer the publish until it reconnects: refuse it now instead
            raise self._unavailable("not connected")
        try:
            ack = await self._js.publish(self._subject(channel), raw, timeout=self.timeout)
        except _DOWN as exc:
            raise self._unavailable(exc) from exc
        return str(ack.seq)

    # --- consuming ---------------------------------------------------------------------------

    async def _consume(self, channel: str, after: int | None) -> None:
        """(Re)start the consumer of ``channel``: after sequence ``after``, or new messages."""
        if after is None:
            config = api.ConsumerConfig(deliver_policy=api.DeliverPolicy.NEW)
        else:
            config = api.ConsumerConfig(
                deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after + 1
            )

        async def received(msg: Any) -> None:
            seq = msg.metadata.sequence.stream
            if seq <= self._positions.get(channel, 0):
                return  # NOTE: already delivered (a consumer made again after a reconnect)
            self._positions[channel] = seq
            deliver = self._deliver
            if deliver is not None:
                deliver(channel, str(seq), msg.data)

        old = self._subs.pop(channel, None)
        if old is not None:
            try:
                await old.unsubscribe()
            except _DOWN:
                pass
        self._subs[channel] = await self._js.subscribe(
            self._subject(channel),
            cb=received,
            stream=self.stream,
            ordered_consumer=True,
            config=config,
        )

    def _require(self) -> Any:
        if self._js is None:
            raise self._unavailable("not connected")
        return self._js

    async def listen(self, channel: str) -> None:
        self._require()
        try:
            last = await self._js.get_last_msg(self.stream, self._subject(channel))
            after: int | None = last.seq
        except nats.js.errors.NotFoundError:
            after = 0
        except _DOWN as exc:
            raise self._unavailable(exc) from exc
        self._positions.setdefault(channel, after or 0)
        try:
            await self._consume(channel, after)
        except _DOWN as exc:
            raise self._unavailable(exc) from exc

    async def unlisten(self, channel: str) -> None:
        self._positions.pop(channel, None)
        sub = self._subs.pop(channel, None)
        if sub is not None:
            try:
                await sub.unsubscribe()
            except _DOWN as exc:
                raise self._unavailable(exc) from exc

    async def since(self, channel: str, last_id: str) -> list[tuple[str, bytes]]:
        self._require()
        subject = self._subject(channel)
        found: list[tuple[str, bytes]] = []
        seq = order(last_id)[0] + 1
        while True:
            try:
                msg = await self._js.get_msg(self.stream, seq=seq, subject=subject, next=True)
            except nats.js.errors.NotFoundError:
                return found
            except _DOWN as exc:
                raise self._unavailable(exc) from exc
            found.append((str(msg.seq), msg.data or b""))
            seq = msg.seq + 1

    async def trimmed_after(self, channel: str, last_id: str) -> bool:
        # NOTE: sequences are the whole stream's, so a channel's trimmed ones leave no trace
        return False

    async def _disconnected(self) -> None:
        if self._deliver is not None:  # NOTE: not when we close the connection ourselves
            logger.warning("NATS unreachable, reconnecting")

    async def _error(self, exc: Exception) -> None:
        logger.debug("NATS: %s", exc)

    async def _reconnected(self) -> None:
        logger.warning("NATS reachable again: resuming %d channels", len(self._subs))
        for channel in list(self._subs):
            try:
                await self._consume(channel, self._positions.get(channel, 0))
            except _DOWN as exc:
                logger.warning("resuming %r failed: %s", channel, exc)

    # --- presence ----------------------------------------------------------------------------

    def _key(self, channel: str, token: str, member: str) -> str:
        return f"{channel.encode().hex()}.{token}.{member.encode().hex()}"

    async def join(self, channel: str, token: str, member: str) -> None:
        self._require()
        self._present[channel, token] = member
        try:
            await self._kv.put(self._key(channel, token, member), b"")
        except _DOWN as exc:
            raise self._unavailable(exc) from exc

    async def _forget(self, channel: str, token: str) -> None:
        member = self._present.pop((channel, token), None)
        if member is not None and self._kv is not None:
            try:
                await self._kv.purge(self._key(channel, token, member))
            except _DOWN as exc:
                raise self._unavailable(exc) from exc

    async def leave(self, channel: str, token: str) -> None:
        await self._forget(channel, token)

    async def members(self, channel: str) -> list[str]:
        self._require()
        # NOTE: every key of the bucket, filtered here: nats-py's server-side key filters
        # return nothing on the NATS we test against.
        head = channel.encode().hex() + "."
        try:
            keys = await self._kv.keys()
        except nats.js.errors.NoKeysError:
            return []
        except _DOWN as exc:
            raise self._unavailable(exc) from exc
        return sorted(
            {bytes.fromhex(key.rsplit(".", 1)[1]).decode() for key in keys if key.startswith(head)}
        )

    async def _refresh_presence(self) -> None:
        while True:
            await asyncio.sleep(self.presence_ttl / 3)
            if self._kv is None:
                continue
            for (channel, token), member in list(self._present.items()):
                try:
                    await self._kv.put(self._key(channel, token, member), b"")
                except _DOWN as exc:
                    logger.info("presence refresh failed: %s", exc)
                    break
