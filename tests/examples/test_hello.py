"""examples/hello.py, the one-file app, behaves as the README says."""

from __future__ import annotations

from examples.hello import app

from celeris.testing import TestClient


def test_hello() -> None:
    with TestClient(app) as client:
        assert client.get("/").text == "Hello, World!"
        assert client.get("/hello/ada?excited=true").json() == {"message": "Hello, ada!"}
        assert client.get("/hello/ada?excited=maybe").status_code == 422
        assert client.get("/nope").status_code == 404
        assert client.post("/").headers["allow"] == "GET, HEAD, OPTIONS"
