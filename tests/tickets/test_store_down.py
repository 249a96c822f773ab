"""A ticket store that is down, unreachable or hung never holds a 500 back or loses it.

The database is really cut: PostgreSQL behind a TCP proxy that is stopped or black-holed, and
a URL on a closed port. Tickets wait in the bounded buffer and are written once it answers.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from celeris import App
from celeris.db import Database, PoolOptions
from celeris.testing import AsyncTestClient
from celeris.tickets import Tickets
from tests.db.conftest import private_postgres
from tests.db.tcp_proxy import TCPProxy

FAST = 1.0  # seconds: a 500 must come back well within this whatever the store does


@pytest.fixture
def private_pg(postgres_url: str) -> Iterator[str]:
    yield from private_postgres(postgres_url)


def make_app(tickets: Tickets) -> App:
    app = App()
    tickets.install(app)

    @app.get("/boom/{n:int}")
    async def boom(n: int) -> None:
        raise RuntimeError(f"boom {n}")

    return app


async def _fail(client: AsyncTestClient, n: int) -> str:
    started = time.perf_counter()
    response = await client.get(f"/boom/{n}")
    elapsed = time.perf_counter() - started
    assert response.status_code == 500
    assert elapsed < FAST, f"the 500 took {elapsed:.2f}s while the store was down"
    ticket_id: str = response.json()["ticket"]
    return ticket_id


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize("fault", ["cut", "stall"])
async def test_postgresql_cut_or_hung_then_restored(
    fault: str, private_pg: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = make_url(private_pg)
    proxy = TCPProxy(target.host or "127.0.0.1", target.port or 5432)
    port = await proxy.start()
    pool = PoolOptions(connect_timeout=1.0, statement_timeout=2.0)
    through = Database(
        target.set(port=port).render_as_string(hide_password=False), pool=pool, root_path=tmp_path
    )
    tickets = Tickets(db=through, write_timeout=0.5)
    tickets.retry_delay = 0.1
    app = make_app(tickets)
    direct = Tickets(private_pg, root_path=tmp_path)
    caplog.set_level(logging.WARNING, logger="celeris.tickets")
    try:
        async with AsyncTestClient(app, raise_server_exceptions=False) as client:
            before = await _fail(client, 0)
            assert await tickets.flush(5)
            if fault == "cut":
                await proxy.cut()
            else:
                proxy.stall()
            during = [await _fail(client, n) for n in range(1, 6)]
            # NOTE: the writer tries, times out, keeps them (a hung socket also delays the
            # cancelled write's clean-up: the writer, never a response, waits for it).
            deadline = time.monotonic() + 8
            while "ticket store unreachable" not in caplog.text and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert "ticket store unreachable" in caplog.text
            assert tickets.pending == 5
            assert await _fail(client, 6)  # still fast while the writer is stuck
            await proxy.restore()
            assert await tickets.flush(20), "the buffered tickets were not written after restore"
            assert "ticket store answers again" in caplog.text
            async with direct:
                for ticket_id in [before, *during]:
                    assert await direct.ticket(ticket_id) is not None
                (group,) = await direct.list()
                assert group.count == 7
    finally:
        await proxy.close()
        await through.disconnect()


async def test_a_store_on_a_closed_port_costs_the_500_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{_closed_port()}/nowhere"
    tickets = Tickets(url, write_timeout=0.5, buffer=3, root_path=tmp_path)
    app = make_app(tickets)
    caplog.set_level(logging.WARNING, logger="celeris.tickets")
    started = time.perf_counter()
    async with AsyncTestClient(app, raise_server_exceptions=False) as client:
        ids = [await _fail(client, n) for n in range(5)]
        assert len(set(ids)) == 5
        assert tickets.pending == 3  # bounded: the two oldest went
        assert tickets.dropped == 2
    elapsed = time.perf_counter() - started
    assert elapsed < 10, f"start-up and shutdown took {elapsed:.1f}s with the store down"
    assert "not reachable at start-up" in caplog.text
    assert "ticket buffer full" in caplog.text
    assert "not stored at shutdown" in caplog.text
