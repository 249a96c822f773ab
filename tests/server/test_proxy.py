"""Proxy headers are honoured from trusted proxies only."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from celeris.server.proxy import ProxyTrust

from .support import echo_app, raw, serving


def test_untrusted_peers_are_taken_at_their_word() -> None:
    trust = ProxyTrust("10.0.0.1")
    assert trust.resolve(("1.2.3.4", 5), "http", [(b"x-forwarded-for", b"9.9.9.9")]) == (
        ("1.2.3.4", 5),
        "http",
    )


def test_trusted_proxy_x_forwarded() -> None:
    trust = ProxyTrust("10.0.0.1, 10.1.0.0/16")
    headers = [(b"x-forwarded-for", b"203.0.113.7, 10.1.2.3"), (b"x-forwarded-proto", b"https")]
    assert trust.resolve(("10.0.0.1", 5), "http", headers) == (("203.0.113.7", 0), "https")


def test_spoofed_leftmost_entries_are_ignored() -> None:
    trust = ProxyTrust("10.0.0.1")
    headers = [(b"x-forwarded-for", b"6.6.6.6, 203.0.113.7")]
    assert trust.resolve(("10.0.0.1", 5), "http", headers)[0] == ("203.0.113.7", 0)


def test_forwarded_header() -> None:
    trust = ProxyTrust("*")
    headers = [(b"forwarded", b'for="[2001:db8::1]:4711";proto=https, for=10.0.0.9')]
    assert trust.resolve(("127.0.0.1", 5), "http", headers) == (("2001:db8::1", 0), "https")
    assert ProxyTrust("127.0.0.1").resolve(("127.0.0.1", 5), "http", headers)[0] == ("10.0.0.9", 0)


def test_websocket_scheme_follows_proto() -> None:
    assert (
        ProxyTrust("*").resolve(("1.1.1.1", 1), "ws", [(b"x-forwarded-proto", b"https")])[1]
        == "wss"
    )


def test_bad_network_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="not an IP network"):
        ProxyTrust("10.0.0.0/99")


@given(st.binary(max_size=80))
def test_any_header_value_resolves_without_error(value: bytes) -> None:
    client, scheme = ProxyTrust("*").resolve(
        ("1.1.1.1", 1), "http", [(b"x-forwarded-for", value), (b"forwarded", value)]
    )
    assert scheme in ("http", "https")
    assert client is not None


async def test_server_applies_trusted_proxy_headers() -> None:
    request = b"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n"
    async with serving(echo_app, forwarded_allow_ips="127.0.0.1") as (_, port):
        body = json.loads((await raw(port, request)).split(b"\r\n\r\n", 1)[1])
    assert body["client"] == ["203.0.113.9", 0]
    assert body["scheme"] == "https"
    async with serving(echo_app) as (_, port):
        body = json.loads((await raw(port, request)).split(b"\r\n\r\n", 1)[1])
    assert body["client"][0] == "127.0.0.1"
    assert body["scheme"] == "http"
