"""Passwords: argon2id in a thread, upgraded on login, validated, bounded, and no enumeration."""

from __future__ import annotations

import statistics
import time

import pytest

from celeris.auth import (
    MAX_PASSWORD_BYTES,
    PasswordHasher,
    PasswordInvalid,
    PasswordTooLong,
    validate_password,
)
from celeris.testing import AsyncTestClient, TestClient

from .conftest import FAST, PASSWORD, MakeApp, signup


async def test_hash_is_argon2id_and_verifies() -> None:
    hasher = PasswordHasher(**FAST)
    hashed = await hasher.hash(PASSWORD)
    assert hashed.startswith("$argon2id$")
    assert await hasher.verify(PASSWORD, hashed) == (True, None)
    assert (await hasher.verify("wrong", hashed))[0] is False
    assert (await hasher.verify(PASSWORD, "not-a-hash"))[0] is False  # never raises
    assert (await hasher.verify(PASSWORD, None))[0] is False  # unknown user


async def test_changed_parameters_upgrade_the_hash() -> None:
    old = await PasswordHasher(**FAST).hash(PASSWORD)
    stronger = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    valid, upgraded = await stronger.verify(PASSWORD, old)
    assert valid
    assert upgraded is not None
    assert "m=2048,t=2" in upgraded


async def test_login_writes_the_upgraded_hash_back(make_app: MakeApp) -> None:
    app, auth, _ = make_app()
    async with AsyncTestClient(app) as client:
        user = await auth.create_user("ada@example.org", PASSWORD)
        auth.hasher = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
        assert (
            await client.post(
                "/auth/login", json={"email": "ada@example.org", "password": PASSWORD}
            )
        ).status_code == 200
        stored = (await auth.get_user(user.id)).password
        assert "m=2048,t=2" in stored
        assert stored != user.password
        # and the new hash verifies
        assert (await client.post("/auth/logout")).status_code == 204
        assert (
            await client.post(
                "/auth/login", json={"email": "ada@example.org", "password": PASSWORD}
            )
        ).status_code == 200


def test_validators_report_every_broken_rule() -> None:
    with pytest.raises(PasswordInvalid) as caught:
        validate_password("password", "ada@example.org")
    assert any("too short" in m for m in caught.value.messages)
    assert any("too common" in m for m in caught.value.messages)
    with pytest.raises(PasswordInvalid, match="too common"):
        validate_password("Qwertyuiop", None)
    with pytest.raises(PasswordInvalid, match="similar to the email"):
        validate_password("adalovelace1", "ada.lovelace@example.org")
    with pytest.raises(PasswordInvalid, match="similar to the email"):
        validate_password("ada.lovelace@example.org", "ada.lovelace@example.org")
    validate_password(PASSWORD, "ada@example.org")  # passes


async def test_a_megabyte_password_is_refused_before_hashing() -> None:
    hasher = PasswordHasher()  # real parameters: hashing 1 MB would take long
    huge = "a" * 1_000_000
    started = time.perf_counter()
    with pytest.raises(PasswordTooLong):
        await hasher.hash(huge)
    with pytest.raises(PasswordTooLong):
        await hasher.verify(huge, None)
    with pytest.raises(PasswordTooLong):  # multi-byte characters count in bytes
        await hasher.hash("\u00e9" * (MAX_PASSWORD_BYTES // 2 + 1))
    assert time.perf_counter() - started < 0.05


def test_a_megabyte_password_gets_422_from_the_routes(make_app: MakeApp) -> None:
    app, _, _ = make_app()
    huge = "a" * 1_000_000
    with TestClient(app) as client:
        signup(client)
        for path, body in [
            ("/auth/login", {"email": "ada@example.org", "password": huge}),
            ("/auth/signup", {"email": "bob@example.org", "password": huge}),
        ]:
            started = time.perf_counter()
            r = client.post(path, json=body)
            assert r.status_code == 422, (path, r.text)
            assert r.headers["content-type"] == "application/problem+json"
            assert time.perf_counter() - started < 1.0
        r = client.post("/auth/login", json={"email": "ada@example.org", "password": "a" * 5000})
        assert r.status_code == 422
        assert "at most 4096 bytes" in r.json()["detail"]


def test_unknown_and_known_emails_answer_alike_and_in_the_same_time(make_app: MakeApp) -> None:
    # Real argon2 parameters: the point is that an unknown address costs one hash too.
    app, auth, _ = make_app(
        hasher=PasswordHasher(), login_rate="1000/minute", address_rate="1000/minute"
    )
    with TestClient(app) as client:
        signup(client)
        client.post("/auth/logout")
        known, unknown = [], []
        for _ in range(8):
            for email, bucket in (("ada@example.org", known), ("nobody@example.org", unknown)):
                started = time.perf_counter()
                r = client.post("/auth/login", json={"email": email, "password": "wrong password!"})
                bucket.append(time.perf_counter() - started)
                assert r.status_code == 400
                assert r.json()["detail"] == "The email address or the password is wrong."
        k, u = statistics.median(known), statistics.median(unknown)
        print(f"login median: known email {k * 1000:.1f} ms, unknown email {u * 1000:.1f} ms")
        assert 0.5 * k < u < 1.5 * k, (k, u)


async def test_the_stand_in_hash_is_made_before_the_first_unknown_login() -> None:
    # Made lazily, the first login for an unknown email cost two argon2 runs (a timing hint).
    hasher = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    await hasher.warm()
    made = hasher._dummy
    assert made is not None
    assert await hasher.verify("whatever-password", None) == (False, None)
    assert hasher._dummy == made
