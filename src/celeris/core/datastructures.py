"""Lazy request/response data structures: headers, query params, URL, state, forms, uploads."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import IO, Any, Generic, NamedTuple, TypeVar, cast, overload
from urllib.parse import SplitResult, parse_qsl, unquote_plus, urlencode, urlsplit

from celeris.core.concurrency import run_in_threadpool
from celeris.types import RawHeaders, Scope

__all__ = [
    "URL",
    "Address",
    "FormData",
    "Headers",
    "ImmutableMultiDict",
    "MutableHeaders",
    "QueryParams",
    "State",
    "UploadFile",
]

V = TypeVar("V")
D = TypeVar("D")

# --- multi-maps -------------------------------------------------------------------------------


class ImmutableMultiDict(Generic[V]):
    """A read-only multi-map: ``[key]``/``get`` give the LAST value, ``getlist`` all of them.

    The last-value rule matches Starlette and most frameworks where a repeated field
    overrides an earlier one; use ``getlist`` whenever repetition is meaningful.
    """

    __slots__ = ("_dict", "_list")

    def __init__(
        self, items: Mapping[str, V] | Iterable[tuple[str, V]] | ImmutableMultiDict[V] | None = None
    ) -> None:
        self._list: list[tuple[str, V]] | None
        if items is None:
            self._list = []
        elif isinstance(items, ImmutableMultiDict):
            self._list = list(items.multi_items())
        elif isinstance(items, Mapping):
            self._list = list(items.items())
        else:
            self._list = list(items)
        self._dict: dict[str, V] | None = None

    def _pairs(self) -> list[tuple[str, V]]:
        return cast("list[tuple[str, V]]", self._list)

    def _mapping(self) -> dict[str, V]:
        d = self._dict
        if d is None:
            # PERF: dict(pairs) keeps the last value of each key in one C-level pass.
            d = self._dict = dict(self._pairs())
        return d

    def multi_items(self) -> list[tuple[str, V]]:
        """Return every (key, value) pair in order, repeats included."""
        return list(self._pairs())

    def getlist(self, key: str) -> list[V]:
        """Return every value of ``key`` in order ([] when absent)."""
        return [v for k, v in self._pairs() if k == key]

    def get_single(self, key: str, default: Any) -> tuple[Any, int]:
        """Return the last value of ``key`` (or ``default``) and how often ``key`` occurs.

        PERF: one call for what binding a query parameter needs; the count is computed only
        when some key repeats (1 otherwise, 0 when absent).
        """
        d = self._dict
        if d is None:
            d = self._mapping()
        value = d.get(key, default)
        if value is default:
            return value, 0
        pairs = self._pairs()
        if len(d) == len(pairs):
            return value, 1
        return value, sum(1 for k, _ in pairs if k == key)

    @overload
    def get(self, key: str) -> V | None: ...
    @overload
    def get(self, key: str, default: D) -> V | D: ...
    def get(self, key: str, default: Any = None) -> Any:
        """Return the last value of ``key`` or ``default``."""
        return self._mapping().get(key, default)

    def keys(self) -> list[str]:
        """Return the distinct keys in first-seen order."""
        return list(self._mapping().keys())

    def values(self) -> list[V]:
        """Return the last value of each distinct key."""
        return list(self._mapping().values())

    def items(self) -> list[tuple[str, V]]:
        """Return (key, last value) for each distinct key."""
        return list(self._mapping().items())

    def __getitem__(self, key: str) -> V:
        return self._mapping()[key]

    def __contains__(self, key: object) -> bool:
        return key in self._mapping()

    def __iter__(self) -> Iterator[str]:
        return iter(self._mapping())

    def __len__(self) -> int:
        return len(self._mapping())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ImmutableMultiDict):
            return sorted(map(repr, self._pairs())) == sorted(map(repr, other._pairs()))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.multi_items()!r})"


def _parse_query(raw: str) -> list[tuple[str, str]]:
    """Split a query string into pairs (``&`` separated; blank values kept)."""
    # PERF: about 5x faster than parse_qsl; only parts with escapes pay for unquoting.
    pairs: list[tuple[str, str]] = []
    for part in raw.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        if "%" in part or "+" in part:
            key, value = unquote_plus(key), unquote_plus(value)
        pairs.append((key, value))
    return pairs


class QueryParams(ImmutableMultiDict[str]):
    """Query-string parameters, parsed on first access; ``get`` returns the LAST value."""

    __slots__ = ("_raw",)

    def __init__(
        self,
        query: str | bytes | Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    ) -> None:
        if isinstance(query, str | bytes):
            self._raw: str | None = query.decode("latin-1") if isinstance(query, bytes) else query
            self._list = None
            self._dict = None
        else:
            self._raw = None
            super().__init__(query)

    def _pairs(self) -> list[tuple[str, str]]:
        pairs = self._list
        if pairs is None:
            # PERF: parsed only when a handler reads the query string.
            pairs = self._list = _parse_query(self._raw or "")
        return pairs

    def __str__(self) -> str:
        if self._raw is not None:
            return self._raw
        return urlencode(self._pairs())


# --- headers ----------------------------------------------------------------------------------


def _check_header(name: bytes, value: bytes) -> None:
    # SECURITY: CR, LF or NUL in a header would let a value inject headers or split the response.
    for ch in (b"\r", b"\n", b"\0"):
        if ch in name or ch in value:
            raise ValueError(f"invalid character {ch!r} in header {name!r}")
    if not name or b":" in name or b" " in name:
        raise ValueError(f"invalid header name {name!r}")


def _encode_pairs(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> RawHeaders:
    items = headers.items() if isinstance(headers, Mapping) else headers
    raw: RawHeaders = []
    for k, v in items:
        pair = (k.lower().encode("latin-1"), str(v).encode("latin-1"))
        _check_header(*pair)
        raw.append(pair)
    return raw


# PERF: header names looked up by str, lower-cased and encoded once each (~1,000 instructions
# a lookup saved); bounded, since names can come from requests.
_KEYS: dict[str, bytes | None] = {}


def _key(name: str) -> bytes | None:
    key = _KEYS.get(name, b"")
    if key != b"":
        return key
    try:
        key = name.lower().encode("latin-1")
    except UnicodeEncodeError:
        key = None  # no header can have this name
    if len(_KEYS) < 512:
        _KEYS[name] = key
    return key


class Headers:
    """Read-only, case-insensitive multi-map over raw header pairs (latin-1), decoded lazily.

    ``[name]``/``get`` give the FIRST value; ``getlist`` all; ``items()`` every pair in order.
    Raw names must be lower-case bytes, as ASGI and the fast lane guarantee; byte pairs from
    other iterables and all ``str`` input are lower-cased here.
    """

    __slots__ = ("_raw",)

    def __init__(
        self,
        raw: Headers | RawHeaders | Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        *,
        scope: Scope | None = None,
    ) -> None:
        if scope is not None:
            raw = scope["headers"]
        if type(raw) is list and (not raw or type(raw[0][0]) is bytes):
            # PERF: the server's (and ASGI's) list of byte pairs, tested first: the isinstance
            # checks below against the Mapping ABC cost ~4,000 instructions per request.
            self._raw: RawHeaders = raw
        elif raw is None:
            self._raw = []
        elif isinstance(raw, Headers):
            self._raw = raw._raw
        elif isinstance(raw, Mapping):
            self._raw = _encode_pairs(raw)
        elif isinstance(raw, list) and (not raw or isinstance(raw[0][0], bytes)):
            # PERF: the server's list of lower-cased byte pairs is used as is, not copied.
            self._raw = cast("RawHeaders", raw)
        else:
            items = list(raw)
            if items and not isinstance(items[0][0], bytes):
                self._raw = _encode_pairs(cast("list[tuple[str, str]]", items))
            else:
                self._raw = [(bytes(k).lower(), bytes(v)) for k, v in items]

    @property
    def raw(self) -> RawHeaders:
        """The underlying ``[(name, value), ...]`` byte pairs."""
        return self._raw

    @overload
    def get(self, key: str) -> str | None: ...
    @overload
    def get(self, key: str, default: D) -> str | D: ...
    def get(self, key: str, default: Any = None) -> Any:
        """Return the first value of header ``key`` (any case) or ``default``."""
        # PERF: a linear scan over a handful of byte pairs beats building an index.
        name = _key(key)
        for k, v in self._raw:
            if k == name:
                return v.decode("latin-1")
        return default

    def getlist(self, key: str) -> list[str]:
        """Return every value of header ``key`` in order."""
        name = _key(key)
        return [v.decode("latin-1") for k, v in self._raw if k == name]

    def keys(self) -> list[str]:
        """Return every header name in order (repeats included)."""
        return [k.decode("latin-1") for k, _ in self._raw]

    def values(self) -> list[str]:
        """Return every header value in order."""
        return [v.decode("latin-1") for _, v in self._raw]

    def items(self) -> list[tuple[str, str]]:
        """Return every (name, value) pair in order."""
        return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self._raw]

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        name = _key(key)
        return any(k == name for k, _ in self._raw)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._raw)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return sorted(self.items()) == sorted(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def mutablecopy(self) -> MutableHeaders:
        """Return a mutable copy."""
        return MutableHeaders(list(self._raw))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.items()!r})"


class MutableHeaders(Headers):
    """Response headers: case-insensitive, mutable until the response is sent."""

    __slots__ = ()

    def __init__(
        self,
        raw: Headers | RawHeaders | Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        *,
        scope: Scope | None = None,
    ) -> None:
        super().__init__(raw, scope=scope)
        if raw is not None or scope is not None:
            # Never mutate the caller's list; names lower-cased so lookups stay exact.
            self._raw = [(k.lower(), v) for k, v in self._raw]

    @classmethod
    def over(cls, raw: RawHeaders) -> MutableHeaders:
        """Wrap ``raw`` (lower-cased names) in place: mutations change that very list."""
        headers = cls()
        headers._raw = raw
        return headers

    def __setitem__(self, key: str, value: str) -> None:
        name = key.lower().encode("latin-1")
        encoded = str(value).encode("latin-1")
        _check_header(name, encoded)
        raw = self._raw
        found = -1
        for i in range(len(raw) - 1, -1, -1):
            if raw[i][0] == name:
                if found != -1:
                    del raw[found]
                found = i
        if found == -1:
            raw.append((name, encoded))
        else:
            raw[found] = (name, encoded)

    def __delitem__(self, key: str) -> None:
        name = key.lower().encode("latin-1")
        before = len(self._raw)
        self._raw[:] = [p for p in self._raw if p[0] != name]
        if len(self._raw) == before:
            raise KeyError(key)

    def pop(self, key: str, default: str | None = None) -> str | None:
        """Remove header ``key`` and return its first value (or ``default``)."""
        value = self.get(key)
        if value is None:
            return default
        del self[key]
        return value

    def append(self, key: str, value: str) -> None:
        """Add a header line without touching existing ones (e.g. Set-Cookie, Vary)."""
        pair = (key.lower().encode("latin-1"), str(value).encode("latin-1"))
        _check_header(*pair)
        self._raw.append(pair)

    def setdefault(self, key: str, value: str) -> str:
        """Set ``key`` unless present; return its (first) value."""
        current = self.get(key)
        if current is None:
            self[key] = value
            return value
        return current

    def update(self, other: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        """Set each header of ``other`` (replacing existing values)."""
        items = other.items() if isinstance(other, Mapping) else other
        for k, v in items:
            self[k] = v

    def add_vary_header(self, vary: str) -> None:
        """Add ``vary`` to the Vary header."""
        existing = self.get("vary")
        if existing is None:
            self["vary"] = vary
        elif vary.lower() not in [v.strip().lower() for v in existing.split(",")]:
            self["vary"] = f"{existing}, {vary}"


# --- URL, address, state ----------------------------------------------------------------------


class Address(NamedTuple):
    """A peer's (host, port)."""

    host: str
    port: int


