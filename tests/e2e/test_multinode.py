"""Two nodes behind nginx: ``celeris serve --workers 2`` twice, on real services.

nginx (Debian's package, ``docs/deploy/nginx.conf`` with its own prefix and ports) balances two
nodes of ``multinode_app.py``, each ``celeris serve --workers 2`` plus one ``celeris worker``.
As root with ``ip`` and ``socat`` the nodes are two hosts: a network namespace each, joined to
this one by a veth pair, both on port 8000 (PostgreSQL and RabbitMQ, which listen on the
loopback only, are relayed to each link by socat); otherwise two ports of this host. The
``topology`` figure says which ran. The nodes share PostgreSQL (data and job records, in a
database of the test's own), RabbitMQ (the jobs' work) and a Redis of the test's own (sessions,
cache, rate limits, channels on Redis Streams; append-only, so that a kill -9 of it loses
nothing), which a test cuts and restores without disturbing any other test. The last test
restarts both nodes under load and kills one.

The tests run in file order on one cluster (a module fixture) and print their figures:
``pytest tests/e2e/test_multinode.py -m multinode -s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

import celeris

pytestmark = [pytest.mark.e2e, pytest.mark.multinode, pytest.mark.services]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
NGINX_CONF = ROOT / "docs" / "deploy" / "nginx.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
REDIS_SERVER = shutil.which("redis-server")
RATE = 2000  # requests per second of the load through nginx
ROUTES = 100  # the app's /r0 ... /r99, so that a scrape writes that many routes' series
REQUIRE = os.environ.get("CELERIS_REQUIRE_SERVICES") == "1"


def need(ok: bool, message: str) -> None:
    if not ok:
        if REQUIRE:
            pytest.fail(f"CELERIS_REQUIRE_SERVICES=1 but {message}")
        pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Fatal(Exception):
    """Raised by a ``wait_until`` check: stop waiting, this will not get better."""


def wait_until(check: Any, timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except Fatal:
            raise
        except Exception:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def request(
    where: int | str,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
    source: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request to ``where``: a port of 127.0.0.1 (nginx) or a node's "host:port"."""
    netloc = f"127.0.0.1:{where}" if isinstance(where, int) else where
    conn = http.client.HTTPConnection(
        netloc, timeout=timeout, source_address=(source, 0) if source else None
    )
    try:
        sent = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body)
            sent["Content-Type"] = "application/json"
        conn.request(method, path, data, sent)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def get_json(where: int | str, path: str, **kwargs: Any) -> Any:
    status, _, body = request(where, "GET", path, **kwargs)
    assert status == 200, (path, status, body)
    return json.loads(body)


def post_json(where: int | str, path: str, body: Any, **kwargs: Any) -> Any:
    status, _, data = request(where, "POST", path, body, **kwargs)
    assert status == 200, (path, status, data)
    return json.loads(data)


def loopback_client() -> str:
    """A 127.x.y.z address of its own: a client that nginx sees as a distinct address."""
    return f"127.{secrets.randbelow(254) + 1}.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"


