"""``Storage``: save, read, list and delete files in the store its URL picks (obstore).

``file://./media`` by default, ``memory://`` for tests, ``s3://bucket?endpoint_url=...`` for
S3 and compatible stores. Uploads stream in chunks (a 2 GB file never sits in memory); names
are validated so nothing can leave the root; ``url()`` is presigned on S3 and, for files the
app serves itself, an HMAC-signed, expiring link to a route the storage mounts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import mimetypes
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import quote, urlsplit

try:
    import obstore
    from obstore.exceptions import BaseError as ObstoreError
except ImportError as error:  # pragma: no cover - exercised without the extra installed
    raise ImportError(
        "celeris.storage needs obstore: pip install 'celeris[storage]'", name=error.name
    ) from error

from celeris.core.datastructures import UploadFile
from celeris.core.errors import Forbidden, PayloadTooLarge
from celeris.core.requests import Request
from celeris.core.responses import FileResponse, Response, StreamingResponse
from celeris.health import register_check
from celeris.settings import app_setting
from celeris.storage.base import Backend
from celeris.storage.errors import MissingFile, StorageConfigError, StorageUnavailable
from celeris.storage.health import check
from celeris.storage.names import alternative_name, clean_name
from celeris.storage.signing import URLSigner

__all__ = ["FileInfo", "Storage", "resolve_url"]

DEFAULT_URL = "file://./media"
CHUNK = 256 * 1024  # read size from uploads and files
PART = 5 * 1024 * 1024  # multipart part size (S3's minimum)
PARTS_IN_FLIGHT = 4  # PERF: bounds an upload's memory to about PART * PARTS_IN_FLIGHT

Content = (
    bytes
    | bytearray
    | memoryview
    | UploadFile
    | AsyncIterable[bytes]
    | Iterable[bytes]
    | IO[bytes]
    | Path
)


def resolve_url(url: str | None, app: Any) -> str:
    """Pick the URL: ``url=``, the app's STORAGE_URL setting, the env, then ``file://./media``."""
    return str(url or app_setting(app, "STORAGE_URL") or DEFAULT_URL)


def _backend_for(url: str, timeout: float) -> Backend:
    parts = urlsplit(url)
    if parts.scheme == "file":
        from celeris.storage.local import LocalBackend  # NOTE: imported only when chosen

        # file:///abs/path, or file://./relative (relative to the working directory)
        root = parts.netloc + parts.path if parts.netloc in (".", "..") else parts.path
        if not root:
            raise StorageConfigError(f"a file:// storage URL names a folder, not {url!r}")
        return LocalBackend(root)
    if parts.scheme == "memory":
        from celeris.storage.memory import MemoryBackend  # NOTE: imported only when chosen

        return MemoryBackend()
    if parts.scheme == "s3":
        from celeris.storage.s3 import S3Backend  # NOTE: imported only when chosen

        return S3Backend(url, timeout=timeout)
    raise StorageConfigError(
        f"unknown storage URL scheme {parts.scheme!r} (use file://./media, memory:// or s3://bucket)"
    )


@dataclass(frozen=True, slots=True)
class FileInfo:
    """What the store knows about one file."""

    name: str
    size: int
    last_modified: dt.datetime
    etag: str | None
    content_type: str


async def _upload_chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    await upload.seek(0)
    while chunk := await upload.read(CHUNK):
        yield chunk


async def _file_chunks(file: IO[bytes]) -> AsyncIterator[bytes]:
    while chunk := await asyncio.to_thread(file.read, CHUNK):
        yield chunk


