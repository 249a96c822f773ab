"""Upload a 100 MiB file to a celeris app that streams it into ``Storage``: local files and S3.

    .venv/bin/python bench/storage/run.py [--size-mib 100] [--rounds 2] [--targets file,s3]
                                          [--chunked]

The app (bench/storage/app.py) runs on ``celeris serve`` pinned to CPU 0; the client, and for
S3 moto's server (started here on 127.0.0.1, in its own process), on CPU 1. Each round: a
1 KiB warm-up upload, the server's idle RSS, its peak counter reset (``/proc/<pid>/clear_refs``),
the big upload streamed with ``Content-Length`` (or ``--chunked``), then the stored bytes
checked against the SHA-256 of what was sent. Reports the upload time and the server's peak
RSS (VmHWM) above idle, which must stay under 64 MB (64,000,000 bytes): exit 1 otherwise.
See bench/storage/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402

from bench import environment  # noqa: E402
from bench.contenders import Contender  # noqa: E402
from bench.server import Server  # noqa: E402

SERVER_CPU, CLIENT_CPU = 0, 1
LIMIT = 64_000_000  # bytes of peak RSS above idle the server may take (issue 15)
MIB = 1024 * 1024
SEND = 256 * 1024  # the client writes this much at a time
KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
REGION = "us-east-1"
WORK = ROOT / "bench" / ".work"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--size-mib", type=int, default=100, help="upload size (default 100)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds (default 2)")
    parser.add_argument("--targets", default="file,s3", help="file, s3 or both (default)")
    parser.add_argument("--chunked", action="store_true", help="Transfer-Encoding: chunked")
    parser.add_argument(
        "--buffered", action="store_true", help="the control: the route that reads the body whole"
    )
    parser.add_argument("--port", type=int, default=18_091)
    parser.add_argument(
        "--out", type=Path, help="folder for the report (default bench/.work/results)"
    )
    args = parser.parse_args(argv)
    unknown = [t for t in args.targets.split(",") if t not in ("file", "s3")]
    if unknown:
        parser.error(f"unknown targets: {', '.join(unknown)}; known: file, s3")
    return args


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Moto:
    """moto's S3 server in a process of its own on 127.0.0.1, pinned to the client CPU."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        argv = ["taskset", "-c", str(CLIENT_CPU), sys.executable, "-m", "moto.server",
                "-H", "127.0.0.1", "-p", str(self.port)]  # fmt: skip
        with log.open("ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto's server exited with {self.proc.returncode}; see {log}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    break
            time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError(f"moto's server did not listen within 30 s; see {log}")
        self.client = boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION, **KEYS)
        self.bucket = f"bench-{uuid.uuid4().hex[:10]}"
        self.client.create_bucket(Bucket=self.bucket)

    def url(self) -> str:
        keys = "&".join(
            (f"access_key_id={KEYS['aws_access_key_id']}",
             f"secret_access_key={KEYS['aws_secret_access_key']}", f"region={REGION}")
        )  # fmt: skip
        return f"s3://{self.bucket}?endpoint_url={self.endpoint}&{keys}"

    def digest(self, key: str) -> tuple[int, str]:
        body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        sha, size = hashlib.sha256(), 0
        for chunk in body.iter_chunks(MIB):
            sha.update(chunk)
            size += len(chunk)
        return size, sha.hexdigest()

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no {field}")


