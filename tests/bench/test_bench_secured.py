"""The secured-page test: its checks, its wiring, and the apps that serve it (real servers).

The validators are fed known answers. celeris's secured app runs as a real server from this
tree; the peers' apps run from the peer venv (bench/.venv-peers) when it has been built.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from bench.checks import CheckFailed
from bench.contenders import BY_NAME, CONTENDERS, REFERENCE
from bench.server import Server
from bench.workloads import BY_NAME as WORKLOADS
from bench.workloads import SECURED_USER
from bench.workloads import WORKLOADS as ALL

from bench import checks, environment, run, wrk

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "t0k3n-" + "x" * 40
HEADERS = {
    "content-type": "text/html; charset=utf-8",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
    "content-security-policy": "default-src 'self'",
}


def _page(user: str = SECURED_USER, field: str = "") -> bytes:
    field = field or f'<input type="hidden" name="csrfmiddlewaretoken" value="{TOKEN}">'
    return (
        f'<html><body><p id="user">{user}</p><form method="post" action="/secured">{field}'
        '<input type="text" name="note"><button>Save</button></form></body></html>'
    ).encode()


def test_the_secured_page_validator_accepts_a_right_answer() -> None:
    assert checks.validate_secured((200, HEADERS, _page()), SECURED_USER) == (
        "csrfmiddlewaretoken",
        TOKEN,
    )
    litestar = f"<input type='hidden' name='_csrf_token' value='{TOKEN}' />"
    assert checks.validate_secured((200, HEADERS, _page(field=litestar)), SECURED_USER)[0] == (
        "_csrf_token"
    )


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ((500, HEADERS, _page()), "status 500"),
        ((200, {**HEADERS, "content-type": "text/plain"}, _page()), "content-type"),
        ((200, HEADERS, _page(user="anonymous")), "shows user 'anonymous'"),
        ((200, HEADERS, _page().replace(b'id="user"', b'id="who"')), "no <p id"),
        ((200, HEADERS, _page(field="<span></span>")), "one hidden CSRF token field"),
        ((200, HEADERS, _page(field='<input type="hidden" name="t" value="">')), "one hidden"),
        ((200, HEADERS, _page().replace(b"<form", b"<div")), "no form"),
        ((200, {**HEADERS, "x-frame-options": "SAMEORIGIN"}, _page()), "x-frame-options"),
        ((200, {k: v for k, v in HEADERS.items() if k != "referrer-policy"}, _page()), "Referrer"),
        (
            (200, {**HEADERS, "content-security-policy": "frame-ancestors 'self'"}, _page()),
            "default-src",
        ),
        ((200, {**HEADERS, "x-content-type-options": ""}, _page()), "x-content-type-options"),
        ((200, {**HEADERS, "cross-origin-opener-policy": "unsafe-none"}, _page()), "cross-origin"),
    ],
)
def test_the_secured_page_validator_rejects_wrong_answers(reply: checks.Reply, why: str) -> None:
    with pytest.raises(CheckFailed, match="secured") as exc:
        checks.validate_secured(reply, SECURED_USER)
    assert why.lower() in str(exc.value).lower()


def test_hidden_inputs_reads_names_and_unescaped_values() -> None:
    page = (
        '<input type="text" name="note" value="x">'
        '<INPUT TYPE="hidden" name="a" value="1&amp;2"/>'
        "<input name='b' type='hidden' value='3'>"
    )
    assert checks.hidden_inputs(page) == {"a": "1&2", "b": "3"}


def test_the_workload_is_registered_with_its_own_app_and_login() -> None:
    secured = WORKLOADS["secured"]
    assert (secured.kind, secured.path, secured.app, secured.login) == (
        "wrk",
        "/secured",
        "secured",
        "/login",
    )
    assert "secured" in checks.CHECKS
    # NOTE: the other tests keep running on each contender's main app.
    assert {w.name for w in ALL if w.app} == {"secured"}


def test_the_issue_contenders_serve_the_secured_page() -> None:
    serving = {c.name for c in CONTENDERS if c.module_for("secured")}
    assert {REFERENCE, "litestar", "blacksheep-granian", "django", "django-gunicorn"} <= serving
    for contender in CONTENDERS:
        module = contender.module_for("secured")
        if module:
            assert (ROOT / (module.replace(".", "/") + ".py")).is_file(), contender.name
            assert contender.for_app("secured").module == module
    assert BY_NAME["raw-uvloop"].module_for("secured") is None
    with pytest.raises(KeyError):
        BY_NAME["raw-uvloop"].for_app("secured")


def test_the_run_groups_tests_by_app() -> None:
    bench = run.Bench(run.parse_args(["--tests", "plaintext,secured"]))
    plain, secured = WORKLOADS["plaintext"], WORKLOADS["secured"]
    assert bench.group(BY_NAME["celeris"], "", bench.tests) == [plain]
    assert bench.group(BY_NAME["celeris"], "secured", bench.tests) == [secured]
    assert bench.group(BY_NAME["raw-uvloop"], "secured", bench.tests) == []
    # The WSGI Django contender exists for the secured page only: no main server at all.
    assert bench.group(BY_NAME["django-gunicorn"], "", list(ALL)) == []
    assert bench.group(BY_NAME["django-gunicorn"], "secured", bench.tests) == [secured]


def test_wrk_sends_the_cookie_header() -> None:
    argv = wrk.command("http://x/secured", 2, 64, None, (), 1, ("Cookie: session=abc; b=c",))
    at = argv.index("-H")
    assert argv[at + 1] == "Cookie: session=abc; b=c"
    assert argv[-1] == "http://x/secured"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _check_live(server: Server, tampered: bool = False) -> None:
    server.start()
    try:
        checks.check_secured(server.port)
        jar = checks.login_cookies(server.port, "/login", "/secured")
        # What wrk sends in the timed run is a signed-in browser's cookies: the user shows.
        reply, _ = checks.exchange(
            server.port, "GET", "/secured", {"Cookie": checks.cookie_header(jar)}
        )
        checks.validate_secured(reply, SECURED_USER)
        if tampered:
            # NOTE: celeris only: Litestar 2.25 answers 500 to a garbled session cookie.
            for name in jar:
                garbled = {**jar, name: jar[name][:-4] + "AAAA"}
                reply, _ = checks.exchange(
                    server.port, "GET", "/secured", {"Cookie": checks.cookie_header(garbled)}
                )
                want = "anonymous" if name == "session" else SECURED_USER
                checks.validate_secured(reply, want)
    finally:
        server.stop()


def test_celeris_serves_the_secured_page(tmp_path: Path) -> None:
    for battery in ("celeris.sessions", "celeris.security"):
        if importlib.util.find_spec(battery) is None:
            pytest.skip(f"{battery} is not in this tree yet")
    src = os.pathsep.join((str(ROOT / "src"), str(ROOT)))
    contender = replace(BY_NAME[REFERENCE].for_app("secured"), env=(("PYTHONPATH", src),))
    server = Server(contender, str(Path(sys.executable).parent), _free_port(), 0, tmp_path / "l")
    _check_live(server, tampered=True)


PEERS = ("litestar", "litestar-serverside", "blacksheep-granian", "django", "django-gunicorn")


@pytest.mark.skipif(
    not (environment.peer_bin() / "python").exists(), reason="bench/.venv-peers is not built"
)
@pytest.mark.parametrize("name", PEERS)
def test_the_peers_serve_the_secured_page(name: str, tmp_path: Path) -> None:
    contender = BY_NAME[name].for_app("secured")
    server = Server(contender, str(environment.peer_bin()), _free_port(), 0, tmp_path / "log")
    _check_live(server)


def _bench(tmp_path: Path) -> run.Bench:
    args = ["--quick", "--tests", "secured", "--contenders", REFERENCE]
    bench = run.Bench(run.parse_args([*args, "--port", str(_free_port())]))
    bench.bin = str(Path(sys.executable).parent)
    bench.logs = tmp_path
    return bench


def test_the_run_signs_in_once_and_wrk_sends_those_cookies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for battery in ("celeris.sessions", "celeris.security"):
        if importlib.util.find_spec(battery) is None:
            pytest.skip(f"{battery} is not in this tree yet")
    bench = _bench(tmp_path)
    sent: list[tuple[str, tuple[str, ...]]] = []

    def fake_wrk(
        url: str,
        duration: float,
        conns: int,
        script: str | None,
        args: tuple[str, ...],
        cpu: int,
        headers: tuple[str, ...] = (),
    ) -> wrk.WrkResult:
        sent.append((url, headers))
        name, value = headers[0].split(": ", 1)
        port = int(url.split(":")[2].split("/")[0])
        reply, _ = checks.exchange(port, "GET", "/secured", {name: value})
        checks.validate_secured(reply, SECURED_USER)  # what wrk gets is the signed-in page
        return wrk.WrkResult(1234.0, 1.0, 2.0, 100, ())

    monkeypatch.setattr(run.wrk, "run", fake_wrk)
    src = os.pathsep.join((str(ROOT / "src"), str(ROOT)))
    contender = replace(BY_NAME[REFERENCE], env=(("PYTHONPATH", src),))
    bench.run_app(contender, "secured", first=True)
    assert bench.failed_checks[REFERENCE] == {}
    assert bench.samples["secured"][REFERENCE] == [{"value": 1234.0, "p99_ms": 2.0, "errors": []}]
    assert [url.rsplit("/", 1)[1] for url, _ in sent] == ["secured", "secured"]  # warm-up, run
    assert sent[0][1] == sent[1][1]
    assert sent[0][1][0].startswith("Cookie: ")


def test_a_secured_app_that_does_not_start_fails_only_its_test(tmp_path: Path) -> None:
    bench = _bench(tmp_path)
    broken = replace(
        BY_NAME[REFERENCE],
        argv=("{bin}/python", "-m", "{module}"),
        apps=(("secured", "bench.apps.no_such_app"),),
    )
    bench.run_app(broken, "secured", first=True)
    assert REFERENCE not in bench.problems  # the contender's other tests still run
    assert "did not start" in bench.failed_checks[REFERENCE]["secured"]
    assert bench.samples["secured"][REFERENCE][0]["errors"]
