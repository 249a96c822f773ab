from __future__ import annotations

from celeris.core import status


def test_constants_and_phrases() -> None:
    assert status.HTTP_404_NOT_FOUND == 404
    assert status.reason_phrase(404) == "Not Found"
    assert status.reason_phrase(418) == "I'm a Teapot"
    assert status.reason_phrase(799) == ""
    assert status.WS_1008_POLICY_VIOLATION == 1008


def test_body_allowed() -> None:
    assert status.is_body_allowed(200)
    assert status.is_body_allowed(404)
    assert not status.is_body_allowed(204)
    assert not status.is_body_allowed(304)
    assert not status.is_body_allowed(101)
