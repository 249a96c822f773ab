"""The storage battery's errors, each also the HTTP answer a handler should give."""

from __future__ import annotations

from celeris.core.errors import BadRequest, NotFound, ServiceUnavailable

__all__ = ["InvalidName", "MissingFile", "StorageConfigError", "StorageUnavailable"]


class StorageConfigError(ValueError):
    """A storage URL names an unknown scheme or option, or its extra is not installed."""


class InvalidName(BadRequest, ValueError):
    """A file name that could leave the storage root or is not a plain relative path (400)."""


class MissingFile(NotFound, FileNotFoundError):
    """No file by that name in the storage (404)."""


class StorageUnavailable(ServiceUnavailable):
    """The store did not answer (503 with ``Retry-After``)."""
