"""S3 and S3-compatible stores (``s3://bucket/prefix?endpoint_url=...&region=...``).

Credentials come from the URL's query (``access_key_id``, ``secret_access_key``) or, as usual,
from ``AWS_*`` environment variables. ``storage.url()`` presigns: the store serves the file.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import obstore
from obstore.store import S3Store

from celeris.storage.errors import StorageConfigError

__all__ = ["S3Backend"]

_OPTIONS = {
    "endpoint_url": "endpoint",
    "endpoint": "endpoint",
    "region": "region",
    "access_key_id": "access_key_id",
    "secret_access_key": "secret_access_key",
    "session_token": "session_token",
    "virtual_hosted_style_request": "virtual_hosted_style_request",
}


class S3Backend:
    """A bucket (and optional prefix) on S3 or an S3-compatible server."""

    name = "s3"
    keeps_content_type = True

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if not parts.netloc:
            raise StorageConfigError(f"an S3 URL names its bucket: s3://bucket, not {url!r}")
        config: dict[str, Any] = {}
        for key, value in parse_qsl(parts.query):
            if key not in _OPTIONS:
                known = ", ".join(sorted(_OPTIONS))
                raise StorageConfigError(f"unknown S3 URL option {key!r} (known: {known})")
            config[_OPTIONS[key]] = value
        if "virtual_hosted_style_request" in config:
            config["virtual_hosted_style_request"] = config["virtual_hosted_style_request"] in (
                "1",
                "true",
            )
        endpoint = str(config.get("endpoint", ""))
        self.bucket = parts.netloc
        prefix = unquote(parts.path).strip("/") or None
        # NOTE: bounded timeouts and few retries: a store that is down becomes a 503 in seconds,
        # not a request hung for obstore's default three minutes of retries.
        self.store = S3Store(
            self.bucket,
            prefix=prefix,
            config=config,  # type: ignore[arg-type]
            client_options={
                "allow_http": endpoint.startswith("http://"),
                "connect_timeout": dt.timedelta(seconds=min(timeout, 5.0)),
                "read_timeout": dt.timedelta(seconds=timeout),
                # a whole transfer may take long (a 2 GB download); each read may not
                "timeout": dt.timedelta(hours=6),
            },
            retry_config={
                "max_retries": 1,
                "retry_timeout": dt.timedelta(seconds=timeout),
                "backoff": {
                    "init_backoff": dt.timedelta(milliseconds=100),
                    "max_backoff": dt.timedelta(seconds=1),
                    "base": 2,
                },
            },
        )

    def local_path(self, name: str) -> Path | None:
        return None

    def presign(self, name: str, expires: float) -> str | None:
        return obstore.sign(self.store, "GET", name, dt.timedelta(seconds=expires))
