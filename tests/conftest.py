"""Shared fixtures: real services (PostgreSQL, Redis, RabbitMQ) with skip-or-fail semantics."""

from __future__ import annotations

import os
import socket
import tempfile
from urllib.parse import urlsplit

import pytest
from hypothesis import settings as hypothesis_settings

# NOTE: no example database: a failing example found on one run is reported, never replayed
# from .hypothesis/ into every later run of the same clone (issue 19, item 8).
hypothesis_settings.register_profile("celeris", database=None)
hypothesis_settings.load_profile("celeris")

REQUIRE_SERVICES = os.environ.get("CELERIS_REQUIRE_SERVICES") == "1"

# NOTE: apps built at import time (the showcase) resolve DATABASE_URL at start-up; the suite
# must never write into a developer's database or into examples/, so it gets a throwaway one.
os.environ["DATABASE_URL"] = (
    f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='celeris-tests-')}/app.db"
)

POSTGRES_URL = os.environ.get(
    "CELERIS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("CELERIS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RABBITMQ_URL = os.environ.get("CELERIS_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")


def pytest_configure(config: pytest.Config) -> None:
    """Under CELERIS_EXPECT_COMPILED=1 (``make test-compiled``), refuse to test pure Python."""
    if os.environ.get("CELERIS_EXPECT_COMPILED") != "1":
        return
    import celeris.server.protocol
    from celeris.server.server import build_kind

    if build_kind() != "compiled":
        where = celeris.server.protocol.__file__
        raise pytest.UsageError(
            f"CELERIS_EXPECT_COMPILED=1 but celeris.server.protocol is pure Python ({where})"
        )


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), timeout=1.0
        ):
            return True
    except OSError:
        return False


def require_service(name: str, url: str, default_port: int) -> str:
    """Return ``url`` if the service answers; otherwise skip, or fail under CELERIS_REQUIRE_SERVICES=1."""
    if _reachable(url, default_port):
        return url
    message = f"{name} is not reachable at {url} (set the URL's env var or start the service)"
    if REQUIRE_SERVICES:
        pytest.fail(f"CELERIS_REQUIRE_SERVICES=1 but {message}")
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    return require_service("PostgreSQL", POSTGRES_URL, 5432)


@pytest.fixture(scope="session")
def redis_url() -> str:
    return require_service("Redis", REDIS_URL, 6379)


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    return require_service("RabbitMQ", RABBITMQ_URL, 5672)
