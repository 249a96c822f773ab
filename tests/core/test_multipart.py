"""multipart: parts streamed through python-multipart, files spooled, limits enforced."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from celeris.core.datastructures import UploadFile
from celeris.core.errors import HTTPError
from celeris.core.multipart import parse_multipart

LIMITS = {"max_files": 2, "max_fields": 2, "max_part_size": 64, "spool_max_size": 16}


async def chunks(data: bytes, size: int = 5) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def body(*parts: tuple[str, str | None, bytes]) -> bytes:
    out = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"--xyz\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + content + b"\r\n"
    return out + b"--xyz--\r\n"


async def test_fields_and_spooled_files() -> None:
    data = body(("a", None, "é".encode()), ("f", "big.bin", b"x" * 40))
    form = await parse_multipart(b"xyz", chunks(data), charset="utf-8", **LIMITS)
    assert form["a"] == "é"
    upload = form["f"]
    assert isinstance(upload, UploadFile)
    assert (upload.filename, upload.size) == ("big.bin", 40)
    assert await upload.read() == b"x" * 40
    await form.close()


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (body(("a", None, b"1"), ("b", None, b"2"), ("c", None, b"3")), 413),
        (body(("f", "1", b""), ("g", "2", b""), ("h", "3", b"")), 413),
        (body(("a", None, b"y" * 65)), 413),
        (b"--xyz\r\nContent-Disposition: form-data\r\n\r\n1\r\n--xyz--\r\n", 400),
        (body(("a", None, b"1"))[:-9], 400),
    ],
)
async def test_limits_and_malformed_bodies(data: bytes, status: int) -> None:
    with pytest.raises(HTTPError) as info:
        await parse_multipart(b"xyz", chunks(data), charset="utf-8", **LIMITS)
    assert info.value.status_code == status
