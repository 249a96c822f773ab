"""The worker server: graceful stop, TLS, Unix sockets, options, the Date tick."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
import subprocess
import threading
from pathlib import Path

import pytest

from celeris.server.config import Config
from celeris.server.server import Server, bind_sockets, build_kind, make_config, ssl_context
from celeris.types import Receive, Scope, Send

from .support import echo_app, raw, read_response, serving, status_of


async def slow_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    await asyncio.sleep(float(scope["query_string"] or b"0.3"))
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"finished"})


async def test_graceful_stop_finishes_in_flight_requests_and_refuses_new_ones() -> None:
    async with serving(slow_app) as (server, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.sleep(0.05)
        server.request_stop()
        status, headers, body = await read_response(reader)
        assert (status, body) == (200, b"finished")
        assert headers["connection"] == "close"
        assert await asyncio.wait_for(idle_reader.read(-1), 5) == b""  # idle keep-alive closed
        await asyncio.sleep(0.05)
        with pytest.raises(OSError):
            await raw(port, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        writer.close()
        idle_writer.close()


async def test_graceful_timeout_cuts_off_requests_that_take_too_long() -> None:
    async with serving(slow_app, graceful_timeout=0.2) as (server, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /?5 HTTP/1.1\r\nHost: a\r\n\r\n")
        await asyncio.sleep(0.05)
        loop = asyncio.get_running_loop()
        start = loop.time()
        server.request_stop()
        assert await asyncio.wait_for(reader.read(-1), 5) == b""
        assert loop.time() - start < 2
        writer.close()


async def test_unix_domain_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "celeris.sock")
    config = Config(uds=path, access_log=False)
    sockets = bind_sockets(config)
    server = Server(config, echo_app)
    server.started = asyncio.Event()
    task = asyncio.create_task(server.serve(sockets))
    await asyncio.wait_for(server.started.wait(), 5)
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(b"GET /uds HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    status, _, body = await read_response(reader)
    assert status == 200
    assert json.loads(body)["path"] == "/uds"
    assert json.loads(body)["client"] is None
    writer.close()
    server.request_stop()
    await asyncio.wait_for(task, 10)
    sockets[0].close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


async def test_tls(certificate: tuple[str, str]) -> None:
    cert, key = certificate
    client = ssl.create_default_context()
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    async with serving(echo_app, ssl_certfile=cert, ssl_keyfile=key) as (_, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client)
        writer.write(b"GET /tls HTTP/1.1\r\nHost: a\r\n\r\n")
        status, _, body = await read_response(reader)
        assert status == 200
        assert json.loads(body)["scheme"] == "https"
        writer.close()


def test_ssl_options_are_checked() -> None:
    assert ssl_context(Config()) is None
    with pytest.raises(ValueError, match="without ssl_certfile"):
        ssl_context(Config(ssl_keyfile="k.pem"))


def test_unknown_options_are_named() -> None:
    with pytest.raises(TypeError, match="unknown server option\\(s\\): colour"):
        make_config(colour="blue")
    with pytest.raises(ValueError, match="workers must be at least 1"):
        make_config(workers=0)
    with pytest.raises(ValueError, match="wsgi_threads must be at least 1"):
        make_config(wsgi_threads=0)
    with pytest.raises(ValueError, match="interface must be one of auto, asgi3, wsgi"):
        make_config(interface="wsgi2")


async def test_date_and_server_headers_can_be_disabled() -> None:
    async with serving(echo_app, date_header=False, server_header=False) as (_, port):
        response = await raw(port, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert b"date:" not in response
    assert b"server:" not in response
    assert status_of(response) == 200


async def test_date_header_ticks() -> None:
    async with serving(echo_app) as (server, port):
        first = server.state.headers.line
        await asyncio.sleep(1.3)
        assert server.state.headers.line != first
        await raw(port, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")


async def test_second_stop_request_forces_exit() -> None:
    async with serving(slow_app, graceful_timeout=30) as (server, port):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /?10 HTTP/1.1\r\nHost: a\r\n\r\n")
        await asyncio.sleep(0.05)
        server.request_stop()
        server.request_stop()
    writer.close()


def test_the_server_says_whether_it_runs_compiled() -> None:
    # make test-compiled sets CELERIS_EXPECT_COMPILED=1; make test runs the source tree.
    expected = "compiled" if os.environ.get("CELERIS_EXPECT_COMPILED") == "1" else "pure Python"
    assert build_kind() == expected


async def test_on_stop_an_idle_keep_alive_connection_is_left_to_its_timer_for_a_proxy() -> None:
    # A proxy may be sending its next request on a pooled connection as the server stops:
    # closing it then would reset that request, so the server answers it (connection: close)
    # or closes once the keep-alive timer runs out, never at once.
    async with serving(echo_app, timeout_keep_alive=1.0) as (server, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /first HTTP/1.1\r\nHost: a\r\n\r\n")
        assert (await read_response(reader))[0] == 200
        quiet_reader, quiet_writer = await asyncio.open_connection("127.0.0.1", port)
        quiet_writer.write(b"GET /first HTTP/1.1\r\nHost: a\r\n\r\n")
        assert (await read_response(quiet_reader))[0] == 200
        loop = asyncio.get_running_loop()
        stopped = loop.time()
        server.request_stop()
        await asyncio.sleep(0.3)
        writer.write(b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n")  # the proxy's next request
        status, headers, body = await read_response(reader)
        assert (status, json.loads(body)["path"]) == (200, "/next")
        assert headers["connection"] == "close"
        assert await asyncio.wait_for(reader.read(-1), 5) == b""
        assert await asyncio.wait_for(quiet_reader.read(-1), 5) == b""  # at its timer
        assert 0.9 <= loop.time() - stopped < 3
        writer.close()
        quiet_writer.close()


def _get(port: int, sent: threading.Barrier) -> str:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            sent.wait(10)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
    except ConnectionRefusedError:
        return "refused"
    except ConnectionResetError:
        return "reset"
    return data.split(b"\r\n", 1)[0].decode()


async def test_connections_waiting_in_the_backlog_at_stop_are_served_not_reset() -> None:
    holder: list[Server] = []
    blocking = threading.Event()
    sent = threading.Barrier(4)  # three clients and the app

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/stop":
            holder[0].request_stop()
            blocking.set()
            # NOTE: blocks the loop until three clients have connected (the kernel queues
            # them: nothing accepts) and sent their requests.
            sent.wait(10)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async with serving(app) as (server, port):
        holder.append(server)
        outcomes: list[str] = []

        def late_client() -> None:
            blocking.wait(10)  # after the stop, while the loop is blocked in the app
            outcomes.append(_get(port, sent))

        clients = [threading.Thread(target=late_client) for _ in range(3)]
        for client in clients:
            client.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /stop HTTP/1.1\r\nHost: a\r\n\r\n")
        assert (await read_response(reader))[0] == 200
        await asyncio.to_thread(lambda: [client.join(10) for client in clients])
        assert outcomes == ["HTTP/1.1 200 OK"] * 3
        writer.close()
