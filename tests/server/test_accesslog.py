"""Access log lines in common and JSON formats."""

from __future__ import annotations

import json
import logging

import pytest

from celeris.server.accesslog import AccessLog
from celeris.server.cycle import problem_body

from .support import echo_app, raw, serving


def test_common_format(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="celeris.access"):
        AccessLog("common").log(("1.2.3.4", 5), "GET", "/x?y=1", "1.1", 200, 12)
    line = caplog.records[-1].getMessage()
    assert line.startswith("1.2.3.4 - - [")
    assert line.endswith('] "GET /x?y=1 HTTP/1.1" 200 12')


def test_json_format(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="celeris.access"):
        AccessLog("json").log(None, "POST", "/", "1.0", 201, 0)
    record = json.loads(caplog.records[-1].getMessage())
    assert record["client"] == "-"
    assert record["status"] == 201
    assert record["method"] == "POST"


def test_unknown_format_is_rejected() -> None:
    with pytest.raises(ValueError, match="common' or 'json"):
        AccessLog("xml")


async def test_server_writes_one_line_per_response(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="celeris.access"):
        async with serving(echo_app, access_log=True) as (_, port):
            await raw(
                port,
                b"GET /a?b=c HTTP/1.1\r\nHost: a\r\n\r\nGET /d HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            )
    lines = [r.getMessage() for r in caplog.records if r.name == "celeris.access"]
    assert len(lines) == 2
    assert '"GET /a?b=c HTTP/1.1" 200' in lines[0]
    assert '"GET /d HTTP/1.1" 200' in lines[1]


async def test_answers_from_the_server_itself_are_logged_too(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="celeris.access"):
        async with serving(echo_app, access_log=True, limit_request_body=10) as (_, port):
            await raw(port, b"POST /up?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n")
            await raw(
                port,
                b"POST /chunks HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"b\r\nhello world\r\n0\r\n\r\n",
            )
            await raw(port, b"GET /x HTTP/1.1\r\nHost: exa mple\r\n\r\n")
            await raw(port, b"G\x00T / HTTP/1.1\r\n\r\n")
    lines = [r.getMessage() for r in caplog.records if r.name == "celeris.access"]
    assert len(lines) == 4, lines
    assert lines[0].endswith(
        f'"POST /up?x=1 HTTP/1.1" 413 {len(problem_body(413, "Request body too large"))}'
    )
    assert '"POST /chunks HTTP/1.1" 413 ' in lines[1]
    assert '"GET /x HTTP/1.1" 400 ' in lines[2]
    assert '] "-" 400 ' in lines[3]  # nothing of the request line was read


def test_json_format_says_null_for_what_was_never_read(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="celeris.access"):
        AccessLog("json").log(("1.2.3.4", 5), "-", "-", "-", 400, 10)
    record = json.loads(caplog.records[-1].getMessage())
    assert (record["method"], record["path"], record["http_version"]) == (None, None, None)
    assert record["status"] == 400
