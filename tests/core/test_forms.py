from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from celeris import App, Request
from celeris.core.datastructures import Headers, UploadFile
from celeris.core.errors import HTTPError
from celeris.core.forms import parse_content_type, parse_form, parse_urlencoded
from celeris.testing import TestClient


async def chunks(data: bytes, size: int = 7) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def multipart(
    parts: list[tuple[str, str | None, bytes, str | None]], boundary: str = "BOUND"
) -> bytes:
    out = b""
    for name, filename, data, ctype in parts:
        disp = f'form-data; name="{name}"'
        if filename is not None:
            disp += f'; filename="{filename}"'
        out += f"--{boundary}\r\nContent-Disposition: {disp}\r\n".encode()
        if ctype:
            out += f"Content-Type: {ctype}\r\n".encode()
        out += b"\r\n" + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


MP = Headers({"content-type": "multipart/form-data; boundary=BOUND"})


async def test_multipart_fields_and_files() -> None:
    body = multipart(
        [
            ("title", None, "héllo".encode(), None),
            ("tag", None, b"a", None),
            ("tag", None, b"b", None),
            ("doc", "notes.txt", b"line1\r\nline2", "text/plain"),
            ("empty", "", b"", "application/octet-stream"),
        ]
    )
    form = await parse_form(MP, chunks(body))
    assert form["title"] == "héllo"
    assert form.getlist("tag") == ["a", "b"]
    doc = form["doc"]
    assert isinstance(doc, UploadFile)
    assert doc.filename == "notes.txt"
    assert doc.content_type == "text/plain"
    assert doc.size == 12
    assert doc.headers["content-disposition"].startswith("form-data")
    assert await doc.read() == b"line1\r\nline2"
    empty = form["empty"]
    assert isinstance(empty, UploadFile)
    assert empty.filename == ""
    assert empty.size == 0
    await form.close()
    assert doc.file.closed


async def test_file_over_spool_threshold_goes_to_disk() -> None:
    big = bytes(range(256)) * 5000  # 1.28 MB
    body = multipart([("f", "big.bin", big, "application/octet-stream")])
    form = await parse_form(MP, chunks(body, 65536))
    up = form["f"]
    assert isinstance(up, UploadFile)
    assert getattr(up.file, "_rolled", False) is True
    assert up.size == len(big)
    assert await up.read() == big
    await up.seek(10)
    assert await up.read(3) == big[10:13]
    await form.close()


async def test_small_file_stays_in_memory() -> None:
    form = await parse_form(MP, chunks(multipart([("f", "s.txt", b"abc", None)])))
    up = form["f"]
    assert isinstance(up, UploadFile)
    assert getattr(up.file, "_rolled", True) is False
    await form.close()


async def test_filename_star_rfc5987() -> None:
    body = (
        b'--BOUND\r\nContent-Disposition: form-data; name="f"; filename="fallback.txt"; '
        b"filename*=UTF-8''%E2%82%AC%20rates.txt\r\n\r\nx\r\n--BOUND--\r\n"
    )
    form = await parse_form(MP, chunks(body))
    up = form["f"]
    assert isinstance(up, UploadFile)
    assert up.filename == "€ rates.txt"
    await form.close()


@pytest.mark.parametrize(
    ("kwargs", "parts", "match"),
    [
        ({"max_files": 1}, [("a", "1", b"", None), ("b", "2", b"", None)], "Too many files"),
        (
            {"max_fields": 1},
            [("a", None, b"", None), ("b", None, b"", None)],
            "Too many form fields",
        ),
        ({"max_part_size": 4}, [("a", None, b"12345", None)], "exceeds 4 bytes"),
    ],
)
async def test_limits_give_413(kwargs: dict[str, int], parts: list, match: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(HTTPError, match=match) as info:
        await parse_form(MP, chunks(multipart(parts)), **kwargs)
    assert info.value.status_code == 413


async def test_part_size_limit_does_not_apply_to_files() -> None:
    form = await parse_form(
        MP, chunks(multipart([("f", "x", b"123456789", None)])), max_part_size=4
    )
    assert isinstance(form["f"], UploadFile)
    await form.close()


async def test_max_file_size_limits_each_file() -> None:
    body = multipart([("small", "a.txt", b"1234", None), ("big", "b.bin", b"x" * 40, None)])
    form = await parse_form(MP, chunks(body), max_file_size=40)
    assert [f.size for f in form.values() if isinstance(f, UploadFile)] == [4, 40]
    await form.close()
    with pytest.raises(HTTPError, match=r"File 'b.bin' \(field 'big'\) exceeds 39 bytes") as info:
        await parse_form(MP, chunks(body), max_file_size=39)
    assert info.value.status_code == 413
    # a field is not a file: max_file_size leaves it to max_part_size
    fields = multipart([("text", None, b"y" * 50, None)])
    form = await parse_form(MP, chunks(fields), max_file_size=10)
    assert form["text"] == "y" * 50


def test_max_file_size_through_request_form_is_a_413() -> None:
    app = App(openapi_url=None)

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, int]:
        form = await request.form(max_file_size=8)
        file = form["f"]
        assert isinstance(file, UploadFile)
        return {"size": file.size or 0}

    with TestClient(app) as client:
        assert client.post("/upload", files={"f": ("a", b"12345678")}).json() == {"size": 8}
        r = client.post("/upload", files={"f": ("a", b"123456789")})
        assert r.status_code == 413
        assert r.json()["detail"] == "File 'a' (field 'f') exceeds 8 bytes."


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (
            b"--BOUND\r\nContent-Type: text/plain\r\n\r\nx\r\n--BOUND--\r\n",
            "no Content-Disposition",
        ),
        (b"--BOUND\r\nContent-Disposition: form-data\r\n\r\nx\r\n--BOUND--\r\n", "no name"),
        (b'--BOUND\r\nContent-Disposition: form-data; name="a"\r\n\r\nx', "closing boundary"),
        (b"garbage without boundary", "Malformed multipart|closing boundary"),
        (
            b'--BOUND\r\nContent-Disposition: form-data; name="a"\r\n\r\n\xff\r\n--BOUND--\r\n',
            "not valid utf-8",
        ),
    ],
)
async def test_malformed_multipart_is_400(body: bytes, match: str) -> None:
    with pytest.raises(HTTPError, match=match) as info:
        await parse_form(MP, chunks(body))
    assert info.value.status_code == 400