class URL:
    """An immutable URL with its components."""

    __slots__ = ("_parts", "_url")

    def __init__(self, url: str = "") -> None:
        self._url = url
        self._parts: SplitResult | None = None

    @classmethod
    def build(
        cls,
        *,
        scheme: str,
        host: str | None,
        server: tuple[str, int | None] | None,
        path: str,
        query_string: bytes = b"",
    ) -> URL:
        """Build a URL from the parts of a request (Host header first, then the server)."""
        if host:
            netloc = host
        elif server is not None:
            name, port = server
            default = {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(scheme)
            netloc = name if port is None or port == default else f"{name}:{port}"
        else:
            netloc = ""
        url = f"{scheme}://{netloc}{path}" if netloc else path
        if query_string:
            url += "?" + query_string.decode("latin-1")
        return cls(url)

    @property
    def components(self) -> SplitResult:
        """The parsed parts."""
        parts = self._parts
        if parts is None:
            parts = self._parts = urlsplit(self._url)
        return parts

    @property
    def scheme(self) -> str:
        """The scheme ("http", "https", ...)."""
        return self.components.scheme

    @property
    def netloc(self) -> str:
        """The host[:port] part (with user info if any)."""
        return self.components.netloc

    @property
    def path(self) -> str:
        """The path."""
        return self.components.path

    @property
    def query(self) -> str:
        """The raw query string."""
        return self.components.query

    @property
    def fragment(self) -> str:
        """The fragment."""
        return self.components.fragment

    @property
    def hostname(self) -> str | None:
        """The host name, lower-cased."""
        return self.components.hostname

    @property
    def port(self) -> int | None:
        """The explicit port, if any."""
        try:
            return self.components.port
        except ValueError:
            return None

    @property
    def username(self) -> str | None:
        """The user name in the URL, if any."""
        return self.components.username

    @property
    def password(self) -> str | None:
        """The password in the URL, if any."""
        return self.components.password

    @property
    def is_secure(self) -> bool:
        """Tell whether the scheme is https or wss."""
        return self.scheme in ("https", "wss")

    def replace(self, **kwargs: Any) -> URL:
        """Return a copy with some of scheme/netloc/path/query/fragment replaced."""
        if "hostname" in kwargs or "port" in kwargs:
            hostname = kwargs.pop("hostname", self.hostname) or ""
            port = kwargs.pop("port", self.port)
            kwargs["netloc"] = hostname if port is None else f"{hostname}:{port}"
        return URL(self.components._replace(**kwargs).geturl())

    def include_query_params(self, **params: Any) -> URL:
        """Return a copy with ``params`` set in the query string."""
        pairs = [
            (k, v) for k, v in parse_qsl(self.query, keep_blank_values=True) if k not in params
        ]
        pairs.extend((k, str(v)) for k, v in params.items())
        return self.replace(query=urlencode(pairs))

    def remove_query_params(self, keys: str | Sequence[str]) -> URL:
        """Return a copy without the given query parameters."""
        drop = {keys} if isinstance(keys, str) else set(keys)
        pairs = [(k, v) for k, v in parse_qsl(self.query, keep_blank_values=True) if k not in drop]
        return self.replace(query=urlencode(pairs))

    def __str__(self) -> str:
        return self._url

    def __repr__(self) -> str:
        return f"URL({self._url!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, URL | str):
            return str(self) == str(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._url)


class State:
    """Attribute access over a dict: ``request.state.user`` / ``app.state.db``."""

    __slots__ = ("_state",)

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        object.__setattr__(self, "_state", {} if state is None else state)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._state[name]
        except KeyError:
            raise AttributeError(f"state has no attribute {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self._state[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self._state[name]
        except KeyError:
            raise AttributeError(f"state has no attribute {name!r}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._state

    def __iter__(self) -> Iterator[str]:
        return iter(self._state)

    def __len__(self) -> int:
        return len(self._state)

    def get(self, name: str, default: Any = None) -> Any:
        """Return attribute ``name`` or ``default``."""
        return self._state.get(name, default)

    def __repr__(self) -> str:
        return f"State({self._state!r})"


# --- uploads and forms ------------------------------------------------------------------------


class UploadFile:
    """An uploaded file: metadata plus a (spooled) binary file with async helpers."""

    __slots__ = ("content_type", "file", "filename", "headers", "size")

    def __init__(
        self,
        file: IO[bytes] | None = None,
        *,
        filename: str | None = None,
        content_type: str | None = None,
        size: int | None = None,
        headers: Headers | None = None,
    ) -> None:
        if file is None:
            file = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)  # noqa: SIM115
        self.file: IO[bytes] = file
        self.filename = filename
        self.headers = headers if headers is not None else Headers()
        self.content_type = content_type or self.headers.get("content-type")
        self.size = size

    @property
    def _in_memory(self) -> bool:
        # PERF: an unrolled SpooledTemporaryFile is a BytesIO; no thread hop needed.
        rolled = getattr(self.file, "_rolled", True)
        return not rolled

    async def read(self, size: int = -1) -> bytes:
        """Read up to ``size`` bytes (all by default)."""
        if self._in_memory:
            return self.file.read(size)
        return await run_in_threadpool(self.file.read, size)

    async def write(self, data: bytes) -> None:
        """Append ``data`` and grow ``size``."""
        if self.size is not None:
            self.size += len(data)
        # PERF: stay on the loop while the data stays in memory; a write that rolls the
        # spool over to disk (or any write to disk) goes to the thread pool.
        file = self.file
        if self._in_memory and file.tell() + len(data) <= getattr(file, "_max_size", 0):
            file.write(data)
        else:
            await run_in_threadpool(self.file.write, data)

    async def seek(self, offset: int, whence: int = os.SEEK_SET) -> None:
        """Move the file position."""
        if self._in_memory:
            self.file.seek(offset, whence)
        else:
            await run_in_threadpool(self.file.seek, offset, whence)

    async def close(self) -> None:
        """Close the file (deleting any temporary file)."""
        if self._in_memory:
            self.file.close()
        else:
            await run_in_threadpool(self.file.close)

    def __repr__(self) -> str:
        return (
            f"UploadFile(filename={self.filename!r}, size={self.size!r}, "
            f"content_type={self.content_type!r})"
        )


class FormData(ImmutableMultiDict["str | UploadFile"]):
    """Parsed form fields: ``str`` values and ``UploadFile`` parts; ``get`` gives the LAST value."""

    __slots__ = ()

    async def close(self) -> None:
        """Close every uploaded file."""
        for _, value in self._pairs():
            if isinstance(value, UploadFile):
                await value.close()