class _SourceFailed(Exception):
    """Carries an error raised by the content being saved, so it is not blamed on the store."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


def _check_size(size: int, max_size: int) -> None:
    if size > max_size:
        raise PayloadTooLarge(f"The file is larger than {max_size} bytes.")


async def _guarded(source: AsyncIterator[bytes], max_size: int | None) -> AsyncIterator[bytes]:
    size = 0
    try:
        async for chunk in source:
            size += len(chunk)
            if max_size is not None:
                _check_size(size, max_size)
            yield chunk
    except Exception as error:
        raise _SourceFailed(error) from error


async def _path_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as file:
        async for chunk in _file_chunks(file):
            yield chunk


async def _sync_chunks(chunks: Iterable[Any]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        if not isinstance(chunk, bytes | bytearray | memoryview):
            raise TypeError(f"save() streams bytes, got a chunk of {type(chunk).__name__}")
        yield bytes(chunk)


async def _bytes_only(source: AsyncIterable[Any]) -> AsyncIterator[bytes]:
    async for chunk in source:
        if not isinstance(chunk, bytes | bytearray | memoryview):
            raise TypeError(f"save() streams bytes, got a chunk of {type(chunk).__name__}")
        if chunk:
            yield bytes(chunk)


class Storage:
    """File storage attached to ``app`` (mounting the signed-URL route) or used alone."""

    def __init__(
        self,
        app: Any = None,
        url: str | None = None,
        *,
        secret: str | bytes | None = None,
        route: str = "/_storage",
        timeout: float = 10.0,
        retry_after: int = 5,
    ) -> None:
        self.location = resolve_url(url, app)  # NOTE: not .url, which makes a file's link
        self.backend: Backend = _backend_for(self.location, timeout)
        self.retry_after = retry_after
        key = secret or app_setting(app, "SECRET_KEY")
        self._signer = URLSigner(key) if key else None
        self.route = route.rstrip("/")
        self._root_path = ""
        if app is not None:
            self._root_path = getattr(app, "root_path", "") or ""
            app.on_shutdown(self.close)
            register_check(app, "storage", functools.partial(check, self))
            app.add_route(
                f"{self.route}/{{name:path}}",
                self.serve,
                ["GET", "HEAD"],
                name="storage_file",
                include_in_schema=False,
            )

    def __repr__(self) -> str:
        return f"Storage(backend={self.backend.name!r}, location={self.location!r})"

    async def __aenter__(self) -> Storage:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Let obstore's last callbacks reach the event loop before it closes.

        NOTE: obstore (0.12) resolves a future and then still calls into the loop from its own
        threads; if the loop has closed by then the interpreter aborts at exit. A 10 ms pause
        at shutdown lets those callbacks land (measured on a local save: 1 in 8 runs aborted with
        no pause, none in 18 with a pause of 1 ms or more).
        """
        await asyncio.sleep(0.01)

    # --- errors ------------------------------------------------------------------------------

    def _unavailable(self, error: BaseException) -> StorageUnavailable:
        return StorageUnavailable(
            f"The file storage is unavailable ({type(error).__name__}).",
            retry_after=self.retry_after,
        )

    def _translate(self, error: BaseException, name: str) -> Exception:
        if isinstance(error, FileNotFoundError):
            return MissingFile(f"No file named {name!r}.")
        return self._unavailable(error)

    # --- writing -----------------------------------------------------------------------------

    async def save(
        self,
        name: str,
        content: Content,
        *,
        content_type: str | None = None,
        overwrite: bool = False,
        max_size: int | None = None,
    ) -> str:
        """Store ``content`` at ``name`` (a new name beside it when taken); return the name used.

        ``content`` is bytes, an (async) iterator of bytes, an ``UploadFile``, a binary file or
        a ``Path``; everything but bytes streams in chunks, never whole in memory. Past
        ``max_size`` bytes the save stops with ``PayloadTooLarge`` (413) and keeps nothing.
        """
        name = clean_name(name)
        if isinstance(content, bytes | bytearray | memoryview) and max_size is not None:
            _check_size(len(content), max_size)
        if isinstance(content, UploadFile):
            content_type = content_type or content.content_type
            source: AsyncIterator[bytes] | bytes = _upload_chunks(content)
        elif isinstance(content, bytes | bytearray | memoryview):
            source = bytes(content)
        elif isinstance(content, Path):
            source = _path_chunks(content)
        elif isinstance(content, AsyncIterable):
            source = _bytes_only(content)
        elif hasattr(content, "read"):
            source = _file_chunks(content)  # type: ignore[arg-type]
        elif isinstance(content, Iterable):
            source = _sync_chunks(content)
        else:
            raise TypeError(f"cannot save a {type(content).__name__}: pass bytes or a stream")
        content_type = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        if not overwrite:
            # NOTE: check-then-write, as Django's storages do on S3: two uploads racing for one
            # new name can both pick it; the random suffix makes that a 1 in 2**32 event.
            while await self.exists(name):
                name = alternative_name(name)
        attributes = {"Content-Type": content_type} if self.backend.keeps_content_type else None
        store = self.backend.store
        try:
            if isinstance(source, bytes):
                await obstore.put_async(store, name, source, attributes=attributes)
            else:
                # NOTE: Python drives the writer rather than handing obstore the iterator: an
                # iterator held by obstore's own threads can abort the interpreter at exit.
                async with obstore.open_writer_async(
                    store,
                    name,
                    attributes=attributes,
                    buffer_size=PART,
                    max_concurrency=PARTS_IN_FLIGHT,
                ) as writer:
                    async for chunk in _guarded(source, max_size):
                        await writer.write(chunk)
        except _SourceFailed as failed:
            raise failed.error from None  # the upload's own fault (a client gone), not the store's
        except (ObstoreError, OSError) as error:
            raise self._translate(error, name) from error
        return name

    async def delete(self, name: str) -> bool:
        """Delete ``name``; False if there was no such file."""
        name = clean_name(name)
        if not await self.exists(name):
            return False
        try:
            await obstore.delete_async(self.backend.store, name)
        except FileNotFoundError:
            return False
        except (ObstoreError, OSError) as error:
            raise self._translate(error, name) from error
        return True

    # --- reading -----------------------------------------------------------------------------

    async def info(self, name: str) -> FileInfo:
        """Size, modification time, ETag and content type of ``name``; ``MissingFile`` if absent."""
        name = clean_name(name)
        try:
            if self.backend.keeps_content_type:
                result = await obstore.get_async(self.backend.store, name, options={"head": True})
                meta, content_type = result.meta, result.attributes.get("Content-Type")
            else:
                meta, content_type = await obstore.head_async(self.backend.store, name), None
        except (ObstoreError, OSError) as error:
            raise self._translate(error, name) from error
        return FileInfo(
            name=name,
            size=meta["size"],
            last_modified=meta["last_modified"],
            etag=meta["e_tag"],
            content_type=str(content_type)
            if content_type
            else mimetypes.guess_type(name)[0] or "application/octet-stream",
        )

    async def exists(self, name: str) -> bool:
        """Whether a file called ``name`` is stored."""
        try:
            await obstore.head_async(self.backend.store, clean_name(name))
        except FileNotFoundError:
            return False
        except (ObstoreError, OSError) as error:
            raise self._translate(error, name) from error
        return True

    async def size(self, name: str) -> int:
        """The size of ``name`` in bytes."""
        return (await self.info(name)).size

    async def list(self, prefix: str = "") -> list[str]:
        """The names starting with ``prefix`` (``"avatars/"``, ``"avatars/me"``), sorted."""
        if prefix:
            clean_name(prefix.rstrip("/"))
        # NOTE: stores list by folder; a prefix that ends inside a name lists its folder.
        folder = prefix if prefix.endswith("/") else prefix.rpartition("/")[0]
        names: list[str] = []
        try:
            async for batch in obstore.list(self.backend.store, folder or None):
                names.extend(meta["path"] for meta in batch)
        except (ObstoreError, OSError) as error:
            raise self._unavailable(error) from error
        return sorted(n for n in names if n.startswith(prefix))

    async def open(
        self, name: str, *, start: int | None = None, end: int | None = None
    ) -> AsyncIterator[bytes]:
        """Yield the bytes of ``name`` in chunks; ``start``/``end`` (exclusive) pick a range."""
        name = clean_name(name)
        options: dict[str, Any] = {}
        if start is not None or end is not None:
            first = start or 0
            if end is None:
                options["range"] = {"offset": first}
            else:
                if end < first:
                    raise ValueError(f"the range end {end} is before its start {first}")
                if end == first:
                    return
                options["range"] = (first, end)
        try:
            result = await obstore.get_async(self.backend.store, name, options=options)  # type: ignore[arg-type]
            async for chunk in result.stream(min_chunk_size=CHUNK):
                yield bytes(chunk)
        except (ObstoreError, OSError) as error:
            raise self._translate(error, name) from error

    async def read(self, name: str) -> bytes:
        """The whole file (for small files; stream big ones with ``open``)."""
        return b"".join([chunk async for chunk in self.open(name)])

    # --- URLs --------------------------------------------------------------------------------

    def url(self, name: str, *, expires: float = 3600) -> str:
        """A URL that fetches ``name`` for ``expires`` seconds: presigned, or signed by the app."""
        name = clean_name(name)
        if expires <= 0:
            raise ValueError(f"expires is a number of seconds > 0, got {expires}")
        presigned = self.backend.presign(name, expires)
        if presigned is not None:
            return presigned
        if self._signer is None:
            raise StorageConfigError(
                "storage.url() signs links with the app's SECRET_KEY: set SECRET_KEY in the "
                "settings or the environment, or pass Storage(secret=...)"
            )
        until, signature = self._signer.sign(name, expires)
        path = quote(name, safe="/")
        return f"{self._root_path}{self.route}/{path}?expires={until}&signature={signature}"

    async def serve(self, request: Request, name: str) -> Response:
        """The mounted route: check the link's signature and expiry, then send the file."""
        if self._signer is None:
            raise Forbidden("Signed storage links are not configured (no SECRET_KEY).")
        name = clean_name(name)
        query = request.query_params
        problem = self._signer.verify(name, query.get("expires"), query.get("signature"))
        if problem is not None:
            raise Forbidden(f"This file link is {problem}.")
        info = await self.info(name)
        headers = {
            # SECURITY: uploads are untrusted: no sniffing, and no scripts even for HTML or SVG.
            "x-content-type-options": "nosniff",
            "content-security-policy": "sandbox",
            "cache-control": "private, max-age=0",
        }
        path = self.backend.local_path(name)
        if path is not None:
            return FileResponse(path, headers=headers, media_type=info.content_type)
        headers["content-length"] = str(info.size)
        if info.etag:
            headers["etag"] = info.etag
        return StreamingResponse(self.open(name), headers=headers, media_type=info.content_type)

    async def check(self) -> None:
        """Raise ``StorageUnavailable`` if the store does not answer (the health check)."""
        await self.exists("celeris-health-check")