def children(pid: int) -> set[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return set()
    return {int(p) for p in text.split()}


@dataclass
class Proc:
    argv: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            self.argv, cwd=HERE, env=self.env, stdout=out, stderr=out, start_new_session=True
        )
        out.close()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        """SIGKILL the whole process group: the supervisor and every worker at once."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 15) -> None:
        if not self.alive():
            return
        assert self.proc is not None
        self.proc.terminate()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
        with contextlib.suppress(ProcessLookupError):  # stray workers of a crashed supervisor
            os.killpg(self.proc.pid, signal.SIGKILL)


@dataclass
class Node:
    name: str
    host: str
    port: int
    server: Proc
    worker: Proc
    metrics_dir: Path

    @property
    def addr(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> None:
        shutil.rmtree(self.metrics_dir, ignore_errors=True)
        self.metrics_dir.mkdir()
        self.server.start()
        self.worker.start()

    def ready(self, timeout: float = 40) -> None:
        def up() -> bool:
            if not self.server.alive():
                raise Fatal(f"node {self.name} exited:\n{self.server.log.read_text()[-3000:]}")
            status, _, _ = request(self.addr, "GET", "/readyz", timeout=2)
            return status == 200 and len(children(self.server.pid)) == 2

        wait_until(up, timeout, f"node {self.name} to be ready")


@dataclass
class Redis:
    port: int
    directory: Path
    bind: list[str]
    password: str = field(default_factory=lambda: secrets.token_hex(16))
    proc: subprocess.Popen[bytes] | None = None

    def url(self, host: str = "127.0.0.1") -> str:
        return f"redis://:{self.password}@{host}:{self.port}/0"

    def start(self) -> None:
        assert REDIS_SERVER is not None
        self.proc = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                *self.bind,
                # NOTE: Redis only answers other hosts with a password (protected mode)
                "--requirepass",
                self.password,
                "--dir",
                str(self.directory),
                "--save",
                "",
                # every write is on disk before it is acknowledged: a kill -9 loses nothing
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--logfile",
                str(self.directory / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def pong() -> bool:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"AUTH " + self.password.encode() + b"\r\nPING\r\n")
                answer = b""
                while b"PONG" not in answer and b"ERR" not in answer:
                    chunk = s.recv(64)
                    if not chunk:
                        return False
                    answer += chunk
                return b"+PONG" in answer

        wait_until(pong, 15, "the test's Redis")

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@dataclass
class Cluster:
    nginx_port: int
    a: Node
    b: Node
    redis: Redis
    prefix: Path
    run: str
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def nodes(self) -> tuple[Node, Node]:
        return self.a, self.b

    def access_log(self) -> list[dict[str, Any]]:
        """The nginx access log, one dict per line (format ``upstreams`` of nginx.conf)."""
        pattern = re.compile(r'^(\S+) (\d+) (\S+) "([^"]*)" "([^"]*)" "([^"]*)" (\S+)$')
        lines = []
        for line in (self.prefix / "access.log").read_text().splitlines():
            m = pattern.match(line)
            assert m, line
            lines.append(
                {
                    "t": float(m[1]),
                    "status": int(m[2]),
                    "method": m[3],
                    "uri": m[4],
                    "upstreams": [u.strip() for u in m[5].split(",") if u.strip()],
                    "upstream_status": m[6],
                }
            )
        return lines


@dataclass
class Topology:
    """Where the nodes run: two hosts (network namespaces joined to this one by veth pairs)
    where this machine allows it, else two ports of this host."""

    kind: str
    hosts: dict[str, str]  # the address each node listens on
    gateways: dict[str, str]  # this machine's address as each node sees it
    namespaces: dict[str, str] = field(default_factory=dict)
    relays: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def wrap(self, node: str, argv: list[str]) -> list[str]:
        namespace = self.namespaces.get(node)
        return ["ip", "netns", "exec", namespace, *argv] if namespace else argv

    def reach(self, url: str) -> dict[str, str]:
        """``url`` of a service on this machine's loopback as each node reaches it: relayed by
        socat from the node's gateway address (PostgreSQL and RabbitMQ listen on 127.0.0.1)."""
        parts = urlsplit(url)
        if not self.namespaces:
            return dict.fromkeys(self.hosts, url)
        port = free_port()
        urls = {}
        for node, gateway in self.gateways.items():
            listen = f"TCP-LISTEN:{port},bind={gateway},reuseaddr,fork"
            target = f"TCP:{parts.hostname}:{parts.port}"
            self.relays.append(
                subprocess.Popen(["socat", listen, target], stderr=subprocess.DEVNULL)
            )
            netloc = f"{parts.netloc.rpartition('@')[0]}@" if "@" in parts.netloc else ""
            urls[node] = parts._replace(netloc=f"{netloc}{gateway}:{port}").geturl()
        for gateway in self.gateways.values():
            wait_until(
                lambda g=gateway: socket.create_connection((g, port), timeout=1).close() or True,
                10,
                f"socat on {gateway}:{port}",
            )
        return urls

    def close(self) -> None:
        for relay in self.relays:
            relay.kill()
            relay.wait(timeout=10)
        for namespace in self.namespaces.values():
            subprocess.run(["ip", "netns", "del", namespace], check=False, timeout=10)


