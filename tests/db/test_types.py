"""Tests for celeris.db.types: datetimes come back aware (UTC) on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from celeris.db import Database, DateTime

from .db_models import Tag

UTC = dt.UTC
PARIS = dt.timezone(dt.timedelta(hours=1))


def test_mapped_datetime_columns_use_celeris_datetime() -> None:
    assert isinstance(Tag.__table__.c.created.type, DateTime)


async def test_datetimes_read_back_aware_in_utc(database: Database) -> None:
    aware = dt.datetime(2026, 12, 1, 13, 30, 15, 123456, tzinfo=PARIS)
    naive = dt.datetime(2026, 12, 1, 12, 0)  # taken as UTC
    async with database.scope() as session:
        session.add_all([Tag(label="aware", created=aware), Tag(label="naive", created=naive)])
    async with database.scope() as session:
        result = await session.execute(sa.select(Tag.label, Tag.created))
        rows = dict(result.all())
    assert rows["aware"] == aware
    assert rows["aware"].tzinfo == UTC
    assert rows["aware"].hour == 12  # 13:30 in Paris is 12:30 UTC
    assert rows["naive"] == naive.replace(tzinfo=UTC)
    assert rows["naive"].tzinfo == UTC


async def test_server_defaults_are_aware_and_comparisons_work(database: Database) -> None:
    before = dt.datetime.now(UTC) - dt.timedelta(minutes=5)
    async with database.scope() as session:
        session.add(Tag(label="now"))
    async with database.scope() as session:
        created = await session.scalar(sa.select(Tag.created).where(Tag.label == "now"))
        later = await session.scalar(sa.select(sa.func.count()).where(Tag.created > before))
    assert created is not None
    assert created.tzinfo == UTC
    assert abs(created - dt.datetime.now(UTC)) < dt.timedelta(minutes=5)
    assert later == 1
