"""Tests for celeris.db.crud: get_or_404 and the generated CRUD resource over HTTP."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from celeris.core.app import App
from celeris.core.errors import NotFound
from celeris.core.params import Depends
from celeris.db import AsyncSession, CRUDRouter, Database, get_or_404, schemas_for, to_read
from celeris.testing import AsyncTestClient

from .db_models import Author, Book, Tag


def make_app(database_url: str, tmp_path: Path) -> tuple[App, Database]:
    app = App()
    db = Database(database_url, app=app, root_path=tmp_path, create_all=True)
    app.include_router(CRUDRouter(Author, db))
    app.include_router(CRUDRouter(Book, db, prefix="/books", max_limit=50))
    read = schemas_for(Author).read

    @app.get("/authors/{author_id}/name")
    async def author_name(author_id: int, session: AsyncSession = Depends(db.session)) -> str:
        return (await get_or_404(session, Author, author_id)).name

    @app.post("/authors/raw", status_code=201, response_model=read)
    async def raw_create(name: str, session: AsyncSession = Depends(db.session)) -> object:
        author = Author(name=name)
        session.add(author)
        await session.commit()
        return to_read(author)

    return app, db


@pytest.fixture
async def client(database_url: str, tmp_path: Path) -> AsyncIterator[AsyncTestClient]:
    app, _ = make_app(database_url, tmp_path)
    async with AsyncTestClient(app) as client:
        yield client


async def test_create_get_update_delete(client: AsyncTestClient) -> None:
    created = await client.post("/author", json={"name": "Ursula"})
    assert created.status_code == 201, created.text
    author = created.json()
    assert author["name"] == "Ursula"
    assert isinstance(author["id"], int)

    book = await client.post("/books", json={"title": "Earthsea", "author_id": author["id"]})
    assert book.status_code == 201, book.text
    assert book.json()["pages"] == 100  # the column default
    book_id = book.json()["id"]

    got = await client.get(f"/books/{book_id}")
    assert got.json() == book.json()

    patched = await client.patch(f"/books/{book_id}", json={"rating": 4.5})
    assert patched.status_code == 200, patched.text
    assert patched.json()["rating"] == 4.5
    assert patched.json()["title"] == "Earthsea"  # untouched

    assert (await client.delete(f"/books/{book_id}")).status_code == 204
    gone = await client.get(f"/books/{book_id}")
    assert gone.status_code == 404
    assert gone.headers["content-type"].startswith("application/problem+json")
    assert (await client.delete(f"/books/{book_id}")).status_code == 404
    assert (await client.patch(f"/books/{book_id}", json={})).status_code == 404


async def test_unique_violation_is_409(client: AsyncTestClient) -> None:
    assert (await client.post("/author", json={"name": "Dup"})).status_code == 201
    again = await client.post("/author", json={"name": "Dup"})
    assert again.status_code == 409
    assert again.json()["status"] == 409
    assert "unique" in again.json()["detail"]
    raw = await client.post("/authors/raw", params={"name": "Dup"})
    assert raw.status_code == 409
    other = await client.post("/author", json={"name": "Other"})
    clash = await client.patch(f"/author/{other.json()['id']}", json={"name": "Dup"})
    assert clash.status_code == 409


async def test_foreign_key_violation_is_409(client: AsyncTestClient) -> None:
    response = await client.post("/books", json={"title": "Orphan", "author_id": 99999})
    assert response.status_code == 409
    author = (await client.post("/author", json={"name": "Parent"})).json()
    child = await client.post("/books", json={"title": "Child", "author_id": author["id"]})
    # the ORM relationship (no delete cascade) detaches children instead of failing
    assert (await client.delete(f"/author/{author['id']}")).status_code == 204
    assert (await client.get(f"/books/{child.json()['id']}")).json()["author_id"] is None


async def test_bad_input_is_4xx(client: AsyncTestClient) -> None:
    assert (await client.post("/books", json={"pages": 3})).status_code == 422
    assert (await client.post("/books", json={"title": "x", "bogus": 1})).status_code == 422
    assert (await client.post("/books", json={"title": "x" * 81})).status_code == 422
    assert (await client.post("/books", content=b"{not json")).status_code == 400
    assert (await client.get("/books/not-a-number")).status_code == 422
    assert (await client.get("/books", params={"limit": 0})).status_code == 422
    assert (await client.get("/books", params={"limit": 51})).status_code == 422
    assert (await client.get("/books", params={"offset": -1})).status_code == 422
    # Beyond SQL's BIGINT the driver would fail (a 500); found by schemathesis on the showcase.
    huge = await client.get("/books", params={"offset": 2**63})
    assert huge.status_code == 422
    assert huge.json()["errors"][0]["loc"] == ["query", "offset"]
    bad_order = await client.get("/books", params={"order_by": "nope"})
    assert bad_order.status_code == 422
    assert bad_order.json()["errors"][0]["loc"] == ["query", "order_by"]
    assert (await client.get("/books", params={"cursor": "garbage!"})).status_code == 400
    assert (await client.get("/books", params={"pages": "many"})).status_code == 422


async def test_list_filters_ordering_and_pages(client: AsyncTestClient) -> None:
    author = (await client.post("/author", json={"name": "Prolific"})).json()
    for i in range(12):
        body = {"title": f"t{i:02}", "pages": i % 3, "author_id": author["id"] if i % 2 else None}
        assert (await client.post("/books", json=body)).status_code == 201

    first = (await client.get("/books", params={"limit": 5})).json()
    assert first["total"] == 12
    assert first["offset"] == 0
    assert [b["title"] for b in first["items"]] == [f"t{i:02}" for i in range(5)]
    assert first["next_cursor"]

    filtered = (await client.get("/books", params={"author_id": author["id"], "pages": 1})).json()
    assert {b["title"] for b in filtered["items"]} == {"t01", "t07"}

    ordered = (await client.get("/books", params={"order_by": "-pages,title", "limit": 4})).json()
    assert [(b["pages"], b["title"]) for b in ordered["items"]] == [
        (2, "t02"),
        (2, "t05"),
        (2, "t08"),
        (2, "t11"),
    ]

    titles: list[str] = []
    cursor = ""
    while cursor is not None:
        page = (
            await client.get("/books", params={"cursor": cursor, "limit": 5, "order_by": "-title"})
        ).json()
        assert page["total"] is None
        titles += [b["title"] for b in page["items"]]
        cursor = page["next_cursor"]
    assert titles == sorted((f"t{i:02}" for i in range(12)), reverse=True)


async def test_get_or_404_in_user_handler(client: AsyncTestClient) -> None:
    author = (await client.post("/author", json={"name": "Named"})).json()
    assert (await client.get(f"/authors/{author['id']}/name")).text == "Named"
    missing = await client.get("/authors/424242/name")
    assert missing.status_code == 404
    assert "424242" in missing.json()["detail"]


async def test_get_or_404_raises_not_found(database: Database) -> None:
    async with database.scope() as session:
        with pytest.raises(NotFound):
            await get_or_404(session, Author, 1)


async def test_openapi_describes_the_resource(tmp_path: Path) -> None:
    app, _ = make_app(f"sqlite+aiosqlite:///{tmp_path / 'o.db'}", tmp_path)
    async with AsyncTestClient(app) as client:
        response = await client.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert set(paths["/books"]) >= {"get", "post"}
    assert set(paths["/books/{id}"]) >= {"get", "patch", "delete"}
    names = {p["name"] for p in paths["/books"]["get"]["parameters"]}
    assert names >= {"limit", "offset", "cursor", "order_by", "title", "author_id"}
    assert "409" in paths["/books"]["post"]["responses"]
    schemas = response.json()["components"]["schemas"]
    assert {"BookCreate", "BookUpdate", "BookRead", "BookPage"} <= set(schemas)


def test_router_configuration_errors(tmp_path: Path) -> None:
    db = Database("sqlite://", root_path=tmp_path)
    with pytest.raises(ValueError, match="not a readable column"):
        CRUDRouter(Book, db, filters=["nope"])
    with pytest.raises(ValueError, match="unknown CRUD method"):
        CRUDRouter(Book, db, methods=["list", "explode"])
    with pytest.raises(ValueError, match="default_limit"):
        CRUDRouter(Book, db, default_limit=500)
    read_only = CRUDRouter(Book, db, methods=["list", "get"], prefix="/ro")
    assert {tuple(sorted(r.methods)) for r in read_only._routes} == {("GET",)}


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(title=st.text(min_size=1, max_size=80).filter(lambda s: "\x00" not in s))
async def test_any_title_roundtrips(tmp_path: Path, title: str) -> None:
    app, _ = make_app(f"sqlite+aiosqlite:///{tmp_path / 'h.db'}", tmp_path)
    async with AsyncTestClient(app) as client:
        created = await client.post("/books", json={"title": title})
        assert created.status_code == 201
        assert (await client.get(f"/books/{created.json()['id']}")).json()["title"] == title


async def test_uuid_keys_and_server_defaults(database_url: str, tmp_path: Path) -> None:
    app = App()
    db = Database(database_url, app=app, root_path=tmp_path, create_all=True)
    app.include_router(CRUDRouter(Tag, db))
    async with AsyncTestClient(app) as client:
        created = await client.post("/tag", json={"label": "python"})
        assert created.status_code == 201, created.text
        tag = created.json()
        assert uuid.UUID(tag["id"])
        assert tag["created"]  # filled by the database and reloaded
        assert (await client.get(f"/tag/{tag['id']}")).json() == tag
        assert (await client.get("/tag/not-a-uuid")).status_code == 422
        assert (await client.get(f"/tag/{uuid.uuid4()}")).status_code == 404
        listed = (await client.get("/tag", params={"label": "python"})).json()
        assert [t["id"] for t in listed["items"]] == [tag["id"]]


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    pages=st.lists(st.integers(min_value=0, max_value=3), min_size=0, max_size=12),
    wanted=st.integers(min_value=0, max_value=3),
    descending=st.booleans(),
    limit=st.integers(min_value=1, max_value=5),
)
async def test_listing_matches_a_python_model(
    tmp_path: Path, pages: list[int], wanted: int, descending: bool, limit: int
) -> None:
    db_file = tmp_path / f"{uuid.uuid4().hex}.db"
    app, _ = make_app(f"sqlite+aiosqlite:///{db_file}", tmp_path)
    async with AsyncTestClient(app) as client:
        ids = []
        for i, count in enumerate(pages):
            created = await client.post("/books", json={"title": f"b{i}", "pages": count})
            ids.append((count, created.json()["id"]))
        expected = sorted(
            (row for row in ids if row[0] == wanted), key=lambda r: r[1], reverse=descending
        )
        order = "-id" if descending else "id"
        seen, offset = [], 0
        while True:
            page = (
                await client.get(
                    "/books",
                    params={"pages": wanted, "order_by": order, "limit": limit, "offset": offset},
                )
            ).json()
            assert page["total"] == len(expected)
            seen += [(b["pages"], b["id"]) for b in page["items"]]
            offset += limit
            if offset >= page["total"]:
                break
        assert seen == expected


@pytest.mark.parametrize("ident", [9223372036854775808, 2**31, -(2**63) - 1])
async def test_get_or_404_key_out_of_the_column_range_is_not_found(
    database: Database, ident: int
) -> None:
    async with database.scope() as session:
        session.add(Author(name="Kept"))
    async with database.scope() as session:
        with pytest.raises(NotFound):
            await get_or_404(session, Author, ident)
        # the session is still usable after the refused key
        assert (await get_or_404(session, Author, 1)).name == "Kept"


async def test_out_of_range_keys_answer_404_over_http(client: AsyncTestClient) -> None:
    for path in ("/author/9223372036854775808", "/author/2147483648", "/authors/2147483648/name"):
        response = await client.get(path)
        assert response.status_code == 404, (path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    too_big = 9223372036854775808
    assert (await client.patch(f"/author/{too_big}", json={"name": "x"})).status_code == 404
    assert (await client.delete(f"/author/{too_big}")).status_code == 404