def make_topology(run: str) -> Topology:
    loopback = {"a": "127.0.0.1", "b": "127.0.0.1"}
    if os.environ.get("CELERIS_MULTINODE_PORTS") == "1":
        why = "CELERIS_MULTINODE_PORTS=1"
    elif os.geteuid() != 0:
        why = "not root"
    elif not (shutil.which("ip") and shutil.which("socat")):
        why = "ip or socat is missing"
    else:
        topology = Topology("two hosts: network namespaces and veth pairs", {}, {})
        net = secrets.randbelow(256)
        try:
            for i, node in enumerate(("a", "b"), start=1):
                namespace = f"celeris-{node}-{run}"
                outside, inside = f"mn{node}{run}", f"mn{node}{run}n"
                gateway, host = f"10.{212 + i}.{net}.1", f"10.{212 + i}.{net}.2"
                subprocess.run(["ip", "netns", "add", namespace], check=True, timeout=10)
                topology.namespaces[node] = namespace
                for command in (
                    f"link add {outside} type veth peer name {inside} netns {namespace}",
                    f"addr add {gateway}/30 dev {outside}",
                    f"link set {outside} up",
                    f"-n {namespace} addr add {host}/30 dev {inside}",
                    f"-n {namespace} link set {inside} up",
                    f"-n {namespace} link set lo up",
                ):
                    subprocess.run(
                        ["ip", *command.split()], check=True, timeout=10, capture_output=True
                    )
                topology.hosts[node], topology.gateways[node] = host, gateway
            return topology
        except (OSError, subprocess.SubprocessError) as exc:
            topology.close()
            why = f"network namespaces failed: {exc}"
    return Topology(f"two ports of one host ({why})", loopback, dict(loopback))


def render_nginx(prefix: Path, listen: int, node_a: str, node_b: str) -> str:
    """docs/deploy/nginx.conf with its placeholders filled in, nothing else changed."""
    text = NGINX_CONF.read_text()
    values = {
        "PREFIX": str(prefix),
        "LISTEN": f"127.0.0.1:{listen}",
        "NODE_A": node_a,
        "NODE_B": node_b,
    }
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    return text


