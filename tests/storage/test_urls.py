"""Signed URLs (served by the app, presigned on S3), uploads through a route, outages as 503."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest

from celeris import App, Request, UploadFile
from celeris.storage import Storage, check
from celeris.testing import AsyncTestClient
from tests.db.tcp_proxy import TCPProxy
from tests.storage.conftest import SECRET, make_bucket, s3_url


def _app(url: str, **options: float) -> tuple[App, Storage]:
    app = App()
    storage = Storage(app=app, url=url, secret=SECRET, **options)

    @app.post("/upload")
    async def upload(file: UploadFile) -> dict[str, object]:
        name = await storage.save(f"uploads/{file.filename}", file)
        return {"name": name, "size": await storage.size(name), "url": storage.url(name)}

    @app.put("/raw/{name:path}")
    async def raw(name: str, request: Request) -> dict[str, object]:
        saved = await storage.save(name, request.stream(), overwrite=True)
        return {"name": saved, "size": await storage.size(saved)}

    @app.get("/files/{name:path}")
    async def read(name: str) -> dict[str, int]:
        return {"size": await storage.size(name)}

    return app, storage


async def _fetch(client: AsyncTestClient, url: str, **kw: object) -> httpx.Response:
    if url.startswith("http"):  # presigned by S3: the store serves it
        async with httpx.AsyncClient() as direct:
            return await direct.get(url, **kw)  # type: ignore[arg-type]
    return await client.get(url, **kw)  # type: ignore[arg-type]


async def test_upload_and_signed_url(storage_url: str) -> None:
    app, storage = _app(storage_url)
    body = b"%PDF-1.4 " + b"x" * 300_000
    async with AsyncTestClient(app) as client:
        response = await client.post(
            "/upload", files={"file": ("report.pdf", body, "application/pdf")}
        )
        assert response.status_code == 200, response.text
        uploaded = response.json()
        assert uploaded["name"] == "uploads/report.pdf"
        assert uploaded["size"] == len(body)
        fetched = await _fetch(client, uploaded["url"])
        assert fetched.status_code == 200
        assert fetched.content == body
        assert fetched.headers["content-type"] == "application/pdf"
        # the same name again gets a new one
        again = (await client.post("/upload", files={"file": ("report.pdf", b"2")})).json()
        assert again["name"] != uploaded["name"]
        assert (await client.get("/files/uploads/missing.pdf")).status_code == 404
        assert (await client.get("/files/uploads/%2e%2e/x")).status_code in (400, 404)


async def test_request_body_streams_to_the_store(storage_url: str) -> None:
    app, storage = _app(storage_url)

    async def body():
        for _ in range(12):
            yield b"q" * 500_000  # 6 MB in 12 messages

    async with AsyncTestClient(app) as client:
        response = await client.put("/raw/data/blob.bin", content=body())
        assert response.json() == {"name": "data/blob.bin", "size": 6_000_000}
        assert (await client.put("/raw/../x", content=b"x")).status_code in (400, 404)
    assert await storage.read("data/blob.bin") == b"q" * 6_000_000


@pytest.mark.parametrize("url", ["file", "memory"])
async def test_app_signed_links_are_checked(url: str, tmp_path) -> None:
    app, storage = _app(f"file://{tmp_path}" if url == "file" else "memory://")
    await storage.save("page.html", b"<script>alert(1)</script>")
    link = storage.url("page.html", expires=60)
    path, _, query = link.partition("?")
    assert path == "/_storage/page.html"
    async with AsyncTestClient(app) as client:
        good = await client.get(link)
        assert good.status_code == 200
        assert good.headers["x-content-type-options"] == "nosniff"
        assert good.headers["content-security-policy"] == "sandbox"
        for bad in (
            path,  # no signature
            link.replace("signature=", "signature=A"),  # tampered
            link.replace("page.html", "other.html"),  # a signature for another file
            f"{path}?expires=1&signature=x",
        ):
            response = await client.get(bad)
            assert response.status_code == 403, bad
            assert response.headers["content-type"] == "application/problem+json"
    # an expired link: signed in the past
    expires, signature = storage._signer.sign("page.html", -10)  # type: ignore[union-attr]
    async with AsyncTestClient(app) as client:
        response = await client.get(f"{path}?expires={expires}&signature={signature}")
        assert response.status_code == 403
        assert "expired" in response.json()["detail"]


async def test_local_links_serve_ranges_and_etags(tmp_path) -> None:
    app, storage = _app(f"file://{tmp_path}")
    await storage.save("r.txt", b"0123456789")
    link = storage.url("r.txt")
    async with AsyncTestClient(app) as client:
        part = await client.get(link, headers={"range": "bytes=2-4"})
        assert part.status_code == 206
        assert part.content == b"234"
        etag = (await client.get(link)).headers["etag"]
        assert (await client.get(link, headers={"if-none-match": etag})).status_code == 304


async def test_presigned_url(s3_endpoint: str) -> None:
    storage = Storage(url=s3_url(s3_endpoint, make_bucket(s3_endpoint)))
    await storage.save("a b/ü.txt", b"hello")
    link = storage.url("a b/ü.txt", expires=90)
    assert link.startswith(s3_endpoint)
    assert "X-Amz-Signature=" in link
    assert "X-Amz-Expires=90&" in link  # NOTE: moto does not enforce expiry; S3 does
    async with httpx.AsyncClient() as client:
        assert (await client.get(link)).content == b"hello"


@pytest.fixture
async def s3_proxy(s3_endpoint: str) -> AsyncIterator[TCPProxy]:
    parts = urlsplit(s3_endpoint)
    proxy = TCPProxy(parts.hostname or "127.0.0.1", parts.port or 80)
    await proxy.start()
    yield proxy
    await proxy.close()


async def test_s3_outage_is_503_then_recovers(s3_endpoint: str, s3_proxy: TCPProxy) -> None:
    bucket = make_bucket(s3_endpoint)
    app, storage = _app(s3_url(f"http://127.0.0.1:{s3_proxy.port}", bucket), timeout=1.0)
    await storage.save("a.txt", b"x")
    async with AsyncTestClient(app) as client:
        assert (await client.get("/files/a.txt")).json() == {"size": 1}
        await s3_proxy.cut()
        started = time.monotonic()
        response = await client.get("/files/a.txt")
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert "storage is unavailable" in response.json()["detail"]
        assert time.monotonic() - started < 8
        assert (await check(storage)).status == "unavailable"
        await s3_proxy.restore()
        assert (await client.get("/files/a.txt")).json() == {"size": 1}
        assert (await check(storage)).status == "ok"
