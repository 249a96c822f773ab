"""Set up what the bench needs (wrk, the peer venv, the database) and describe the machine."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PEERS = BENCH / ".venv-peers"
REQUIREMENTS = BENCH / "requirements-peers.txt"
STAMP = PEERS / ".requirements.sha256"
COMPILED = BENCH / ".work" / "compiled"  # the mypyc wheel of this tree, unpacked
DB_NAME = "celeris_bench"
VERSIONED = [
    "celeris",
    "uvicorn",
    "granian",
    "gunicorn",
    "fastapi",
    "starlette",
    "litestar",
    "blacksheep",
    "sanic",
    "falcon",
    "django",
    "flask",
    "uvloop",
    "httptools",
    "asyncpg",
    "sqlalchemy",
    "psycopg",
    "jinja2",
    "msgspec",
    "pydantic",
    "websockets",
    "itsdangerous",
    "cryptography",
    "django-csp",
]


class SetupError(RuntimeError):
    """The bench cannot run here; the message says what to do."""


def _run(argv: list[str], what: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-15:]
        raise SetupError(f"{what} failed ({' '.join(argv[:4])} ...):\n" + "\n".join(tail))
    return done.stdout


def ensure_tools() -> None:
    """Install wrk from the system packages if missing; require taskset and 2 CPUs."""
    if shutil.which("taskset") is None:
        raise SetupError("taskset is missing: install util-linux")
    if (os.cpu_count() or 1) < 2:
        raise SetupError("the bench pins server and load generator to two CPUs; this has one")
    if shutil.which("wrk") is not None:
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise SetupError("wrk is missing: install it from your system packages (apt install wrk)")
    print("bench: installing wrk with apt-get", flush=True)
    _run(["apt-get", "update", "-qq"], "apt-get update")
    _run(["apt-get", "install", "-y", "-qq", "wrk"], "apt-get install wrk")
    if shutil.which("wrk") is None:
        raise SetupError("apt-get installed wrk but it is not on PATH")


def peer_bin() -> Path:
    return PEERS / "bin"


def _peers_digest() -> str:
    digest = hashlib.sha256(REQUIREMENTS.read_bytes() + (ROOT / "pyproject.toml").read_bytes())
    return digest.hexdigest()


def peers_current() -> bool:
    """Tell whether bench/.venv-peers is built from the current requirements (no set-up due)."""
    return STAMP.exists() and STAMP.read_text().strip() == _peers_digest()


def ensure_peers() -> None:
    """Create bench/.venv-peers from the pinned requirements (and celeris, editable)."""
    if peers_current():
        return
    wanted = _peers_digest()
    print("bench: setting up the peer venv (bench/.venv-peers); this takes a minute", flush=True)
    if not (peer_bin() / "python").exists():
        _run([sys.executable, "-m", "venv", str(PEERS)], "creating the peer venv")
    pip = [str(peer_bin() / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    _run([*pip, "-r", str(REQUIREMENTS)], "installing bench/requirements-peers.txt")
    _run([*pip, "-e", f"{ROOT}[all]"], "installing celeris into the peer venv")
    STAMP.write_text(wanted)


def ensure_compiled() -> Path:
    """Build the compiled wheel of this tree (``make wheel``) and unpack it for the bench.

    The ``celeris-compiled`` contender runs with bench/.work/compiled first on its
    ``PYTHONPATH``: the same source, built as the mypyc wheel.
    """
    sources = sorted((ROOT / "src" / "celeris").rglob("*.py"))
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    for path in sources:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    stamp = COMPILED / ".sources.sha256"
    if stamp.exists() and stamp.read_text().strip() == digest.hexdigest():
        return COMPILED
    print("bench: building the compiled (mypyc) wheel with make wheel", flush=True)
    _run(["make", "-C", str(ROOT), "wheel"], "make wheel")
    wheels = sorted((ROOT / "dist").glob("celeris-*-cp*.whl"))
    if not wheels:
        raise SetupError(f"make wheel made no compiled wheel in {ROOT / 'dist'}")
    shutil.rmtree(COMPILED, ignore_errors=True)
    pip = [str(peer_bin() / "python"), "-m", "pip", "install", "-q", "--no-deps"]
    _run([*pip, "--target", str(COMPILED), str(wheels[-1])], "unpacking the compiled wheel")
    stamp.write_text(digest.hexdigest())
    return COMPILED


def database_urls() -> tuple[str, str]:
    """Return (admin URL, bench database URL) from DATABASE_URL."""
    base = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/")
    parts = urlsplit(base)
    admin = urlunsplit((parts.scheme, parts.netloc, "/postgres", "", ""))
    bench = urlunsplit((parts.scheme, parts.netloc, f"/{DB_NAME}", "", ""))
    return admin, bench


def ensure_database() -> str:
    """Create and seed the bench database; return its URL."""
    admin, bench = database_urls()
    _run([str(peer_bin() / "python"), str(BENCH / "seed.py"), admin, DB_NAME], f"seeding {bench}")
    return bench


def versions() -> dict[str, str]:
    """Return the installed versions of the packages under test, from the peer venv."""
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for n in sys.argv[1:]:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: out[n] = 'missing'\n"
        "print(json.dumps(out))"
    )
    return dict(json.loads(_run([str(peer_bin() / "python"), "-c", code, *VERSIONED], "versions")))


def machine() -> dict[str, str]:
    """Describe the CPU, kernel, Python and the load at this moment."""
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    wrk_version = (wrk.stdout or wrk.stderr).split("\n", 1)[0].strip()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "cpu": f"{cpu} ({os.cpu_count()} CPUs)",
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "wrk": wrk_version,
        "load average": load,
    }