def reset_peak(pid: int) -> None:
    """Set VmHWM back to the current RSS (Linux: writing 5 to clear_refs)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def payload(size: int, seed: bytes) -> tuple[Iterator[bytes], Any]:
    """An iterator of ``size`` bytes in SEND pieces, and the SHA-256 it fills as it goes."""
    sha = hashlib.sha256()
    block = hashlib.shake_256(seed).digest(MIB)  # PERF: one incompressible block, reused

    def pieces() -> Iterator[bytes]:
        sent = 0
        while sent < size:
            start = sent % MIB
            piece = block[start : start + min(SEND, size - sent, MIB - start)]
            sha.update(piece)
            sent += len(piece)
            yield piece

    return pieces(), sha


def upload(
    port: int, name: str, size: int, chunked: bool, route: str = "upload"
) -> tuple[float, str, dict[str, Any]]:
    """POST ``size`` bytes; return (seconds, SHA-256 sent, the JSON answer)."""
    body, sha = payload(size, name.encode())
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Content-Type": "application/octet-stream"}
    if not chunked:
        headers["Content-Length"] = str(size)
    try:
        began = time.perf_counter()
        conn.request("POST", f"/{route}/{name}", body=body, headers=headers, encode_chunked=chunked)
        response = conn.getresponse()
        answer = response.read()
        seconds = time.perf_counter() - began
    finally:
        conn.close()
    if response.status != 200:
        raise RuntimeError(f"upload answered {response.status}: {answer[:300]!r}")
    return seconds, sha.hexdigest(), json.loads(answer)


def file_digest(path: Path) -> tuple[int, str]:
    sha = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(MIB):
            sha.update(chunk)
    return path.stat().st_size, sha.hexdigest()


def measure(
    target: str, args: argparse.Namespace, moto: Moto | None, media: Path
) -> dict[str, Any]:
    """One round on one target: start the app, warm it, reset its peak, upload, verify."""
    url = moto.url() if moto is not None else f"file://{media}"
    size = args.size_mib * MIB
    env = (("PYTHONPATH", os.pathsep.join((str(ROOT / "src"), str(ROOT)))), ("STORAGE_URL", url))
    argv = (sys.executable, "-m", "celeris", "serve", "{module}:app", "--port", "{port}",
            "--workers", "1", "--no-access-log", "--limit-request-body", str(size + MIB))  # fmt: skip
    contender = Contender("celeris", "celeris", "celeris", "bench.storage.app", argv, env=env)
    server = Server(contender, "", args.port, SERVER_CPU, WORK / "logs" / f"storage-{target}.log")
    server.start()
    try:
        upload(server.port, "warmup.bin", 1024, args.chunked)
        time.sleep(0.5)
        pids = server.pids()
        idle = server.rss_kib()
        for pid in pids:
            reset_peak(pid)
        name = f"big-{uuid.uuid4().hex[:8]}.bin"
        route = "buffered" if args.buffered else "upload"
        seconds, sent, answer = upload(server.port, name, size, args.chunked, route)
        peak = sum(status_kib(pid, "VmHWM") for pid in pids)
        after = server.rss_kib()
        alive = server.alive()
    finally:
        server.stop()
    stored_name = str(answer["name"])
    if moto is not None:
        stored = moto.digest(stored_name)
        moto.delete(stored_name)
    else:
        stored = file_digest(media / stored_name)
        (media / stored_name).unlink()
    errors = []
    if answer.get("size") != size or stored != (size, sent):
        errors.append(f"stored {stored[0]} bytes (sha {stored[1][:12]}), sent {size} ({sent[:12]})")
    if not alive:
        errors.append("the server died")
    above = (peak - idle) * 1024
    if above >= LIMIT:
        errors.append(f"peak RSS {above / 1e6:.1f} MB above idle, over {LIMIT / 1e6:.0f} MB")
    return {"seconds": seconds, "idle_kib": idle, "peak_kib": peak, "after_kib": after,
            "above_bytes": above, "processes": len(pids), "errors": errors}  # fmt: skip


def machine() -> dict[str, str]:
    """environment.machine() without wrk, which this bench does not use."""
    try:
        return environment.machine()
    except OSError:
        return {
            "cpu": f"{os.cpu_count()} CPUs",
            "kernel": os.uname().release,
            "python": sys.version.split()[0],
        }


def render(data: dict[str, Any]) -> str:
    meta = data["meta"]
    mode = "chunked" if meta["chunked"] else "Content-Length"
    if meta.get("buffered"):
        mode += "; CONTROL: the route that reads the whole body first"
    out = [
        f"## {meta['date']}: {meta['size_mib']} MiB upload ({mode}), {meta['rounds']} rounds, "
        "medians",
        "",
        f"Load average at the start: {meta['load']} on {os.cpu_count()} CPUs (shared machine).",
        f"Machine: {meta['machine']['cpu']}, {meta['machine']['kernel']}, "
        f"Python {meta['machine']['python']}.",
        "",
        "| store | upload s | MB/s | idle RSS MB | peak RSS MB | peak above idle MB | under 64 MB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    titles = {"file": "local files (`file://`)", "s3": "S3 API (moto's server, `s3://`)"}
    for target, samples in data["samples"].items():
        if target in data["problems"] or not samples:
            out.append(f"| {titles[target]} | INVALID: {data['problems'].get(target)} | | | | | |")
            continue
        seconds = statistics.median(s["seconds"] for s in samples)
        idle = statistics.median(s["idle_kib"] for s in samples) * 1024 / 1e6
        peak = statistics.median(s["peak_kib"] for s in samples) * 1024 / 1e6
        above = max(s["above_bytes"] for s in samples) / 1e6
        worst = (
            "yes"
            if all(not s["errors"] for s in samples)
            else "NO: " + "; ".join(e for s in samples for e in s["errors"])
        )
        rate = meta["size_mib"] * MIB / 1e6 / seconds
        out.append(
            f"| {titles[target]} | {seconds:.2f} | {rate:.0f} | {idle:.1f} | {peak:.1f} | "
            f"{above:.1f} (worst round) | {worst} |"
        )
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    started = dt.datetime.now(dt.UTC)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    # NOTE: no wrk here (environment.ensure_tools would install it): taskset and 2 CPUs only.
    if shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
        print("bench: cannot run: it needs taskset (util-linux) and two CPUs", file=sys.stderr)
        return 1
    (WORK / "logs").mkdir(parents=True, exist_ok=True)
    os.sched_setaffinity(0, {CLIENT_CPU})  # NOTE: the client (this process) stays off CPU 0
    targets = args.targets.split(",")
    samples: dict[str, list[dict[str, Any]]] = {t: [] for t in targets}
    problems: dict[str, str] = {}
    media = WORK / f"storage-media-{uuid.uuid4().hex[:8]}"
    moto = Moto(WORK / "logs" / "storage-moto.log") if "s3" in targets else None
    try:
        for round_no in range(1, args.rounds + 1):
            for target in targets:
                if target in problems:
                    continue
                print(f"bench: round {round_no}/{args.rounds}: {target}", flush=True)
                try:
                    sample = measure(target, args, moto if target == "s3" else None, media)
                except (RuntimeError, OSError, KeyError, ValueError) as exc:
                    problems[target] = f"{type(exc).__name__}: {exc}"
                    print(f"bench:   {target}: {problems[target]}", flush=True)
                    continue
                samples[target].append(sample)
                print(f"bench:   {target:5} {sample['seconds']:.2f} s, peak "
                      f"{sample['above_bytes'] / 1e6:.1f} MB above idle "
                      f"{'; '.join(sample['errors'])}", flush=True)  # fmt: skip
    finally:
        if moto is not None:
            moto.stop()
        shutil.rmtree(media, ignore_errors=True)
    data = {
        "meta": {"date": started.strftime("%Y-%m-%d %H:%M UTC"), "size_mib": args.size_mib,
                 "rounds": args.rounds, "chunked": args.chunked, "buffered": args.buffered, "load": load,
                 "machine": machine()},
        "samples": samples,
        "problems": problems,
    }  # fmt: skip
    table = render(data)
    out = args.out or WORK / "results"
    out.mkdir(parents=True, exist_ok=True)
    stem = f"storage-{started.strftime('%Y-%m-%d')}"
    (out / f"{stem}.json").write_text(json.dumps(data, indent=1))
    (out / f"{stem}.md").write_text(table)
    print(table)
    failed = problems or any(s["errors"] for by in samples.values() for s in by)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