async def test_missing_boundary_is_400() -> None:
    with pytest.raises(HTTPError, match="boundary") as info:
        await parse_form(Headers({"content-type": "multipart/form-data"}), chunks(b""))
    assert info.value.status_code == 400


async def test_urlencoded() -> None:
    h = Headers({"content-type": "application/x-www-form-urlencoded; charset=utf-8"})
    form = await parse_form(h, chunks(b"a=1&b=&c=x+y%21&a=2"))
    assert form.multi_items() == [("a", "1"), ("b", ""), ("c", "x y!"), ("a", "2")]


def test_urlencoded_limits_and_errors() -> None:
    with pytest.raises(HTTPError, match="Too many form fields") as info:
        parse_urlencoded(b"a=1&b=2&c=3", max_fields=2)
    assert info.value.status_code == 413
    with pytest.raises(HTTPError, match="exceeds") as info:
        parse_urlencoded(b"a=12345", max_part_size=3)
    assert info.value.status_code == 413
    with pytest.raises(HTTPError, match="ASCII") as info:
        parse_urlencoded("a=é".encode())
    assert info.value.status_code == 400
    with pytest.raises(HTTPError, match="UTF-8") as info:
        parse_urlencoded(b"a=%ff")
    assert info.value.status_code == 400


async def test_other_content_types() -> None:
    with pytest.raises(HTTPError, match="application/json") as info:
        await parse_form(Headers({"content-type": "application/json"}), chunks(b"{}"))
    assert info.value.status_code == 415
    assert len(await parse_form(Headers(), chunks(b""))) == 0
    with pytest.raises(HTTPError) as info:
        await parse_form(Headers(), chunks(b"a=1"))
    assert info.value.status_code == 415


@given(
    st.lists(
        st.tuples(
            st.text(
                st.characters(blacklist_characters='"\r\n\\', blacklist_categories=["Cs"]),
                min_size=1,
                max_size=10,
            ),
            st.binary(max_size=50),
        ),
        max_size=5,
    )
)
@settings(max_examples=30, deadline=None)
async def test_multipart_roundtrip(fields: list[tuple[str, bytes]]) -> None:
    body = multipart([(name, "f.bin", data, None) for name, data in fields])
    form = await parse_form(MP, chunks(body, 5))
    got = [(k, await v.read()) for k, v in form.multi_items() if isinstance(v, UploadFile)]
    assert got == fields
    await form.close()


@given(st.binary(max_size=200))
@settings(max_examples=50, deadline=None)
async def test_garbage_never_crashes(data: bytes) -> None:
    status = 0
    try:
        form = await parse_form(MP, chunks(data, 3))
    except HTTPError as exc:
        status = exc.status_code
    else:
        await form.close()
    assert status in (0, 400, 413)


def test_parse_content_type() -> None:
    assert parse_content_type('Multipart/Form-Data; Boundary="a b"; charset=latin-1') == (
        "multipart/form-data",
        {"boundary": "a b", "charset": "latin-1"},
    )
    assert parse_content_type("application/x-www-form-urlencoded") == (
        "application/x-www-form-urlencoded",
        {},
    )


async def test_quoted_boundary_is_understood() -> None:
    data = b'--a b\r\nContent-Disposition: form-data; name="k"\r\n\r\nv\r\n--a b--\r\n'
    headers = Headers([(b"content-type", b'multipart/form-data; boundary="a b"')])
    form = await parse_form(headers, chunks(data))
    assert form["k"] == "v"