async def _create_database(admin_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop_database(admin_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, postgres_url: str, rabbitmq_url: str
) -> Iterator[Cluster]:
    need(os.path.exists(NGINX), f"nginx is not installed ({NGINX})")
    need(REDIS_SERVER is not None, "redis-server is not installed")
    pytest.importorskip("aiohttp")
    tmp = tmp_path_factory.mktemp("multinode")
    run = secrets.token_hex(4)
    dbname = f"celeris_multinode_{run}"
    pg = postgres_url.rsplit("/", 1)[0]
    asyncio.run(_create_database(postgres_url, dbname))
    (tmp / "redis").mkdir()
    prefix = tmp / "nginx"
    prefix.mkdir()
    cluster: Cluster | None = None
    nginx: subprocess.Popen[bytes] | None = None
    redis: Redis | None = None
    topology = make_topology(run)
    try:
        redis = Redis(
            free_port(), tmp / "redis", sorted({"127.0.0.1", *topology.gateways.values()})
        )
        redis.start()
        redis_url = redis.url()
        database_url = f"{pg}/{dbname}"
        env = {
            **os.environ,
            # the nodes run the celeris this test imports (make test-compiled: the compiled one)
            "PYTHONPATH": f"{HERE}{os.pathsep}{Path(celeris.__file__).resolve().parents[1]}",
            "DATABASE_URL": database_url,
            "JOBS_URL": rabbitmq_url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": secrets.token_urlsafe(32),
            "PYTHONUNBUFFERED": "1",
            "MULTINODE_ROUTES": str(ROUTES),
        }
        prepare = "import asyncio, multinode_app; asyncio.run(multinode_app.prepare())"
        subprocess.run([sys.executable, "-c", prepare], cwd=HERE, env=env, check=True, timeout=60)
        databases, brokers = topology.reach(database_url), topology.reach(rabbitmq_url)
        nodes = []
        for name in ("a", "b"):
            host = topology.hosts[name]
            # two hosts: both on port 8000; one host: two free ports
            port = 8000 if topology.namespaces else free_port()
            metrics_dir = tmp / f"metrics-{name}"
            node_env = {
                **env,
                "NODE": name,
                "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
                "DATABASE_URL": databases[name],
                "JOBS_URL": brokers[name],
                "REDIS_URL": redis.url(topology.gateways[name]),
            }
            serve = [sys.executable, "-m", "celeris", "serve", "multinode_app:app"]
            serve += ["--workers", "2", "--host", host, "--port", str(port)]
            # nginx, and the test's own requests, come from this machine's side of the link
            serve += ["--forwarded-allow-ips", topology.gateways[name], "--no-access-log"]
            work = [sys.executable, "-m", "celeris", "worker", "multinode_app:app"]
            work += ["--concurrency", "4", "--queues", "e2e-multinode", "--status-interval", "60"]
            work += ["--no-schedules"]
            worker_env = {**node_env, "PROMETHEUS_MULTIPROC_DIR": ""}
            del worker_env["PROMETHEUS_MULTIPROC_DIR"]
            nodes.append(
                Node(
                    name,
                    host,
                    port,
                    Proc(topology.wrap(name, serve), node_env, tmp / f"node-{name}.log"),
                    Proc(topology.wrap(name, work), worker_env, tmp / f"worker-{name}.log"),
                    metrics_dir,
                )
            )
        a, b = nodes
        cluster = Cluster(free_port(), a, b, redis, prefix, run)
        cluster.figures["topology"] = topology.kind
        for node in nodes:
            node.start()
        for node in nodes:
            node.ready()
        (prefix / "nginx.conf").write_text(render_nginx(prefix, cluster.nginx_port, a.addr, b.addr))
        argv = [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", "stderr"]
        argv += ["-g", "daemon off;" + (" user root;" if os.geteuid() == 0 else "")]
        with (prefix / "stderr.log").open("wb") as stderr:
            nginx = subprocess.Popen(argv, stderr=stderr)
        wait_until(
            lambda: request(cluster.nginx_port, "GET", "/healthz", timeout=2)[0] == 200,
            15,
            "nginx",
        )
        yield cluster
    finally:
        if nginx is not None:
            nginx.send_signal(signal.SIGQUIT)
            try:
                nginx.wait(timeout=10)
            except subprocess.TimeoutExpired:
                nginx.kill()
                nginx.wait()
        if cluster is not None:
            for node in cluster.nodes:
                node.server.stop()
                node.worker.stop()
            if cluster.figures:
                print("\nmulti-node figures:", json.dumps(cluster.figures, indent=2))
        if redis is not None:
            redis.kill9()
        topology.close()
        asyncio.run(_drop_database(postgres_url, dbname))


# --- state shared through the real services ------------------------------------------------


def test_proxy_headers_reach_the_app(cluster: Cluster) -> None:
    me = loopback_client()
    forged = {"X-Forwarded-For": "192.0.2.66", "X-Forwarded-Proto": "https"}
    seen = get_json(
        cluster.nginx_port, "/whoami", headers={"Host": "shop.example", **forged}, source=me
    )
    # nginx sets X-Forwarded-Proto to its own scheme ($scheme: http), whatever the client said
    assert seen["scheme"] == "http"
    assert seen["host"] == "shop.example"
    # the client's own X-Forwarded-For is not believed: it is not a trusted proxy
    assert seen["client"] == me
    direct = get_json(cluster.a.addr, "/whoami", headers={"X-Forwarded-For": "192.0.2.9"})
    assert direct["client"] == "192.0.2.9"  # the test's side of the link is a trusted proxy


def test_session_created_on_one_node_is_valid_on_the_other(cluster: Cluster) -> None:
    status, headers, body = request(cluster.a.addr, "POST", "/session", {"user": "ann"})
    assert status == 200
    assert json.loads(body)["node"] == "a"
    cookie = headers["set-cookie"].split(";", 1)[0]
    seen = get_json(cluster.b.addr, "/session", headers={"Cookie": cookie})
    assert (seen["node"], seen["user"]) == ("b", "ann")
    through = [
        get_json(cluster.nginx_port, "/session", headers={"Cookie": cookie}) for _ in range(6)
    ]
    assert {s["user"] for s in through} == {"ann"}
    assert {s["node"] for s in through} == {"a", "b"}  # nginx's round robin reached both


def test_cache_is_one_for_both_nodes(cluster: Cluster) -> None:
    name = f"hits-{cluster.run}"
    answers = [
        post_json(node.addr, f"/counters/{name}", {}) for _ in range(3) for node in cluster.nodes
    ]
    assert [(a["node"], a["value"]) for a in answers] == [
        ("a", 1),
        ("b", 2),
        ("a", 3),
        ("b", 4),
        ("a", 5),
        ("b", 6),
    ]


def test_rate_limit_holds_across_both_nodes(cluster: Cluster) -> None:
    me = loopback_client()  # a client address of its own per run (a window lasts a minute)
    through_nginx = [request(cluster.nginx_port, "GET", "/limited", source=me) for _ in range(8)]
    # and straight to each node, as forwarded by a trusted proxy
    forwarded = {"X-Forwarded-For": me}
    direct = [
        request(node.addr, "GET", "/limited", headers=forwarded)
        for _ in range(4)
        for node in cluster.nodes
    ]
    answers = through_nginx + direct
    statuses = [status for status, _, _ in answers]
    assert statuses.count(200) == 5, statuses  # 5/minute for the whole service, not 10 or 20
    assert statuses.count(429) == len(answers) - 5
    served_by = {json.loads(body)["node"] for status, _, body in answers if status == 200}
    assert served_by == {"a", "b"}
    refused = next(a for a in answers if a[0] == 429)
    assert refused[1]["content-type"] == "application/problem+json"
    assert int(refused[1]["retry-after"]) > 0


def test_websocket_on_a_receives_what_b_publishes(cluster: Cluster) -> None:
    from websockets.sync.client import connect

    room = f"room-{cluster.run}-fanout"
    with (
        connect(f"ws://{cluster.a.addr}/ws/{room}", open_timeout=10) as on_a,
        connect(f"ws://127.0.0.1:{cluster.nginx_port}/ws/{room}", open_timeout=10) as via_nginx,
    ):
        assert json.loads(on_a.recv(timeout=10))["node"] == "a"
        json.loads(via_nginx.recv(timeout=10))  # through nginx's WebSocket upgrade
        time.sleep(0.3)  # the subscriptions reach the Redis readers
        ids = [post_json(cluster.b.addr, f"/rooms/{room}", {"n": n})["id"] for n in range(5)]
        for ws in (on_a, via_nginx):
            frames = [json.loads(ws.recv(timeout=10)) for _ in range(5)]
            assert [f["id"] for f in frames] == ids
            assert [(f["data"]["n"], f["data"]["node"]) for f in frames] == [
                (n, "b") for n in range(5)
            ]


def test_job_enqueued_on_a_runs_on_a_worker_of_b(cluster: Cluster) -> None:
    before = len(get_json(cluster.a.addr, "/visits"))
    for n in range(20):
        assert post_json(cluster.a.addr, f"/visits/{n}", {})["node"] == "a"
    rows = wait_until(
        lambda: (r := get_json(cluster.b.addr, "/visits")) and len(r) - before >= 20 and r,
        30,
        "20 jobs to run",
    )
    mine = rows[before:] if before else rows
    assert sorted(r["n"] for r in mine) == list(range(20))  # each once
    assert {r["enqueued_on"] for r in mine} == {"a"}
    ran_on = Counter(r["ran_on"] for r in mine)
    assert ran_on["b"] > 0, ran_on  # RabbitMQ handed some of a's jobs to b's worker
    cluster.figures["jobs enqueued on a, ran on"] = dict(ran_on)


def scrape_total(where: str, route: str) -> float:
    _, _, body = request(where, "GET", "/metrics")
    total = 0.0
    for line in body.decode().splitlines():
        if line.startswith("celeris_http_requests_total{") and f'route="{route}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_on_each_node_count_its_own_requests(cluster: Cluster) -> None:
    route = "/r7"
    start = {n.name: scrape_total(n.addr, route) for n in cluster.nodes}
    for _ in range(30):
        request(cluster.a.addr, "GET", route)
    for _ in range(11):
        request(cluster.b.addr, "GET", route)
    # the other worker's numbers are summed from its snapshot, written every second
    want = {"a": start["a"] + 30, "b": start["b"] + 11}
    wait_until(
        lambda: {n.name: scrape_total(n.addr, route) for n in cluster.nodes} == want,
        10,
        f"/metrics to show {want}",
        interval=0.3,
    )


# --- figures -----------------------------------------------------------------------------------


def test_metrics_scrape_cost(cluster: Cluster) -> None:
    for i in range(ROUTES):
        request(cluster.a.addr, "GET", f"/r{i}")
    time.sleep(1.2)  # every worker's snapshot holds every route
    conn = http.client.HTTPConnection(cluster.a.addr, timeout=10)
    times = []
    try:
        for _ in range(30):
            t0 = time.perf_counter()
            conn.request("GET", "/metrics")
            response = conn.getresponse()
            text = response.read()
            times.append(time.perf_counter() - t0)
            assert response.status == 200
    finally:
        conn.close()
    lines = [line for line in text.decode().splitlines() if line and not line.startswith("#")]
    routes = {m[1] for line in lines if (m := re.search(r'route="([^"]*)"', line))}
    assert {f"/r{i}" for i in range(ROUTES)} <= routes
    times.sort()
    cluster.figures["metrics scrape"] = {
        "routes": len(routes),
        "series": len(lines),
        "bytes": len(text),
        "median_ms": round(times[len(times) // 2] * 1000, 2),
        "p90_ms": round(times[int(len(times) * 0.9)] * 1000, 2),
    }
    assert times[len(times) // 2] < 1.0


async def _fanout(cluster: Cluster, subscribers: int, messages: int) -> dict[str, Any]:
    import aiohttp
    from websockets.asyncio.client import connect

    room = f"room-{cluster.run}-bench"
    latencies: list[float] = []
    received = Counter[int]()
    sockets = []
    for i in range(subscribers):
        where = cluster.nodes[i % 2].addr
        ws = await connect(f"ws://{where}/ws/{room}", open_timeout=10)
        await ws.recv()
        sockets.append(ws)
    await asyncio.sleep(0.5)  # every subscription reached its Redis reader

    async def read(ws: Any) -> None:
        for _ in range(messages):
            frame = json.loads(await ws.recv())
            latencies.append(time.time() - frame["data"]["t"])
            received[frame["data"]["n"]] += 1

    readers = [asyncio.create_task(read(ws)) for ws in sockets]
    t0 = time.perf_counter()
    async with aiohttp.ClientSession() as http_client:

        async def publish(n: int) -> None:
            where = cluster.nodes[n % 2].addr
            async with http_client.post(f"http://{where}/rooms/{room}", json={"n": n}) as r:
                assert r.status == 200

        for n in range(0, messages, 10):
            await asyncio.gather(*(publish(k) for k in range(n, min(n + 10, messages))))
    async with asyncio.timeout(60):
        await asyncio.gather(*readers)
    elapsed = time.perf_counter() - t0
    for ws in sockets:
        await ws.close()
    assert set(received.values()) == {subscribers}  # every subscriber got every message
    latencies.sort()
    return {
        "subscribers": subscribers,
        "messages": messages,
        "deliveries": len(latencies),
        "deliveries_per_s": round(len(latencies) / elapsed),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
    }


def test_websocket_fanout_across_two_nodes(cluster: Cluster) -> None:
    """200 WebSocket subscribers, half on each node, 100 messages published on both."""
    cluster.figures["websocket fan-out"] = asyncio.run(_fanout(cluster, 200, 100))


# --- Redis cut (the test's own Redis: no other test notices) ------------------------------


@dataclass
class Subscriber:
    """A WebSocket client of ``room`` that reconnects with the last id it saw whenever cut."""

    room: str
    got: list[int] = field(default_factory=list)
    last_id: str | None = None
    reconnects: list[str] = field(default_factory=list)

    async def read(self, where: str, want: int) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, InvalidStatus

        while len(self.got) < want:
            query = f"?last_id={self.last_id}" if self.last_id else ""
            url = f"ws://{where}/ws/{self.room}{query}"
            try:
                async with connect(url, open_timeout=5) as ws:
                    await ws.recv()
                    while len(self.got) < want:
                        frame = json.loads(await ws.recv())
                        assert not frame.get("gap"), frame
                        self.got.append(frame["data"]["n"])
                        self.last_id = frame["id"]
            except (ConnectionClosed, InvalidStatus, OSError, TimeoutError) as exc:
                self.reconnects.append(repr(exc))
                await asyncio.sleep(0.3)


async def _redis_cut(cluster: Cluster) -> dict[str, Any]:
    import aiohttp

    room = f"room-{cluster.run}-cut"
    total = 30
    outage: dict[str, Any] = {}
    steady, away, retrying = Subscriber(room), Subscriber(room), Subscriber(room)
    # one subscriber stays connected throughout; two leave after 10 messages: one comes back
    # during the cut (and keeps trying), the other once Redis is back
    reading = asyncio.create_task(steady.read(cluster.a.addr, total))
    leaving = [
        asyncio.create_task(away.read(cluster.b.addr, 10)),
        asyncio.create_task(retrying.read(cluster.b.addr, 10)),
    ]
    await asyncio.sleep(0.5)
    async with aiohttp.ClientSession() as http_client:

        async def publish(n: int) -> int:
            url = f"http://127.0.0.1:{cluster.nginx_port}/rooms/{room}"
            async with http_client.post(url, json={"n": n}) as r:
                if r.status == 503:
                    outage.setdefault("retry_after", r.headers.get("retry-after"))
                    outage.setdefault("content_type", r.headers.get("content-type"))
                return r.status

        for n in range(10):
            assert await publish(n) == 200
        async with asyncio.timeout(10):
            await asyncio.gather(*leaving)
        for n in range(10, 15):
            assert await publish(n) == 200
        cut = time.monotonic()
        await asyncio.to_thread(cluster.redis.kill9)
        returning = asyncio.create_task(retrying.read(cluster.b.addr, total))
        try:
            statuses = [await publish(15) for _ in range(3)]
            await asyncio.sleep(2)
        finally:
            await asyncio.to_thread(cluster.redis.start)
        restored = time.monotonic()
        # the publisher retries what the outage refused, until Redis answers again
        deadline = time.monotonic() + 20
        while await publish(15) != 200:
            assert time.monotonic() < deadline, "publishing never recovered"
            await asyncio.sleep(0.2)
        back = time.monotonic()
        for n in range(16, total):
            assert await publish(n) == 200
    # the one that left comes back with the last id it saw, on the other node
    async with asyncio.timeout(20):
        await away.read(cluster.a.addr, total)
        await reading
        await returning
    return {
        "statuses_during_cut": statuses,
        "outage": outage,
        "steady": steady.got,
        "steady_reconnects": len(steady.reconnects),
        "away": away.got,
        "away_reconnects": len(away.reconnects),
        "during_cut": retrying.got,
        "during_cut_attempts_refused": len(retrying.reconnects),
        "cut_s": round(restored - cut, 2),
        "publish_back_after_s": round(back - restored, 2),
    }


def test_redis_cut_subscribers_resume_with_nothing_lost(cluster: Cluster) -> None:
    result = asyncio.run(_redis_cut(cluster))
    assert set(result["statuses_during_cut"]) == {503}
    assert result["outage"]["content_type"] == "application/problem+json"
    assert result["steady"] == list(range(30))  # each once, in order, across the cut
    assert result["away"] == list(range(30))  # what it missed, then the live ones
    assert result["during_cut"] == list(range(30))
    cluster.figures["redis cut"] = {
        k: v for k, v in result.items() if k not in ("steady", "away", "during_cut")
    }


# --- restarts under load --------------------------------------------------------------------


@dataclass
class Load:
    """A steady GET load through nginx that counts every outcome, by phase."""

    port: int
    phase: str = "steady"
    sent: Counter[str] = field(default_factory=Counter)
    ok: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    phases: list[tuple[str, float]] = field(default_factory=list)
    running: bool = True

    def enter(self, phase: str) -> None:
        self.phase = phase
        self.phases.append((phase, time.time()))

    async def run(self, connections: int, rate: float) -> None:
        """Keep ``connections`` requests going, ``rate`` per second in all (the CPU is shared)."""
        import aiohttp

        connector = aiohttp.TCPConnector(limit=connections)
        timeout = aiohttp.ClientTimeout(total=15)
        interval = connections / rate
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

            async def loop() -> None:
                next_at = time.monotonic()
                while self.running:
                    next_at += interval
                    await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                    phase = self.phase
                    self.sent[phase] += 1
                    try:
                        async with session.get(f"http://127.0.0.1:{self.port}/ping") as r:
                            await r.read()
                            if r.status == 200:
                                self.ok[phase] += 1
                                continue
                            self.errors.append(f"{phase}: {r.status}")
                    except (aiohttp.ClientError, TimeoutError) as exc:
                        self.errors.append(f"{phase}: {exc!r}")
                    self.failed[phase] += 1

            await asyncio.gather(*(loop() for _ in range(connections)))


def rolling_restart(node: Node) -> None:
    old = children(node.server.pid)
    assert len(old) == 2
    os.kill(node.server.pid, signal.SIGHUP)
    wait_until(
        lambda: (now := children(node.server.pid)) and len(now) == 2 and not now & old,
        30,
        f"node {node.name}'s workers to be replaced",
    )
    node.ready()


async def _restarts(cluster: Cluster) -> Load:
    load = Load(cluster.nginx_port)
    load.enter("steady")
    task = asyncio.create_task(load.run(connections=8, rate=RATE))
    try:
        await asyncio.sleep(2)
        for node in cluster.nodes:
            load.enter(f"SIGHUP {node.name}")
            await asyncio.to_thread(rolling_restart, node)
            await asyncio.sleep(1)
        load.enter("kill -9 a")
        await asyncio.to_thread(cluster.a.server.kill9)
        await asyncio.sleep(3)
        load.enter("a down")
        await asyncio.sleep(1)
    finally:
        load.running = False
        async with asyncio.timeout(20):
            await task
    return load


def test_rolling_restarts_and_a_kill_lose_no_request(cluster: Cluster) -> None:
    load = asyncio.run(_restarts(cluster))
    log = [line for line in cluster.access_log() if line["uri"] == "/ping"]
    start = load.phases[0][1]
    bounds = [*load.phases[1:], ("end", float("inf"))]
    figures: dict[str, dict[str, int]] = {}
    for (phase, begin), (_, end) in zip(load.phases, bounds, strict=True):
        lines = [line for line in log if begin <= line["t"] < end]
        figures[phase] = {
            "sent": load.sent[phase],
            "succeeded": load.ok[phase],
            "failed": load.failed[phase],
            "retried_by_nginx": sum(1 for line in lines if len(line["upstreams"]) > 1),
            "nginx_non_200": sum(1 for line in lines if line["status"] != 200),
        }
    cluster.figures[f"restarts under load (GET /ping through nginx, 8 connections, {RATE}/s)"] = (
        figures
    )
    assert load.errors == [], load.errors[:10]
    assert all(f["failed"] == 0 and f["nginx_non_200"] == 0 for f in figures.values()), figures
    seconds = time.time() - start
    assert sum(load.ok.values()) > RATE * seconds / 3, figures  # steady, not a trickle
    assert [line for line in log if line["t"] >= start and line["status"] != 200] == []
    # the kill left in-flight requests or refused connections that nginx took to b
    assert figures["kill -9 a"]["retried_by_nginx"] > 0, figures
