"""``SignedCookie``'s cache of verified values: faster, and exactly as strict as the full check."""

from __future__ import annotations

import logging
import time

import itsdangerous
import itsdangerous.timed
import pytest

from celeris.sessions import SignedCookie
from celeris.sessions import cookie as cookie_module

SECRET = "test-secret-key-of-some-length"


class _Later:
    """A ``time`` module whose clock runs ``ahead`` seconds fast."""

    def __init__(self, ahead: float) -> None:
        self.ahead = ahead

    def time(self) -> float:
        return time.time() + self.ahead


def _flip(text: str, at: int) -> str:
    """Return ``text`` with the character at ``at`` changed (still URL-safe base64)."""
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1 :]


def test_a_value_seen_before_is_served_from_the_cache() -> None:
    signer = SignedCookie(SECRET)
    value = itsdangerous.URLSafeTimedSerializer(SECRET, salt="celeris.sessions").dumps({"u": 1})
    assert value not in signer.verified
    assert signer.loads(value, 60) is not None  # checked in full, then remembered
    assert value in signer.verified
    loaded = signer.loads(value, 60)
    assert loaded is not None
    assert loaded[0] == {"u": 1}


def test_a_tampered_value_is_never_served_from_the_cache(caplog: pytest.LogCaptureFixture) -> None:
    signer = SignedCookie(SECRET)
    value = signer.dumps({"user": "ada", "role": "user"})
    assert signer.loads(value, 60) is not None
    payload, stamp, signature = value.split(".")
    forged = [
        _flip(value, 3),  # a byte of the payload
        _flip(value, len(payload) + 2),  # a byte of the timestamp
        _flip(value, len(value) - 3),  # a byte of the signature
        value[:-1],  # truncated
        value + "A",  # extended
        f"{payload}.{stamp}",  # no signature
        value.upper(),
    ]
    for bad in forged:
        with caplog.at_level(logging.INFO, "celeris.sessions"):
            caplog.clear()
            assert signer.loads(bad, 60) is None, bad
            assert "session cookie refused" in caplog.text
        assert bad not in signer.verified
    assert signer.loads(value, 60) is not None  # the genuine one still passes


def test_another_key_does_not_share_the_cache() -> None:
    ours = SignedCookie(SECRET)
    value = ours.dumps({"user": "ada"})
    assert ours.loads(value, 60) is not None
    assert SignedCookie("another-secret-of-some-length").loads(value, 60) is None


def test_expiry_is_checked_on_every_hit(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    signer = SignedCookie(SECRET)
    value = signer.dumps({"user": "ada"})
    assert signer.loads(value, 60) is not None
    assert value in signer.verified
    monkeypatch.setattr(itsdangerous.timed, "time", _Later(61))
    with caplog.at_level(logging.INFO, "celeris.sessions"):
        assert signer.loads(value, 60) is None
    assert "session cookie expired" in caplog.text
    assert signer.loads(value, 120) is not None  # a longer max_age still accepts it
    monkeypatch.setattr(itsdangerous.timed, "time", _Later(-5))  # signed "in the future"
    assert signer.loads(value, 60) is None


def test_an_expired_value_seen_for_the_first_time_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    value = SignedCookie(SECRET).dumps({"user": "ada"})
    fresh = SignedCookie(SECRET)  # has not seen it
    monkeypatch.setattr(itsdangerous.timed, "time", _Later(61))
    assert fresh.loads(value, 60) is None
    assert fresh.loads(value, 60) is None  # and again, now from the cache


def test_each_hit_gets_its_own_copy_of_the_data() -> None:
    signer = SignedCookie(SECRET)
    value = signer.dumps({"cart": [1, 2]})
    first = signer.loads(value, 60)
    assert first is not None
    first[0]["cart"].append(3)
    first[0]["new"] = True
    second = signer.loads(value, 60)
    assert second is not None
    assert second[0] == {"cart": [1, 2]}


def test_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cookie_module, "VERIFIED_CACHE_SIZE", 8)
    signer = SignedCookie(SECRET)
    values = [signer.dumps({"n": n}) for n in range(20)]
    assert len(signer.verified) == 8
    assert list(signer.verified) == values[-8:]  # the oldest went first
    assert signer.loads(values[12], 60) is not None  # a hit moves to the end ...
    signer.dumps({"n": 99})
    assert values[12] in signer.verified  # ... so it outlives older entries
    assert values[13] not in signer.verified
    assert signer.loads(values[0], 60) == ({"n": 0}, pytest.approx(time.time(), abs=5))


def test_an_oversized_value_is_refused_even_after_it_was_signed() -> None:
    signer = SignedCookie(SECRET)
    value = signer.dumps({"blob": "".join(chr(0x4E00 + i) for i in range(3000))})
    assert len(value) > cookie_module.MAX_COOKIE_SIZE
    assert signer.loads(value, 60) is None


def test_a_value_that_inflates_big_is_checked_every_time_not_kept() -> None:
    signer = SignedCookie(SECRET)
    value = signer.dumps({"blob": "x" * 20_000})  # compresses to a small cookie
    assert len(value) < cookie_module.MAX_COOKIE_SIZE
    assert value not in signer.verified
    loaded = signer.loads(value, 60)
    assert loaded is not None
    assert loaded[0] == {"blob": "x" * 20_000}
    assert value not in signer.verified
