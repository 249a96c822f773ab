"""Form bodies: dispatch by Content-Type, urlencoded parsing, the limits.

Multipart parsing lives in ``celeris.core.multipart`` (python-multipart), loaded on the
first multipart body so that ``import celeris`` does not pay for it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qsl

from celeris.core.datastructures import FormData, Headers
from celeris.core.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

__all__ = [
    "DEFAULT_MAX_FIELDS",
    "DEFAULT_MAX_FILES",
    "DEFAULT_MAX_PART_SIZE",
    "SPOOL_MAX_SIZE",
    "parse_content_type",
    "parse_form",
    "parse_urlencoded",
]

DEFAULT_MAX_FILES = 1000
DEFAULT_MAX_FIELDS = 1000
DEFAULT_MAX_PART_SIZE = 1024 * 1024
SPOOL_MAX_SIZE = 1024 * 1024


def parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    """Return a Content-Type's lower-cased media type and its parameters (quotes removed)."""
    media, *rest = value.split(";")
    params: dict[str, str] = {}
    for item in rest:
        name, sep, param = item.partition("=")
        if sep:
            param = param.strip()
            if len(param) >= 2 and param[0] == param[-1] == '"':
                param = param[1:-1].replace('\\"', '"')
            params[name.strip().lower()] = param
    return media.strip().lower(), params


async def parse_form(
    headers: Headers,
    stream: AsyncIterator[bytes],
    *,
    max_files: int = DEFAULT_MAX_FILES,
    max_fields: int = DEFAULT_MAX_FIELDS,
    max_part_size: int = DEFAULT_MAX_PART_SIZE,
    max_file_size: int | None = None,
) -> FormData:
    """Parse a form body by its Content-Type (415 for anything but a form).

    ``max_part_size`` limits each non-file field (urlencoded or multipart), ``max_file_size``
    each uploaded file (None: only the server's body limit); past either, 413.
    """
    content_type = headers.get("content-type")
    if content_type is None:
        async for chunk in stream:
            if chunk:
                raise UnsupportedMediaType(
                    "A form body needs Content-Type application/x-www-form-urlencoded "
                    "or multipart/form-data."
                )
        return FormData()
    media_type, params = parse_content_type(content_type)
    if media_type == "multipart/form-data":
        boundary = params.get("boundary")
        if not boundary:
            raise BadRequest("The multipart/form-data Content-Type has no boundary parameter.")
        charset = params.get("charset", "utf-8")
        # PERF: python-multipart loads with the first multipart body, not at `import celeris`
        # (laziness, not a cycle: celeris.core.multipart never imports this module).
        from celeris.core.multipart import parse_multipart

        return await parse_multipart(
            boundary.encode("latin-1"),
            stream,
            charset=charset,
            max_files=max_files,
            max_fields=max_fields,
            max_part_size=max_part_size,
            spool_max_size=SPOOL_MAX_SIZE,
            max_file_size=max_file_size,
        )
    if media_type == "application/x-www-form-urlencoded":
        body = bytearray()
        limit = max_fields * max_part_size
        async for chunk in stream:
            body += chunk
            if len(body) > limit:
                raise PayloadTooLarge(f"The form body exceeds {limit} bytes.")
        return parse_urlencoded(bytes(body), max_fields=max_fields, max_part_size=max_part_size)
    raise UnsupportedMediaType(
        f"Expected a form body (application/x-www-form-urlencoded or multipart/form-data),"
        f" got {media_type!r}."
    )


def parse_urlencoded(
    body: bytes, *, max_fields: int = DEFAULT_MAX_FIELDS, max_part_size: int = DEFAULT_MAX_PART_SIZE
) -> FormData:
    """Parse an ``application/x-www-form-urlencoded`` body."""
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise BadRequest(
            "A urlencoded form body must be ASCII (percent-encode other bytes)."
        ) from None
    try:
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=max_fields)
    except UnicodeDecodeError:
        raise BadRequest("A urlencoded form field is not valid UTF-8 once decoded.") from None
    except ValueError:
        raise PayloadTooLarge(f"Too many form fields: the limit is {max_fields}.") from None
    for name, value in pairs:
        if len(value) > max_part_size:
            raise PayloadTooLarge(f"Form field {name!r} exceeds {max_part_size} bytes.")
    return FormData(pairs)
