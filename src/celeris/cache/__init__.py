"""The cache battery: ``Cache(app=app)``; memory by default, ``redis://`` for many workers."""

from celeris.cache.cache import Cache, Lock, resolve_url
from celeris.cache.errors import CacheConfigError, CacheUnavailable
from celeris.cache.health import Health, check

__all__ = [
    "Cache",
    "CacheConfigError",
    "CacheUnavailable",
    "Health",
    "Lock",
    "check",
    "resolve_url",
]
