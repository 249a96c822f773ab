"""bench/hotpath.py and bench/uvicornpath.py: every request fed in is answered (a 200 on uvicorn)."""

from __future__ import annotations

import asyncio
import importlib

import pytest

from bench import hotpath, uvicornpath


@pytest.mark.parametrize("module", ["bench.apps.celeris_hello", "bench.apps.celeris_dressed"])
def test_uvicornpath_answers_every_request_with_a_200(module: str) -> None:
    app = importlib.import_module(module).app
    request = hotpath.request_bytes("/plaintext", None)
    micros = asyncio.run(asyncio.wait_for(uvicornpath.measure(app, request, 3), 30))
    assert micros > 0


def test_uvicornpath_refuses_a_run_with_unanswered_requests() -> None:
    app = importlib.import_module("bench.apps.celeris_hello").app
    request = hotpath.request_bytes("/missing", None)  # a 404: not counted as answered
    with pytest.raises(uvicornpath.Unanswered, match="requests were answered 200"):
        asyncio.run(asyncio.wait_for(uvicornpath.measure(app, request, 2), 30))


def test_hotpath_answers_the_dressed_app() -> None:
    app = importlib.import_module("bench.apps.celeris_dressed").app
    request = hotpath.request_bytes("/plaintext", None)
    assert asyncio.run(asyncio.wait_for(hotpath.measure(app, request, 3), 30)) > 0
