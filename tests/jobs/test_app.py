"""Jobs inside an app: the embedded default, db sessions per job, transactional enqueue."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from celeris import App, Depends, HTTPError
from celeris.db import Database
from celeris.jobs import JobFailed, Jobs, JobsConfigError, State
from celeris.testing import AsyncTestClient

metadata = MetaData()
notes = Table(
    "jobs_test_note",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("title", String(50), unique=True),
)


@pytest.fixture(params=["same-database", "memory"])
def where(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def build(
    tmp_path: Path, where: str, database: Database | None = None
) -> tuple[App, Database, Jobs]:
    app = App()
    db = database or Database(
        f"sqlite:///{tmp_path / 'app.db'}", metadata=metadata, create_all=True, root_path=tmp_path
    )
    db.install(app)
    url = "memory://" if where == "memory" else None
    jobs = Jobs(url, app=app, poll=0.02, embedded_worker=True)
    return app, db, jobs


async def count(db: Database) -> int:
    async with db.scope() as session:
        return int(await session.scalar(select(func.count()).select_from(notes)) or 0)


async def test_embedded_default_is_the_apps_database(tmp_path: Path) -> None:
    app, db, jobs = build(tmp_path, "same-database")

    @jobs.job()
    async def double(n: int) -> int:
        return 2 * n

    @app.post("/double/{n}")
    async def start(n: int) -> dict[str, str]:
        handle = await double.enqueue(n)
        return {"id": handle.id}

    async with AsyncTestClient(app) as client:
        response = await client.post("/double/21")
        handle = jobs.handle(response.json()["id"])
        assert await handle.result(timeout=10) == 42
        assert jobs.backend.url.endswith("app.db")


async def test_a_db_session_per_job_commits_or_rolls_back(tmp_path: Path) -> None:
    app, db, jobs = build(tmp_path, "same-database")

    @jobs.job(retries=0)
    async def add_note(
        title: str, fail: bool = False, session: AsyncSession = Depends(db.session)
    ) -> None:
        await session.execute(notes.insert().values(title=title))
        if fail:
            raise RuntimeError("after the insert")

    async with AsyncTestClient(app):
        await (await add_note.enqueue("kept")).result(timeout=10)
        with pytest.raises(JobFailed):
            await (await add_note.enqueue("dropped", fail=True)).result(timeout=10)
        async with db.scope() as session:
            titles = list(await session.scalars(select(notes.c.title)))
        assert titles == ["kept"]


async def test_transactional_enqueue(tmp_path: Path, where: str) -> None:
    app, db, jobs = build(tmp_path, where)
    sent: list[str] = []

    @jobs.job()
    async def welcome(title: str) -> None:
        sent.append(title)

    @app.post("/notes/{title}")
    async def create(
        title: str, fail: bool = False, session: AsyncSession = Depends(db.session)
    ) -> dict[str, str]:
        await session.execute(notes.insert().values(title=title))
        handle = await welcome.enqueue(title, session=session)
        if fail:
            raise HTTPError(400, "rolled back")
        return {"id": handle.id}

    async with AsyncTestClient(app) as client:
        ok = await client.post("/notes/a")
        assert ok.status_code == 200
        await jobs.handle(ok.json()["id"]).result(timeout=10)
        bad = await client.post("/notes/b", params={"fail": "true"})
        assert bad.status_code == 400
        # a unique violation on commit: the job must not exist either
        dup = await client.post("/notes/a")
        assert dup.status_code == 409
        assert sent == ["a"]
        assert await count(db) == 1
        assert (await jobs.counts())[State.DONE] == 1
        assert sum((await jobs.counts()).values()) == 1


def test_url_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBS_URL", "memory://env")
    app = App()
    assert Jobs(app=app).url == "memory://env"

    class Settings:
        JOBS_URL = "memory://settings"

    app.settings = Settings()  # type: ignore[attr-defined]
    assert Jobs(app=app).url == "memory://settings"
    assert Jobs("memory://arg", app=app).url == "memory://arg"
    monkeypatch.delenv("JOBS_URL")
    assert Jobs(root_path=tmp_path).backend.url.endswith("jobs.db")


def test_the_records_database_is_the_apps_else_an_own_jobs_db(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'app.db'}", root_path=tmp_path)
    app = App()
    database.install(app)
    jobs = Jobs(app=app, root_path=tmp_path)
    assert jobs._records_database(None) is database
    assert jobs._owned_database is None  # the app's: not closed by Jobs
    own = Jobs(root_path=tmp_path)
    records = own._records_database(None)
    assert records is own._owned_database
    assert str(records.url).endswith("jobs.db")


def test_a_missing_db_extra_is_e001_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JOBS_URL", raising=False)
    monkeypatch.setitem(sys.modules, "celeris.db", None)  # NOTE: as if SQLAlchemy were missing
    fix = r"need pip install 'celeris\[jobs\]'"
    with pytest.raises(JobsConfigError, match=rf"^jobs\.E001: jobs on sqlite:// {fix}"):
        Jobs(root_path=tmp_path).backend  # noqa: B018
    with pytest.raises(JobsConfigError, match=rf"^jobs\.E001: jobs on postgresql:// {fix}"):
        Jobs("postgresql://localhost/app", root_path=tmp_path).backend  # noqa: B018


def test_unknown_scheme_and_missing_broker_name_the_fix() -> None:
    with pytest.raises(JobsConfigError, match="jobs.E001: unknown JOBS_URL scheme 'ftp'"):
        Jobs("ftp://x").backend  # noqa: B018
