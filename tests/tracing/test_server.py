"""Real server (the fast lane): spans reach an OTLP/HTTP collector, named by route template."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

pytestmark = pytest.mark.e2e

APP = textwrap.dedent(
    """
    from celeris import App
    from celeris.tracing import Tracing

    app = App(title="e2e-shop")
    Tracing(app=app)  # OTEL_EXPORTER_OTLP_ENDPOINT from the environment

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict:
        return {"id": item_id}
    """
)


class Collector(BaseHTTPRequestHandler):
    received: list[ExportTraceServiceRequest] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["content-length"]))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        Collector.received.append(request)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_spans_are_exported_by_otlp(tmp_path: Path) -> None:
    collector = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    (tmp_path / "traced_app.py").write_text(APP)
    port = free_port()
    src = Path(__file__).resolve().parents[2] / "src"
    env = {
        **os.environ,
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{src}",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.server_port}",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celeris",
            "serve",
            "traced_app:app",
            "--port",
            str(port),
            "--no-access-log",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                conn.request("GET", "/items/7")
                assert conn.getresponse().status == 200
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("the server did not start")
                time.sleep(0.1)
            finally:
                conn.close()
        names: list[str] = []
        services: set[str] = set()
        while time.monotonic() < deadline and "GET /items/{item_id}" not in names:
            for request in list(Collector.received):
                for resource_spans in request.resource_spans:
                    for attribute in resource_spans.resource.attributes:
                        if attribute.key == "service.name":
                            services.add(attribute.value.string_value)
                    for scope in resource_spans.scope_spans:
                        names.extend(span.name for span in scope.spans)
            time.sleep(0.1)
        assert "GET /items/{item_id}" in names
        assert services == {"e2e-shop"}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        collector.shutdown()
        collector.server_close()
