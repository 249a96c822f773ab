"""bench/contenders.py and bench/workloads.py: the registry is consistent."""

from __future__ import annotations

from pathlib import Path

from bench.checks import CHECKS
from bench.contenders import BY_NAME, CONTENDERS, REFERENCE
from bench.workloads import POST_BODY, WORKLOADS, WRK

ROOT = Path(__file__).resolve().parents[2]


def test_names_are_unique_and_reference_present() -> None:
    assert len(BY_NAME) == len(CONTENDERS)
    assert REFERENCE in BY_NAME


def test_every_app_module_exists() -> None:
    for contender in CONTENDERS:
        path = ROOT / (contender.module.replace(".", "/") + ".py")
        assert path.is_file(), contender.name


def test_commands_fill_port_and_bin() -> None:
    for contender in CONTENDERS:
        argv = contender.command("/venv/bin", 12345)
        joined = " ".join(argv)
        assert "{" not in joined, contender.name
        assert "12345" in joined, contender.name
        assert argv[0].startswith("/venv/bin/"), contender.name


def test_issue_contenders_are_all_registered() -> None:
    wanted = {
        ("celeris", "celeris"), ("celeris", "uvicorn"), ("celeris", "granian"),
        ("fastapi", "uvicorn"), ("starlette", "uvicorn"), ("litestar", "uvicorn"),
        ("blacksheep", "granian"), ("blacksheep", "uvicorn"), ("sanic", "sanic"),
        ("falcon", "uvicorn"), ("django", "uvicorn"), ("django", "gunicorn"), ("flask", "gunicorn"),
        ("(none)", "uvloop+httptools"),
    }  # fmt: skip
    assert {(c.framework, c.server) for c in CONTENDERS} == wanted


def test_skips_name_real_workloads() -> None:
    names = {w.name for w in WORKLOADS}
    for contender in CONTENDERS:
        assert contender.skip <= names


def test_every_http_workload_has_a_check_and_lua_exists() -> None:
    for workload in WRK:
        assert workload.name in CHECKS
        if workload.script:
            assert (ROOT / "bench" / "lua" / workload.script).is_file()


def test_post_body_matches_lua() -> None:
    assert POST_BODY in (ROOT / "bench" / "lua" / "post.lua").read_text()


def test_orm_contenders_time_only_the_database_tests() -> None:
    for name, framework, server in (
        ("celeris-orm", "celeris", "celeris"),
        ("fastapi-orm", "fastapi", "uvicorn"),
    ):
        contender = BY_NAME[name]
        assert (contender.framework, contender.server) == (framework, server)
        runs = {w.name for w in WORKLOADS if contender.module_for(w.app)} - contender.skip
        assert runs == {"db", "fortunes", "queries", "updates"}
        assert contender.module.endswith("_orm_app")
    assert "sqlalchemy" in (ROOT / "bench" / "requirements-peers.txt").read_text()
