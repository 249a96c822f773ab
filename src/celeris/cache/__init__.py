"""The cache battery: ``Cache(app=app)``; memory by default, ``redis://`` for many workers."""

from celeris.cache.cache import Cache, Lock, resolve_url
from celeris.cache.errors import CacheConfigError, CacheUnavailable
from celeris.cache.health import Health, check
from celeris.cache.idempotency import REPLAYED_HEADER, Idempotency

__all__ = [
    "REPLAYED_HEADER",
    "Cache",
    "CacheConfigError",
    "CacheUnavailable",
    "Health",
    "Idempotency",
    "Lock",
    "check",
    "resolve_url",
]
