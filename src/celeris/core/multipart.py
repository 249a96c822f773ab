"""Multipart form bodies (python-multipart): streamed parts, uploads spooled to disk."""

from __future__ import annotations

import re
import tempfile
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from celeris.core.datastructures import FormData, Headers, UploadFile
from celeris.core.errors import BadRequest, PayloadTooLarge

__all__ = ["parse_multipart"]

_FILENAME_STAR = re.compile(r"""filename\*\s*=\s*([\w!#$%&+^`{}~.-]+)'[\w-]*'([^;\s]+)""", re.I)


class _MultipartState:
    """Collects python-multipart callbacks into a list of events for async processing."""

    __slots__ = ("ended", "events", "field", "header_name", "header_value", "headers")

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.headers: list[tuple[bytes, bytes]] = []
        self.header_name = bytearray()
        self.header_value = bytearray()
        self.ended = False

    def on_part_begin(self) -> None:
        self.headers = []

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers.append((bytes(self.header_name).lower(), bytes(self.header_value)))
        self.header_name.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        self.events.append(("headers", self.headers))

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        self.events.append(("data", data[start:end]))

    def on_part_end(self) -> None:
        self.events.append(("end", None))

    def on_end(self) -> None:
        self.ended = True


def _filename_of(disposition: bytes, params: dict[bytes, bytes]) -> str | None:
    match = _FILENAME_STAR.search(disposition.decode("latin-1"))
    if match is not None:
        try:
            return unquote(match.group(2), encoding=match.group(1), errors="strict")
        except (LookupError, UnicodeDecodeError):
            pass
    raw = params.get(b"filename")
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


async def parse_multipart(
    boundary: bytes,
    stream: AsyncIterator[bytes],
    *,
    charset: str,
    max_files: int,
    max_fields: int,
    max_part_size: int,
    spool_max_size: int,
    max_file_size: int | None = None,
) -> FormData:
    """Parse a ``multipart/form-data`` body; file parts are spooled to disk past a threshold.

    The limits come from ``celeris.core.forms.parse_form``, which owns their defaults:
    ``max_part_size`` bounds each non-file field, ``max_file_size`` (None: no limit) each file.
    """
    state = _MultipartState()
    callbacks: Any = {
        "on_part_begin": state.on_part_begin,
        "on_header_field": state.on_header_field,
        "on_header_value": state.on_header_value,
        "on_header_end": state.on_header_end,
        "on_headers_finished": state.on_headers_finished,
        "on_part_data": state.on_part_data,
        "on_part_end": state.on_part_end,
        "on_end": state.on_end,
    }
    try:
        parser = MultipartParser(boundary, callbacks)
    except (ValueError, MultipartParseError) as exc:
        raise BadRequest(f"Invalid multipart boundary: {exc}") from None
    items: list[tuple[str, str | UploadFile]] = []
    files = fields = 0
    name = ""
    upload: UploadFile | None = None
    field = bytearray()
    try:
        async for chunk in stream:
            try:
                parser.write(chunk)
            except MultipartParseError as exc:
                raise BadRequest(f"Malformed multipart body: {exc}") from None
            events, state.events = state.events, []
            for kind, payload in events:
                if kind == "headers":
                    part_headers = Headers(payload)
                    disposition = part_headers.get("content-disposition")
                    if disposition is None:
                        raise BadRequest("A multipart part has no Content-Disposition header.")
                    _, params = parse_options_header(disposition)
                    raw_name = params.get(b"name")
                    if raw_name is None:
                        raise BadRequest("A multipart part has no name in its Content-Disposition.")
                    name = raw_name.decode(charset, "replace")
                    filename = _filename_of(disposition.encode("latin-1"), params)
                    if filename is not None:
                        files += 1
                        if files > max_files:
                            raise PayloadTooLarge(f"Too many files: the limit is {max_files}.")
                        spool = tempfile.SpooledTemporaryFile(max_size=spool_max_size)  # noqa: SIM115
                        upload = UploadFile(spool, filename=filename, size=0, headers=part_headers)
                    else:
                        fields += 1
                        if fields > max_fields:
                            raise PayloadTooLarge(
                                f"Too many form fields: the limit is {max_fields}."
                            )
                        upload = None
                        field.clear()
                elif kind == "data":
                    if upload is not None:
                        if (
                            max_file_size is not None
                            and (upload.size or 0) + len(payload) > max_file_size
                        ):
                            raise PayloadTooLarge(
                                f"File {upload.filename!r} (field {name!r}) exceeds "
                                f"{max_file_size} bytes."
                            )
                        await upload.write(payload)
                    else:
                        field += payload
                        if len(field) > max_part_size:
                            raise PayloadTooLarge(
                                f"Form field {name!r} exceeds {max_part_size} bytes."
                            )
                elif upload is not None:  # end of a file part
                    await upload.seek(0)
                    items.append((name, upload))
                    upload = None
                else:  # end of a field part
                    try:
                        items.append((name, field.decode(charset)))
                    except (UnicodeDecodeError, LookupError):
                        raise BadRequest(f"Form field {name!r} is not valid {charset}.") from None
        parser.finalize()
        if not state.ended:
            raise BadRequest("The multipart body ended before its closing boundary.")
    except BaseException:
        if upload is not None:
            await upload.close()
        for _, value in items:
            if isinstance(value, UploadFile):
                await value.close()
        raise
    return FormData(items)
