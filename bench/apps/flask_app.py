"""Flask on gunicorn (threaded worker), with psycopg as its idiomatic synchronous driver."""

from __future__ import annotations

import threading

import msgspec
import psycopg
from flask import Flask, Response, jsonify, render_template, request

from bench.apps.models import USER_DECODER
from bench.apps.sql import (
    ADDITIONAL_FORTUNE,
    DATABASE_URL,
    HELLO,
    SELECT_FORTUNES,
    SELECT_WORLD_PG,
    TEMPLATES,
    UPDATE_WORLD_PG,
    distinct_ids,
    query_count,
    random_id,
)

app = Flask(__name__, template_folder=str(TEMPLATES))
_local = threading.local()


def connection() -> psycopg.Connection:
    """Return this thread's connection (one per gunicorn thread)."""
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = _local.conn = psycopg.connect(DATABASE_URL, autocommit=True)
    return conn


@app.get("/plaintext")
def plaintext() -> Response:
    return Response(HELLO, mimetype="text/plain")


@app.get("/json")
def json_test() -> Response:
    return jsonify(message=HELLO)


@app.get("/items/<int:item_id>")
def item(item_id: int) -> Response | tuple[Response, int]:
    try:
        limit = int(request.args.get("limit", "10"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 100:
        return jsonify(detail="limit must be an integer in 1..100"), 422
    return jsonify(item_id=item_id, q=request.args.get("q"), limit=limit)


@app.post("/users")
def create_user() -> Response | tuple[Response, int]:
    try:
        user = USER_DECODER.decode(request.get_data())
    except msgspec.DecodeError as exc:
        return jsonify(detail=str(exc)), 422
    return Response(msgspec.json.encode(user), mimetype="application/json")


@app.get("/db")
def db() -> Response:
    row = connection().execute(SELECT_WORLD_PG, (random_id(),)).fetchone()
    assert row is not None
    return jsonify(id=row[0], randomNumber=row[1])


@app.get("/queries")
def queries() -> Response:
    cur = connection().cursor()
    worlds = []
    for _ in range(query_count(request.args.get("queries"))):
        row = cur.execute(SELECT_WORLD_PG, (random_id(),), prepare=True).fetchone()
        assert row is not None
        worlds.append({"id": row[0], "randomNumber": row[1]})
    return jsonify(worlds)


@app.get("/fortunes")
def fortunes() -> str:
    rows = [tuple(r) for r in connection().execute(SELECT_FORTUNES).fetchall()]
    rows.append((0, ADDITIONAL_FORTUNE))
    rows.sort(key=lambda r: r[1])
    return render_template("fortunes.html", fortunes=[{"id": i, "message": m} for i, m in rows])


@app.get("/updates")
def updates() -> Response:
    cur = connection().cursor()
    worlds = []
    for world_id in distinct_ids(query_count(request.args.get("queries"))):
        cur.execute(SELECT_WORLD_PG, (world_id,), prepare=True).fetchone()
        worlds.append({"id": world_id, "randomNumber": random_id()})
    cur.executemany(UPDATE_WORLD_PG, [(w["randomNumber"], w["id"]) for w in worlds])
    return jsonify(worlds)
