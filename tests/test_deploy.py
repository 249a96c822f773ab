"""docs/deploy/: each file parses, and every celeris command in it is one celeris accepts.

nginx.conf runs for real in tests/e2e/test_multinode.py; here it is checked by ``nginx -t``.
The Containerfile is not built (no container engine in the test environment).
"""

from __future__ import annotations

import configparser
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "docs" / "deploy"


def check_serve(argv: list[str]) -> dict[str, Any]:
    """Parse ``celeris serve ...`` as the CLI does and return its options."""
    from celeris.cli.serve import serve, validate
    from celeris.server.proxy import ProxyTrust

    assert argv[:2] == ["celeris", "serve"], argv
    ctx = serve.make_context("serve", argv[2:])
    options = {k: v for k, v in ctx.params.items() if k != "target"}
    assert validate(ctx, options) is None
    assert ProxyTrust(options["forwarded_allow_ips"])  # trusts the proxy, and only it
    assert options["forwarded_allow_ips"] != "*"
    return options


def check_worker(argv: list[str]) -> dict[str, Any]:
    from celeris.cli.worker import worker

    assert argv[:2] == ["celeris", "worker"], argv
    return dict(worker.make_context("worker", argv[2:]).params)


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    text = (DEPLOY / name).read_text().replace("\\\n", " ")
    parser.read_string(text)
    return parser


def exec_start(parser: configparser.ConfigParser) -> list[str]:
    argv = shlex.split(parser["Service"]["ExecStart"])
    assert argv[0].endswith("/bin/celeris")
    return ["celeris", *argv[1:]]


def test_systemd_units_run_celeris_with_a_graceful_stop() -> None:
    web = unit("celeris.service")
    service = web["Service"]
    options = check_serve(exec_start(web))
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"  # SIGHUP: rolling restart
    assert (service["KillSignal"], service["KillMode"]) == ("SIGTERM", "mixed")
    stop = float(service["TimeoutStopSec"])
    assert stop > options["graceful_timeout"] + options["timeout_keep_alive"]
    assert service["Environment"] == "PROMETHEUS_MULTIPROC_DIR=/run/celeris-metrics"
    assert service["RuntimeDirectory"] == "celeris-metrics"
    jobs = unit("celeris-worker.service")
    assert float(jobs["Service"]["TimeoutStopSec"]) > check_worker(exec_start(jobs))["grace"]


@pytest.mark.parametrize("name", ["celeris.service", "celeris-worker.service"])
def test_systemd_analyze_verify(name: str, tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    celeris = Path(sys.executable).with_name("celeris")
    if not celeris.exists():
        pytest.skip(f"no celeris console script beside {sys.executable}")
    # NOTE: verify checks that ExecStart's program exists: point it at this environment's
    text = (DEPLOY / name).read_text().replace("/srv/app/.venv/bin/celeris", str(celeris))
    (tmp_path / name).write_text(text)
    done = subprocess.run(
        [analyze, "verify", str(tmp_path / name)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"},
    )
    # an unknown key or a bad value is only a warning (exit 0): none is allowed
    assert (done.returncode, done.stderr.strip()) == (0, ""), done.stderr


def test_kubernetes_manifests() -> None:
    yaml = pytest.importorskip("yaml")
    docs = list(yaml.safe_load_all((DEPLOY / "deployment.yaml").read_text()))
    kinds = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    assert set(kinds) == {
        ("Deployment", "myapp-web"),
        ("Service", "myapp-web"),
        ("Deployment", "myapp-worker"),
    }
    web = kinds["Deployment", "myapp-web"]["spec"]
    assert web["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = web["template"]["spec"]
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
    script = container["args"][0]
    argv = shlex.split(script.split("exec ", 1)[1])
    options = check_serve(argv)
    assert options["port"] == container["ports"][0]["containerPort"]
    grace = pod["terminationGracePeriodSeconds"]
    assert grace > 5 + options["graceful_timeout"] + options["timeout_keep_alive"]
    env = {e["name"]: e["value"] for e in container["env"]}
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert env["PROMETHEUS_MULTIPROC_DIR"] in mounts
    assert '"$PROMETHEUS_MULTIPROC_DIR"/*' in script  # emptied on every container start
    service = kinds["Service", "myapp-web"]["spec"]
    assert service["selector"] == web["selector"]["matchLabels"]
    worker_pod = kinds["Deployment", "myapp-worker"]["spec"]["template"]["spec"]
    (worker,) = worker_pod["containers"]
    assert worker_pod["terminationGracePeriodSeconds"] > check_worker(worker["command"])["grace"]


def test_containerfile_installs_real_extras_and_runs_celeris_serve() -> None:
    text = (DEPLOY / "Containerfile").read_text()
    extras = re.search(r"celeris-\*\.whl\)\[([^\]]+)\]", text)
    assert extras
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert set(extras[1].split(",")) <= set(declared)
    cmd = re.search(r"^CMD (\[.*\])$", text, re.M)
    assert cmd
    import json

    shell = json.loads(cmd[1])
    assert shell[:2] == ["sh", "-c"]
    check_serve(shlex.split(shell[2].split("exec ", 1)[1]))
    assert "STOPSIGNAL SIGTERM" in text


def test_nginx_conf_is_valid(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        pytest.skip("nginx is not installed")
    from tests.e2e.test_multinode import render_nginx

    (tmp_path / "nginx.conf").write_text(
        render_nginx(tmp_path, 18080, "10.0.0.11:8000", "10.0.0.12:8000")
    )
    argv = [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", "stderr"]
    if os.geteuid() == 0:
        argv += ["-g", "user root;"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "syntax is ok" in done.stderr
    assert "[warn]" not in done.stderr, done.stderr
