"""Flask and Django's WSGI handler under `celeris serve`, detected as WSGI, end to end."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e

pytest.importorskip("flask")
pytest.importorskip("django")

FLASK_APP = textwrap.dedent(
    """
    import threading
    from flask import Flask, Response, request

    app = Flask(__name__)

    @app.get("/")
    def index():
        return "hello from flask on " + threading.current_thread().name

    @app.post("/echo")
    def echo():
        return {"got": request.get_json(), "host": request.host}

    @app.post("/upload")
    def upload():
        size = 0
        while piece := request.stream.read(65536):
            size += len(piece)
        return {"size": size}

    @app.get("/stream")
    def stream():
        return Response((b"line %d\\n" % i for i in range(5)), mimetype="text/plain")

    @app.get("/missing")
    def missing():
        return {"error": "nope"}, 404
    """
)

DJANGO_APP = textwrap.dedent(
    """
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="test",
        ROOT_URLCONF=__name__,
        ALLOWED_HOSTS=["*"],
        INSTALLED_APPS=[],
    )

    from django.core.wsgi import get_wsgi_application
    from django.http import JsonResponse, StreamingHttpResponse
    from django.urls import path
    from django.views.decorators.csrf import csrf_exempt

    def hello(request):
        return JsonResponse({"path": request.path, "method": request.method})

    @csrf_exempt
    def upload(request):
        return JsonResponse({"size": len(request.body)})

    def stream(request):
        return StreamingHttpResponse(("chunk %d\\n" % i for i in range(3)))

    urlpatterns = [path("hello/", hello), path("upload/", upload), path("stream/", stream)]
    application = get_wsgi_application()
    """
)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[object]:
    procs: list[subprocess.Popen[str]] = []

    def start(module: str, source: str, target: str, *flags: str) -> str:
        (tmp_path / f"{module}.py").write_text(source)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])
            ),
        }
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celeris",
                "serve",
                target,
                "--port",
                "0",
                "--no-access-log",
                *flags,
            ],
            cwd=tmp_path,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        assert proc.stderr is not None
        seen = []
        for line in proc.stderr:
            seen.append(line)
            found = re.search(r"listening on http://[^:]+:(\d+)", line)
            if found:
                return f"http://127.0.0.1:{found.group(1)}"
        raise AssertionError(f"the server did not start: {''.join(seen)}")

    yield start
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stderr.close()  # type: ignore[union-attr]


def test_flask_app_is_detected_and_served(serve) -> None:  # type: ignore[no-untyped-def]
    url = serve("fapp", FLASK_APP, "fapp:app", "--limit-request-body", "1MiB")
    with httpx.Client(base_url=url, timeout=10) as client:
        index = client.get("/")
        assert index.status_code == 200
        assert index.text.startswith("hello from flask on WSGI")  # a2wsgi's pool thread
        assert client.post("/echo", json={"a": 1}).json() == {"got": {"a": 1}, "host": url[7:]}

        def chunks() -> Iterator[bytes]:
            for _ in range(8):
                yield b"x" * 65536

        assert client.post("/upload", content=chunks()).json() == {"size": 8 * 65536}
        streamed = client.get("/stream")
        assert streamed.text == "".join(f"line {i}\n" for i in range(5))
        assert client.get("/missing").status_code == 404
        too_big = client.post("/upload", content=b"x" * (2 * 1024 * 1024))
        assert too_big.status_code == 413
        assert too_big.headers["content-type"] == "application/problem+json"


def test_djangos_wsgi_handler_is_detected_and_served(serve) -> None:  # type: ignore[no-untyped-def]
    url = serve("dapp", DJANGO_APP, "dapp:application", "--workers", "2")
    with httpx.Client(base_url=url, timeout=10) as client:
        assert client.get("/hello/").json() == {"path": "/hello/", "method": "GET"}
        assert client.post("/upload/", content=b"y" * 100_000).json() == {"size": 100_000}
        assert client.get("/stream/").text == "chunk 0\nchunk 1\nchunk 2\n"
        assert client.get("/nope/").status_code == 404


def test_interface_asgi3_refuses_a_wsgi_app_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / "fapp2.py").write_text(FLASK_APP)
    done = subprocess.run(
        [sys.executable, "-m", "celeris", "serve", "fapp2:app", "--interface", "asgi3"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--interface wsgi" in done.stderr
