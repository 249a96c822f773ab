"""Save, read, ranges, list, delete, names and content types on local files, memory and S3."""

from __future__ import annotations

import io
import tempfile
import tracemalloc
from pathlib import Path

import pytest

from celeris import UploadFile
from celeris.storage import InvalidName, MissingFile, Storage, StorageConfigError, check, clean_name
from celeris.storage.storage import PART, PARTS_IN_FLIGHT


async def test_save_read_exists_size_delete(storage: Storage) -> None:
    assert await storage.exists("docs/a.txt") is False
    name = await storage.save("docs/a.txt", b"hello world")
    assert name == "docs/a.txt"
    assert await storage.exists(name)
    assert await storage.size(name) == 11
    assert await storage.read(name) == b"hello world"
    assert await storage.delete(name) is True
    assert await storage.delete(name) is False
    assert await storage.exists(name) is False
    with pytest.raises(MissingFile):
        await storage.size(name)
    with pytest.raises(MissingFile):
        await storage.read(name)


async def test_unique_names_on_collision(storage: Storage) -> None:
    first = await storage.save("avatars/me.png", b"1")
    second = await storage.save("avatars/me.png", b"2")
    assert first == "avatars/me.png"
    assert second != first
    assert second.startswith("avatars/me_")
    assert second.endswith(".png")
    assert await storage.read(first) == b"1"
    assert await storage.read(second) == b"2"
    assert await storage.save("avatars/me.png", b"3", overwrite=True) == first
    assert await storage.read(first) == b"3"


async def test_streams_async_iterators_files_uploads(storage: Storage, tmp_path: Path) -> None:
    async def chunks():
        for i in range(40):
            yield bytes([i]) * 200_000  # 8 MB: more than one multipart part

    name = await storage.save("big.bin", chunks())
    assert await storage.size(name) == 8_000_000
    data = await storage.read(name)
    assert data[:200_000] == b"\0" * 200_000
    assert data[-1:] == b"\x27"

    spooled = UploadFile(filename="up.txt", content_type="text/plain", size=0)
    await spooled.write(b"x" * 2_000_000)  # rolled to disk past 1 MiB
    name = await storage.save("uploads/up.txt", spooled)
    await spooled.close()
    assert await storage.size(name) == 2_000_000

    path = tmp_path / "local.csv"
    path.write_bytes(b"a,b\n")
    assert await storage.read(await storage.save("p.csv", path)) == b"a,b\n"
    assert await storage.read(await storage.save("f.bin", io.BytesIO(b"file"))) == b"file"
    assert await storage.read(await storage.save("l.bin", [b"a", b"b"])) == b"ab"

    async def strings():
        yield "text"

    with pytest.raises(TypeError, match="streams bytes"):
        await storage.save("bad.txt", strings())


async def test_ranges(storage: Storage) -> None:
    name = await storage.save("r.txt", b"0123456789")

    async def read(**kw: int | None) -> bytes:
        return b"".join([c async for c in storage.open(name, **kw)])

    assert await read(start=2, end=5) == b"234"
    assert await read(start=7) == b"789"
    assert await read(end=3) == b"012"
    assert await read(start=4, end=4) == b""
    with pytest.raises(ValueError, match="before its start"):
        await read(start=5, end=2)


async def test_list(storage: Storage) -> None:
    for name in ("a/1.txt", "a/2.txt", "a/sub/3.txt", "b/4.txt"):
        await storage.save(name, b"x")
    assert await storage.list("a/") == ["a/1.txt", "a/2.txt", "a/sub/3.txt"]
    assert await storage.list() == ["a/1.txt", "a/2.txt", "a/sub/3.txt", "b/4.txt"]
    assert await storage.list("nothing/") == []
    assert await storage.list("a/s") == ["a/sub/3.txt"]
    assert await storage.list("a/1") == ["a/1.txt"]
    assert await storage.list("b") == ["b/4.txt"]


async def test_content_type(storage: Storage) -> None:
    await storage.save("photo.jpg", b"jpeg")
    assert (await storage.info("photo.jpg")).content_type == "image/jpeg"
    upload = UploadFile(io.BytesIO(b"{}"), filename="x", content_type="application/json")
    name = await storage.save("blob", upload)
    expected = "application/octet-stream" if storage.backend.name == "file" else "application/json"
    assert (await storage.info(name)).content_type == expected  # local files guess by name


HOSTILE = [
    "",
    "../secret",
    "a/../../secret",
    "/etc/passwd",
    "C:/Windows/win.ini",
    "a\\..\\b",
    "a\0b",
    "a\nb",
    "a//b",
    "a/./b",
    "a/",
    "%2e%2e/secret",
    "a/%2E%2E/%2e%2e/secret",
    "%252e%252e%252fsecret",
    "..%2fsecret",
    "%2fetc/passwd",
    "a%00b",
    "x" * 1025,
]


@pytest.mark.parametrize("name", HOSTILE)
async def test_hostile_names_refused(storage: Storage, name: str) -> None:
    with pytest.raises(InvalidName) as caught:
        await storage.save(name, b"x")
    assert caught.value.status_code == 400
    with pytest.raises(InvalidName):
        await storage.exists(name)
    with pytest.raises(InvalidName):
        storage.url(name)


def test_fine_names_pass() -> None:
    for name in ("a.txt", "a/b/c.tar.gz", ".hidden", "ünï cødé.txt", "a..b", "100%.txt"):
        assert clean_name(name) == name


async def test_nothing_escapes_the_local_root(tmp_path: Path) -> None:
    root = tmp_path / "media"
    storage = Storage(url=f"file://{root}")
    (tmp_path / "secret").write_text("no")
    await storage.save("ok.txt", b"x")
    assert [p.name for p in root.iterdir()] == ["ok.txt"]
    assert storage.backend.local_path("ok.txt") == root / "ok.txt"


def test_url_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STORAGE_URL", raising=False)
    assert Storage().location == "file://./media"
    assert Storage().backend.local_path("x") == tmp_path / "media" / "x"
    monkeypatch.setenv("STORAGE_URL", "memory://")
    assert Storage().backend.name == "memory"
    with pytest.raises(StorageConfigError, match="memory:// or s3://bucket"):
        Storage(url="ftp://x")
    with pytest.raises(StorageConfigError, match="unknown S3 URL option 'colour'"):
        Storage(url="s3://bucket?colour=red")


def test_url_needs_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(StorageConfigError, match="SECRET_KEY"):
        Storage(url="memory://").url("a.txt")


async def test_health(storage: Storage) -> None:
    assert (await check(storage)).status == "ok"


async def test_upload_memory_stays_bounded(tmp_path: Path) -> None:
    # A save reads 256 KiB at a time and obstore holds at most PART * PARTS_IN_FLIGHT of those
    # chunks while parts upload: a 64 MB upload on disk never sits whole in memory.
    storage = Storage(url=f"file://{tmp_path / 'media'}")
    spool = tempfile.SpooledTemporaryFile(max_size=1024)  # noqa: SIM115 - closed by upload
    upload = UploadFile(spool, filename="big.bin", size=0)
    block = b"z" * (1024 * 1024)
    for _ in range(64):
        await upload.write(block)
    del block
    tracemalloc.start()
    try:
        name = await storage.save("big.bin", upload)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        await upload.close()
    assert await storage.size(name) == 64 * 1024 * 1024
    assert peak < PART * PARTS_IN_FLIGHT + 4 * 1024 * 1024, peak
