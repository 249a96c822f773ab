"""Status lines and the cached Date/Server lines."""

from __future__ import annotations

import pytest

from celeris.server.head import (
    CONTENT_LENGTH_LINES,
    DefaultHeaders,
    content_length_line,
    status_line,
)


def test_known_and_unknown_status_lines() -> None:
    assert status_line(200) == b"HTTP/1.1 200 OK\r\n"
    assert status_line(418) == b"HTTP/1.1 418 I'm a Teapot\r\n" or status_line(418).startswith(
        b"HTTP/1.1 418 "
    )
    assert status_line(599) == b"HTTP/1.1 599 \r\n"
    with pytest.raises(ValueError, match="invalid HTTP status"):
        status_line(42)


def test_default_headers_can_be_turned_off() -> None:
    assert DefaultHeaders(server_header=False, date_header=False).line == b""
    both = DefaultHeaders()
    assert both.line.startswith(b"date: ")
    assert both.line.endswith(b"server: celeris\r\n")
    assert both.nlines == 2


def test_content_length_lines_are_cached_only_for_small_bodies() -> None:
    assert content_length_line(0) == b"content-length: 0\r\n"
    assert content_length_line(12) is content_length_line(12)
    big = 10**9
    assert content_length_line(big) == b"content-length: 1000000000\r\n"
    assert big not in CONTENT_LENGTH_LINES
