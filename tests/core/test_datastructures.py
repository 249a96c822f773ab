from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from hypothesis import given
from hypothesis import strategies as st

from celeris.core.datastructures import (
    URL,
    Address,
    FormData,
    Headers,
    MutableHeaders,
    QueryParams,
    State,
    UploadFile,
)


def test_headers_case_insensitive_first_value() -> None:
    h = Headers([(b"content-type", b"text/plain"), (b"x-a", b"1"), (b"x-a", b"2")])
    assert h["Content-Type"] == "text/plain"
    assert h.get("X-A") == "1"
    assert h.getlist("x-a") == ["1", "2"]
    assert "X-a" in h
    assert "missing" not in h
    assert 3 not in h
    assert h.get("nope") is None
    assert h.get("nope", "d") == "d"
    assert h.items() == [("content-type", "text/plain"), ("x-a", "1"), ("x-a", "2")]
    assert h.keys() == ["content-type", "x-a", "x-a"]
    assert h.values() == ["text/plain", "1", "2"]
    assert len(h) == 3
    with pytest.raises(KeyError):
        h["nope"]


def test_headers_latin1_and_mapping_input() -> None:
    h = Headers([(b"x-name", "café".encode("latin-1"))])
    assert h["x-name"] == "café"
    h2 = Headers({"X-Up": "v"})
    assert h2.raw == [(b"x-up", b"v")]
    assert Headers(scope={"headers": [(b"a", b"b")]})["a"] == "b"
    assert Headers([(b"a", b"1")]) == Headers({"A": "1"})


def test_mutable_headers_operations() -> None:
    h = MutableHeaders({"a": "1"})
    h["B"] = "2"
    h.append("set-cookie", "x=1")
    h.append("set-cookie", "y=2")
    assert h.getlist("set-cookie") == ["x=1", "y=2"]
    h["set-cookie"] = "z=3"
    assert h.getlist("set-cookie") == ["z=3"]
    assert h.setdefault("a", "9") == "1"
    assert h.setdefault("c", "3") == "3"
    h.update({"a": "10"})
    assert h["a"] == "10"
    del h["b"]
    assert "b" not in h
    with pytest.raises(KeyError):
        del h["b"]
    assert h.pop("c") == "3"
    assert h.pop("c", "gone") == "gone"
    h.add_vary_header("Origin")
    h.add_vary_header("origin")
    h.add_vary_header("Accept")
    assert h["vary"] == "Origin, Accept"
    assert all(isinstance(k, bytes) and isinstance(v, bytes) for k, v in h.raw)


def test_mutable_headers_over_shares_the_list() -> None:
    raw: list[tuple[bytes, bytes]] = []
    h = MutableHeaders.over(raw)
    h["x"] = "1"
    assert raw == [(b"x", b"1")]


@pytest.mark.parametrize("value", ["a\r\nb", "a\nb", "a\x00"])
def test_header_injection_rejected(value: str) -> None:
    h = MutableHeaders()
    with pytest.raises(ValueError, match="invalid"):
        h["x"] = value
    with pytest.raises(ValueError, match="invalid"):
        h.append("x", value)


def test_query_params_last_value_and_lists() -> None:
    q = QueryParams(b"a=1&a=2&b=&c=x%20y")
    assert q["a"] == "2"
    assert q.get("a") == "2"
    assert q.getlist("a") == ["1", "2"]
    assert q["b"] == ""
    assert q["c"] == "x y"
    assert q.get("z") is None
    assert q.get("z", "d") == "d"
    assert q.keys() == ["a", "b", "c"]
    assert q.multi_items() == [("a", "1"), ("a", "2"), ("b", ""), ("c", "x y")]
    assert str(q) == "a=1&a=2&b=&c=x%20y"
    assert len(q) == 3
    assert "a" in q
    assert list(q) == ["a", "b", "c"]
    assert QueryParams({"x": "1"}) == QueryParams("x=1")
    assert str(QueryParams([("x", "a b")])) == "x=a+b"
    assert len(QueryParams("")) == 0
    assert len(QueryParams()) == 0


@given(st.lists(st.tuples(st.text(min_size=1), st.text())))
def test_query_params_roundtrip(pairs: list[tuple[str, str]]) -> None:
    q = QueryParams(str(QueryParams(pairs)))
    assert q.multi_items() == pairs


