"""The access log: one line per response, in common or JSON format."""

from __future__ import annotations

import json
import logging
import time

from celeris.telemetry import log_ids

logger = logging.getLogger("celeris.access")


class AccessLog:
    """Write access-log lines to the ``celeris.access`` logger."""

    __slots__ = ("json_format",)

    def __init__(self, fmt: str = "common") -> None:
        if fmt not in ("common", "json"):
            raise ValueError(f"access_log_format must be 'common' or 'json', not {fmt!r}")
        self.json_format = fmt == "json"

    def enabled(self) -> bool:
        """Tell whether a line would be written at all."""
        return logger.isEnabledFor(logging.INFO)

    def log(
        self,
        client: tuple[str, int] | None,
        method: str,
        target: str,
        http_version: str,
        status: int,
        size: int,
    ) -> None:
        """Write one line for a finished response (``"-"``: a part the server never read)."""
        host = client[0] if client else "-"
        if self.json_format:
            fields: dict[str, object] = {
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "client": host,
                "method": None if method == "-" else method,
                "path": None if target == "-" else target,
                "http_version": None if http_version == "-" else http_version,
                "status": status,
                "size": size,
            }
            ids = log_ids()  # the request's span, when celeris.tracing traced it
            if ids is not None:
                fields["trace_id"], fields["span_id"] = ids
            line = json.dumps(fields, separators=(",", ":"))
        else:
            stamp = time.strftime("%d/%b/%Y:%H:%M:%S %z")
            request = "-" if method == "-" else f"{method} {target} HTTP/{http_version}"
            line = f'{host} - - [{stamp}] "{request}" {status} {size}'
        logger.info(line)
