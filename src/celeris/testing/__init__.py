"""Test clients that run a celeris (or any ASGI) app in process."""

from celeris.testing.client import AsyncTestClient, TestClient, WebSocketTestSession
from celeris.testing.transport import WebSocketSession

__all__ = ["AsyncTestClient", "TestClient", "WebSocketSession", "WebSocketTestSession"]
