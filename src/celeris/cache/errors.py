"""The cache's errors: a backend that is away becomes a 503 with ``Retry-After``."""

from __future__ import annotations

from celeris.core.errors import ServiceUnavailable

__all__ = ["CacheConfigError", "CacheUnavailable"]


class CacheConfigError(ValueError):
    """A cache URL names an unknown scheme, or its backend's extra is not installed."""


class CacheUnavailable(ServiceUnavailable):
    """The cache backend did not answer (raised only with ``on_error="raise"``)."""
