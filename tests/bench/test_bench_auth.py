"""bench/auth's counting part in its tiniest form: the facts issue 16 states, on both databases.

A login costs one argon2 hash and at most two round trips to PostgreSQL; a request with a
cached personal token costs no statement at all.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.auth.count import login_costs, postgres_database, request_costs


async def test_a_login_on_sqlite_is_one_hash_one_read_and_the_sign_in_record(
    tmp_path: Path,
) -> None:
    costs = await login_costs(f"sqlite:///{tmp_path}/login.db", rounds=1)
    right = costs["celeris: right password"]
    assert (right.status, right.hashes) == (200, 1)
    assert right.statements == ["SELECT", "INSERT", "UPDATE"]  # user; device, last login
    for failed in ("celeris: wrong password", "celeris: unknown email"):
        assert (costs[failed].status, costs[failed].hashes) == (400, 1)
        assert costs[failed].statements == ["SELECT"]
    assert costs["FastAPI recipe: right password"].hashes == 1


async def test_a_login_on_postgresql_is_one_hash_and_two_round_trips(postgres_url: str) -> None:
    async with postgres_database(postgres_url) as url:
        costs = await login_costs(url, rounds=2)
    right = costs["celeris: right password"]
    assert (right.status, right.hashes) == (200, 1)
    assert right.statements == ["SELECT", "WITH"]  # the device insert rides along as a CTE
    assert right.trips == 2  # counted on the wire: no BEGIN/COMMIT, no prepare once warm
    assert costs["celeris: unknown email"].hashes == 1
    assert costs["celeris: unknown email"].trips == 1
    assert costs["FastAPI recipe: right password"].trips == 3  # BEGIN, SELECT, ROLLBACK


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_a_cached_token_request_costs_no_statement(
    database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if database == "sqlite":
        costs = await request_costs(f"sqlite:///{tmp_path}/request.db", warm=2)
    else:
        async with postgres_database(request.getfixturevalue("postgres_url")) as url:
            costs = await request_costs(url, warm=2)
    warm = costs["celeris token, cached: next requests"]
    assert warm.status == 200
    assert warm.statements == []
    assert warm.trips in (None, 0)
    assert len(costs["FastAPI JWT: next requests"].statements) == 1  # the recipe's user query
