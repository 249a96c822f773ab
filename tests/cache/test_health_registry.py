"""Each battery attached to an app registers its health check in ``app.state.health_checks``."""

from __future__ import annotations

from pathlib import Path

from celeris import App
from celeris.cache import Cache
from celeris.mail import Mailer
from celeris.storage import Storage


async def test_batteries_register_their_checks(tmp_path: Path) -> None:
    app = App()
    Cache(app=app)
    Cache(app=app, namespace="second:")
    Mailer(app=app, url="memory://")
    Storage(app=app, url=f"file://{tmp_path}")
    checks = app.state.health_checks
    assert list(checks) == ["cache", "cache-2", "mail", "storage"]
    for name, check in checks.items():
        health = await check()
        assert health.status == "ok", (name, health)


async def test_an_unavailable_check_does_not_raise() -> None:
    app = App()
    Mailer(app=app, url="smtp://127.0.0.1:9?timeout=0.5")  # nothing listens on the discard port
    health = await app.state.health_checks["mail"]()
    assert health.status == "unavailable"
    assert "could not connect" in health.error
