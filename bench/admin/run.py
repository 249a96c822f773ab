"""celeris's admin against Django's admin: same tables, same PostgreSQL, side by side in one run.

  .venv/bin/python bench/admin/run.py                 # 1,000,000 books, 50 staff browsers (~4 min)
  .venv/bin/python bench/admin/run.py --quick         # 2,000 books, 3 browsers, short (< 60 s)
  .venv/bin/python bench/admin/run.py --celeris-tree /work/wt/admin   # the admin from another tree

All sides are served at once, each with the same number of worker processes (``--workers``),
and loaded one at a time, in ``--rounds`` turns of a rotating order: Django's admin on gunicorn
(WSGI, gthread workers, as ``bench/contenders.py`` serves Django), in the default variant (its
paginator's ``COUNT(*)``) and in the ``show_full_result_count = False`` one (same server, the
``bookfast`` proxy admin); celeris's admin with ``celeris serve examples.admin:app``. ``bench/admin/load.py`` (its own process, the peer venv) signs in
``--sessions`` staff browsers and loops them over the dashboard, the book list's first page, a
search, a page half-way into the table and a book's change form, then reports p50/p90/p99 per
page and overall. The report goes to ``bench/results/admin/<date>.md`` (``--quick``:
``bench/.work/results/admin/``) with the JSON beside it. Exit status: 0 when every side that ran
answered without errors, 1 otherwise, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parents[1]
ROOT = BENCH.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import environment  # noqa: E402
from bench.admin import seed  # noqa: E402

PASSWORD = "bench-Staff-Password-17"
SEARCH = "Orchard"  # one title in ten holds it
SECRET_KEY = "bench-admin-only-" + "k" * 40


@dataclass
class Side:
    """One contender: how to serve it, sign in and which URLs are its pages."""

    name: str
    label: str
    pages: dict[str, str]
    login: dict[str, str]
    check: str
    server: str  # the key of the server it runs on (sides on one server share its run)
    results: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def django_pages(model: str, far_page: int) -> dict[str, str]:
    base = f"/admin/books/{model}/"
    return {
        "dashboard": "/admin/",
        "list": base,
        "search": f"{base}?q={SEARCH}",
        "far": f"{base}?p={far_page}",
        "change": f"{base}{{id}}/change/",
    }


def celeris_pages(far_cursor: str) -> dict[str, str]:
    base = "/admin/library_book/"  # the model's slug: its table's name
    return {
        "dashboard": "/admin/",
        "list": base,
        "search": f"{base}?q={SEARCH}",
        "far": f"{base}?after={far_cursor}",
        "change": f"{base}{{id}}/",
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """A server process of its own session (stopped with its whole process group)."""

    def __init__(
        self, argv: list[str], env: dict[str, str], port: int, log: Path, cwd: Path = ROOT
    ) -> None:
        self.port = port
        self.log = log
        self.handle = log.open("wb")
        self.process = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**os.environ, **env},
            stdout=self.handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, path: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.port}{path}"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited ({self.process.returncode}): {self.tail()}")
            try:
                with urllib.request.urlopen(url, timeout=5) as reply:
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f} s: {self.tail()}")

    def tail(self) -> str:
        self.handle.flush()
        return " | ".join(self.log.read_text(errors="replace").strip().splitlines()[-8:])

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self.handle.close()


def run_checked(argv: list[str], env: dict[str, str], what: str, cwd: Path = ROOT) -> str:
    done = subprocess.run(
        argv, cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, timeout=600
    )
    output = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed: {' | '.join(output.splitlines()[-10:])}")
    return output


def celeris_far_cursor(far_id: int) -> str:
    """The keyset cursor of the list page that starts at row ``far_id`` (ordered by id).

    celeris's admin pages by keyset: the cursor is base64url JSON of the ordering values of the
    last row shown (``celeris.db.pagination.encode_cursor``), here only the id, the list being
    ordered by its primary key. The page's expected first title (``expect``) proves the format.
    """
    return base64.urlsafe_b64encode(json.dumps([far_id - 1]).encode()).rstrip(b"=").decode()


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.sizes = seed.QUICK if args.quick else seed.FULL
        self.db_name = seed.QUICK_DB if args.quick else seed.FULL_DB
        self.db_url = seed.database_url(args.database, self.db_name)
        self.bin = environment.peer_bin()
        out = BENCH / ".work" / "results" / "admin" if args.quick else BENCH / "results" / "admin"
        self.out = Path(args.out) if args.out else out
        self.logs = BENCH / ".work" / "logs" / "admin"
        per_page = 50
        self.far_page = max(1, self.sizes.books // 2 // per_page)  # half-way into the table
        self.far_id = (self.far_page - 1) * per_page + 1  # its first row
        tree = self.tree = Path(args.celeris_tree).resolve()
        self.celeris_env = {
            "PYTHONPATH": os.pathsep.join([str(tree / "src"), str(tree)]),
            "DATABASE_URL": self.db_url,
            "SECRET_KEY": SECRET_KEY,
        }
        self.django_env = {
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "bench.admin.django_site.settings",
            "ADMIN_BENCH_DATABASE": self.db_url,
        }
        django_login = {
            "page": "/admin/login/?next=/admin/",
            "user_field": "username",
            "password_field": "password",
            "user": "staff{n}",  # one account per browser: staff1, staff2, ...
            "password": PASSWORD,
        }
        celeris_login = {
            "page": "/auth/login?next=/admin/",
            "user_field": "email",
            "password_field": "password",
            "user": "staff{n}@example.com",
            "password": PASSWORD,
        }
        cursor = celeris_far_cursor(self.far_id)
        every = [
            Side(
                "django",
                "Django admin (defaults: COUNT(*))",
                django_pages("book", self.far_page),
                django_login,
                "/admin/",
                "django",
            ),
            Side(
                "django-nocount",
                "Django admin, show_full_result_count = False",
                django_pages("bookfast", self.far_page),
                django_login,
                "/admin/",
                "django",
            ),
            Side(
                "celeris",
                "celeris admin",
                celeris_pages(cursor),
                celeris_login,
                "/admin/",
                "celeris",
            ),
        ]
        # NOTE: what each page must show, on both sides: the first book, the book half-way down
        # the table (the far page's first row), the searched word, the book's title on its form
        self.expect = {
            "list": seed.title(1),
            "far": seed.title(self.far_id),
            "search": SEARCH,
            "change": "{title}",
        }
        self.sides = [s for s in every if s.name in args.sides]
        self.uptime = ""

    # --- set-up ------------------------------------------------------------------------------

    def prepare(self) -> None:
        environment.ensure_peers()
        python = str(self.bin / "python")
        print(run_checked([python, "bench/admin/seed.py", *self.quick_flag()], {}, "seeding"))
        if any(s.server == "django" for s in self.sides):
            count = str(self.args.sessions)
            argv = [python, "-m", "bench.admin.django_site.setup", count, PASSWORD]
            run_checked(argv, self.django_env, "Django's migrate and staff user")

    def quick_flag(self) -> list[str]:
        base = ["--database", self.args.database]
        return [*base, "--quick"] if self.args.quick else base

    def celeris_user(self) -> None:
        script = str(BENCH / "admin" / "celeris_staff.py")
        argv = [str(self.bin / "python"), script, self.args.celeris_app, str(self.args.sessions)]
        env = {**self.celeris_env, "BENCH_PASSWORD": PASSWORD}
        run_checked(argv, env, "celeris's staff users", cwd=self.tree)

    # --- servers ------------------------------------------------------------------------------

    def start(self, server: str, port: int) -> Server:
        self.logs.mkdir(parents=True, exist_ok=True)
        workers = str(self.args.workers)
        if server == "django":
            argv = [
                str(self.bin / "gunicorn"),
                "bench.admin.django_site.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                workers,
                "--worker-class",
                "gthread",
                "--threads",
                "8",
                "--keep-alive",
                "60",
                "--log-level",
                "warning",
            ]
            running = Server(argv, self.django_env, port, self.logs / "django.log")
            running.wait_ready("/admin/login/")
            return running
        self.celeris_user()
        argv = [str(self.bin / "celeris"), "serve", self.args.celeris_app, "--port", str(port)]
        argv += ["--no-access-log", "--log-level", "warning"]
        # NOTE: one worker first, so that the tables made at start-up (the admin's audit log)
        # are made once: workers starting together on an empty database race on CREATE TABLE.
        first = Server(argv, self.celeris_env, port, self.logs / "celeris-first.log", cwd=self.tree)
        try:
            first.wait_ready("/auth/login")
        finally:
            first.stop()
        argv += ["--workers", workers]
        running = Server(argv, self.celeris_env, port, self.logs / "celeris.log", cwd=self.tree)
        running.wait_ready("/auth/login")
        return running

    def load(self, sides: list[Side], ports: dict[str, int]) -> dict[str, Any]:
        quick = self.args.quick
        spec = {
            "sides": [
                {
                    "name": side.name,
                    "base": f"http://127.0.0.1:{ports[side.server]}",
                    "login": side.login,
                    "check": side.check,
                    "browsers_of": next(s.name for s in sides if s.server == side.server),
                    "pages": [
                        {"name": k, "path": v, "expect": self.expect.get(k, "")}
                        for k, v in side.pages.items()
                    ],
                }
                for side in sides
            ],
            "rows": self.sizes.books,
            "sessions": self.args.sessions,
            "solo": 5 if quick else 15,
            "rounds": self.args.rounds,
            "warmup": self.args.warmup,
            "duration": self.args.duration,
        }
        argv = [str(self.bin / "python"), str(BENCH / "admin" / "load.py"), json.dumps(spec)]
        if self.args.pin:
            argv = ["taskset", "-c", "1", *argv]
        output = run_checked(argv, {}, "the load")
        return dict(json.loads(output.strip().splitlines()[-1]))

    def run(self) -> int:
        self.uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
        self.prepare()
        running: dict[str, Server] = {}
        try:
            for server in dict.fromkeys(s.server for s in self.sides):
                try:
                    running[server] = self.start(server, free_port())
                except RuntimeError as exc:
                    for side in self.sides:
                        if side.server == server:
                            side.error = f"not run: {exc}"
                    print(f"admin bench: {server}: {exc}", file=sys.stderr)
            live = [s for s in self.sides if s.server in running]
            if live:
                print(f"admin bench: loading {', '.join(s.name for s in live)} ...", flush=True)
                ports = {name: server.port for name, server in running.items()}
                try:
                    results = self.load(live, ports)
                except RuntimeError as exc:
                    results = {side.name: {"error": str(exc)} for side in live}
                for side in live:
                    side.results = dict(results.get(side.name, {"error": "no result"}))
                    side.error = side.results.pop("error", None)
                    if side.error:
                        print(f"admin bench: {side.name}: {side.error}", file=sys.stderr)
        finally:
            for server in running.values():
                server.stop()
        path = self.write()
        print(f"admin bench: wrote {path}")
        broken = [s.name for s in self.sides if s.error or self.errors(s)]
        return 1 if broken else 0

    @staticmethod
    def errors(side: Side) -> int:
        return sum(
            int(side.results.get(p, {}).get("overall", {}).get("errors", 0))
            for p in ("solo", "loaded")
        )

    # --- report -------------------------------------------------------------------------------

    def write(self) -> Path:
        self.out.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y-%m-%d")
        path = self.out / f"{stamp}.md"
        path.write_text(self.report())
        data = {
            s.name: {"label": s.label, "pages": s.pages, "error": s.error, **s.results}
            for s in self.sides
        }
        path.with_suffix(".json").write_text(json.dumps(data, indent=1) + "\n")
        return path

    def report(self) -> str:
        args = self.args
        versions = environment.versions()
        lines = [
            f"# Admin pages: celeris against Django's admin ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
            "",
            f"`{' '.join(['bench/admin/run.py', *sys.argv[1:]])}` — {'QUICK (plumbing only)' if args.quick else 'full run'}.",
            f"Data: {self.sizes.books:,} books, {self.sizes.authors:,} authors, {self.sizes.tags} tags "
            f"in PostgreSQL database `{self.db_name}` (`bench/admin/seed.py`), read by both sides.",
            f"Each side: {args.workers} worker process(es); {args.sessions} signed-in staff browsers "
            f"(`bench/admin/load.py`, aiohttp{', pinned to CPU 1' if args.pin else ''}); "
            f"{args.warmup:g} s warm-up, {args.duration:g} s measured per side, in {args.rounds} "
            "turns taken in a rotating order (all servers up, one loaded at a time).",
            f"Load when it started: `{self.uptime}`. Machine: {os.cpu_count()} CPUs, shared with other "
            "work — compare the sides of this run with each other, not with other runs.",
            f"Versions: Django {versions.get('django')}, gunicorn {versions.get('gunicorn')}, "
            f"celeris from `{args.celeris_tree}` ({self.tree_state()}).",
            "",
            "Pages (both sides list 50 books a page, by id):",
            "",
            "| page | Django | celeris |",
            "| --- | --- | --- |",
        ]
        django = next((s for s in self.sides if s.name == "django"), None)
        celeris = next((s for s in self.sides if s.name == "celeris"), None)
        for page in ("dashboard", "list", "search", "far", "change"):
            d = f"`{django.pages[page]}`" if django else "-"
            c = f"`{celeris.pages[page]}`" if celeris else "-"
            lines.append(f"| {page} | {d} | {c} |")
        lines += ["", "`{id}`: a different book on every request, spread over the table.", ""]
        lines += self.headline()
        lines += self.table(
            "loaded", f"## {args.sessions} concurrent signed-in staff users: ms (p50 / p90 / p99)"
        )
        lines += self.table("solo", "## One user, one request at a time: ms (p50 / p90 / p99)")
        for side in self.sides:
            if side.error:
                lines += [f"- **{side.label}**: {side.error}"]
            elif self.errors(side):
                lines += [
                    f"- **{side.label}**: INVALID, {self.errors(side)} errors: "
                    + "; ".join(
                        f"{page}: {info['error_kinds']}"
                        for phase in ("solo", "loaded")
                        for page, info in side.results[phase].items()
                        if info["errors"]
                    )
                ]
        return "\n".join(lines) + "\n"

    def tree_state(self) -> str:
        """The commit of the tree celeris runs from, and whether it holds uncommitted work."""
        git = ["git", "-C", str(self.tree)]
        head = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        )
        if head.returncode != 0:
            return "not a git tree"
        dirty = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True)
        extra = ", with uncommitted changes" if dirty.stdout.strip() else ""
        return f"commit {head.stdout.strip()}{extra}"

    def headline(self) -> list[str]:
        """The issue's sentence: the list page over the whole table, one user, per side."""
        cells = []
        for side in self.sides:
            info = side.results.get("solo", {}).get("list")
            if info and not side.error:
                cells.append(f"{side.label} {info['p50']} ms (p90 {info['p90']})")
        if not cells:
            return []
        rows = f"{self.sizes.books:,}"
        return [f"**The list page over {rows} rows, one user, p50:** " + "; ".join(cells) + ".", ""]

    def table(self, phase: str, heading: str) -> list[str]:
        head = "| page | " + " | ".join(s.label for s in self.sides) + " |"
        lines = [heading, "", head, "|" + " --- |" * (len(self.sides) + 1)]
        for page in ("dashboard", "list", "search", "far", "change", "overall"):
            cells = []
            for side in self.sides:
                info = side.results.get(phase, {}).get(page)
                if side.error or info is None:
                    cells.append("not run")
                    continue
                cell = f"{info['p50']} / {info['p90']} / {info['p99']}"
                if info["errors"]:
                    cell += f" ({info['errors']} errors)"
                cells.append(cell)
            name = f"**{page}**" if page == "overall" else page
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        if phase == "loaded":
            cells = [
                "not run"
                if s.error or not s.results
                else f"{s.results['loaded']['overall']['rps']}"
                for s in self.sides
            ]
            lines.append("| req/s | " + " | ".join(cells) + " |")
        return [*lines, ""]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny dataset, 3 browsers, seconds")
    parser.add_argument("--sessions", type=int, help="signed-in browsers (default 50; quick 3)")
    parser.add_argument("--duration", type=float, help="measured seconds per side (30; quick 3)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per side (5; quick 1)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes per side")
    parser.add_argument("--rounds", type=int, default=3, help="turns of each side (rotating)")
    parser.add_argument("--sides", default="django,django-nocount,celeris")
    parser.add_argument("--celeris-tree", default=str(ROOT), help="tree with src/ and examples/")
    parser.add_argument("--celeris-app", default="examples.admin:app")
    parser.add_argument("--database", default=seed.BASE_URL, help="PostgreSQL server URL")
    parser.add_argument("--out", help="report directory")
    parser.add_argument("--pin", action="store_true", help="pin the load client to CPU 1")
    args = parser.parse_args(argv)
    quick = args.quick
    args.sessions = args.sessions or (3 if quick else 50)
    args.duration = args.duration if args.duration is not None else (3.0 if quick else 30.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if quick else 5.0)
    args.sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    known = {"django", "django-nocount", "celeris"}
    if not args.sides or set(args.sides) - known:
        parser.error(f"--sides takes some of {', '.join(sorted(known))}")
    if args.sessions > 200:
        parser.error("--sessions: at most 200 (one loopback address each)")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        return Bench(args).run()
    except (RuntimeError, environment.SetupError) as exc:
        print(f"admin bench: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