def test_url_components_and_replace() -> None:
    u = URL("https://user:pw@example.com:8443/a/b?x=1&y=2#frag")
    assert u.scheme == "https"
    assert u.hostname == "example.com"
    assert u.port == 8443
    assert u.path == "/a/b"
    assert u.query == "x=1&y=2"
    assert u.fragment == "frag"
    assert u.username == "user"
    assert u.password == "pw"
    assert u.is_secure
    assert str(u.replace(scheme="http")) == "http://user:pw@example.com:8443/a/b?x=1&y=2#frag"
    assert u.replace(hostname="h", port=1).netloc == "h:1"
    assert u.include_query_params(x=3).query == "y=2&x=3"
    assert u.remove_query_params("x").query == "y=2"
    assert u == str(u)
    assert hash(u) == hash(URL(str(u)))
    assert URL("http://h:bad/").port is None


def test_url_build() -> None:
    assert (
        str(URL.build(scheme="http", host="h.com", server=None, path="/p", query_string=b"a=1"))
        == "http://h.com/p?a=1"
    )
    assert (
        str(URL.build(scheme="http", host=None, server=("1.2.3.4", 80), path="/"))
        == "http://1.2.3.4/"
    )
    assert (
        str(URL.build(scheme="https", host=None, server=("s", 8443), path="/")) == "https://s:8443/"
    )
    assert str(URL.build(scheme="http", host=None, server=None, path="/x")) == "/x"


def test_state_and_address() -> None:
    backing: dict[str, object] = {}
    s = State(backing)
    s.user = "bob"
    assert backing == {"user": "bob"}
    assert s.user == "bob"
    assert "user" in s
    assert s.get("nope", 1) == 1
    assert len(s) == 1
    assert list(s) == ["user"]
    del s.user
    with pytest.raises(AttributeError, match="nope"):
        _ = s.nope
    with pytest.raises(AttributeError):
        del s.user
    assert Address("1.2.3.4", 5).host == "1.2.3.4"


async def test_upload_file_in_memory_and_rolled() -> None:
    up = UploadFile(filename="a.txt", size=0, headers=Headers({"content-type": "text/plain"}))
    assert up.content_type == "text/plain"
    await up.write(b"hello")
    await up.seek(0)
    assert await up.read() == b"hello"
    assert up.size == 5
    await up.write(b"x" * (1024 * 1024 + 1))  # rolls over to disk
    assert getattr(up.file, "_rolled", False)
    await up.seek(0)
    assert len(await up.read()) == 5 + 1024 * 1024 + 1
    await up.close()
    assert up.file.closed
    assert "a.txt" in repr(up)


async def test_form_data_multimap_and_close() -> None:
    up = UploadFile(filename="f")
    form = FormData([("a", "1"), ("a", "2"), ("f", up)])
    assert form["a"] == "2"
    assert form.getlist("a") == ["1", "2"]
    assert form["f"] is up
    await form.close()
    assert up.file.closed


def test_headers_from_other_inputs() -> None:
    base = Headers([(b"a", b"1")])
    assert Headers(base)["a"] == "1"
    assert Headers(((b"x", b"y"),))["x"] == "y"  # a tuple of byte pairs, as some servers give
    assert Headers([("X-Str", "v")]).raw == [(b"x-str", b"v")]
    mutable = MutableHeaders(base)
    mutable["a"] = "2"
    assert base["a"] == "1"  # the copy never writes through
    raw = [(b"k", b"v")]
    MutableHeaders(raw)["k"] = "w"
    assert raw == [(b"k", b"v")]


@given(st.text(alphabet=st.sampled_from("ab=&%+2Fé0 ;"), max_size=30))
def test_query_parser_matches_parse_qsl(raw: str) -> None:
    assert QueryParams(raw).multi_items() == parse_qsl(raw, keep_blank_values=True)


def test_headers_lookup_with_odd_keys() -> None:
    h = Headers([(b"a", b"1")])
    assert h.get("ä€") is None
    assert "ä€" not in h
    assert Headers(iter([(b"X-Up", b"v")]))["x-up"] == "v"  # non-list byte pairs are lower-cased
