"""Run wrk on the load-generator CPU and parse what it prints."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

LUA = Path(__file__).parent / "lua"
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run measured; ``errors`` lists why it is invalid, if it is."""

    requests_per_sec: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: tuple[str, ...]

    @property
    def valid(self) -> bool:
        return not self.errors


class WrkOutputError(ValueError):
    """wrk printed something this parser does not understand."""


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if match is None:
        raise WrkOutputError(f"unreadable latency {value!r}")
    return float(match[1]) * _UNITS[match[2]]


def parse(output: str) -> WrkResult:
    """Parse ``wrk --latency`` output into a result, noting non-2xx and socket errors."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    total = re.search(r"^\s*(\d+) requests in", output, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    if rps is None or total is None or p50 is None or p99 is None:
        raise WrkOutputError(f"no results in wrk output:\n{output}")
    errors: list[str] = []
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if non2xx and int(non2xx[1]):
        errors.append(f"{non2xx[1]} non-2xx responses")
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if sock and any(int(n) for n in sock.groups()):
        errors.append(
            "socket errors: connect {}, read {}, write {}, timeout {}".format(*sock.groups())
        )
    if int(total[1]) == 0:
        errors.append("no request completed")
    return WrkResult(float(rps[1]), _ms(p50[1]), _ms(p99[1]), int(total[1]), tuple(errors))


def command(
    url: str,
    duration: float,
    connections: int,
    script: str | None,
    args: tuple[str, ...],
    cpu: int,
    headers: tuple[str, ...] = (),
) -> list[str]:
    """Return the wrk command line, pinned to ``cpu``; ``headers`` are ``Name: value`` lines."""
    # NOTE: wrk reads whole seconds only.
    seconds = max(1, round(duration))
    argv = ["taskset", "-c", str(cpu), "wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
    argv += ["--latency", "--timeout", "5s"]
    for header in headers:
        argv += ["-H", header]
    if script is not None:
        argv += ["-s", str(LUA / script)]
    argv.append(url)
    if args:
        argv += ["--", *args]
    return argv


def run(
    url: str,
    duration: float,
    connections: int,
    script: str | None = None,
    args: tuple[str, ...] = (),
    cpu: int = 1,
    headers: tuple[str, ...] = (),
) -> WrkResult:
    """Run wrk once and return its parsed result."""
    argv = command(url, duration, connections, script, args, cpu, headers)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30, check=False)
    if done.returncode != 0:
        raise WrkOutputError(f"wrk exited {done.returncode}: {done.stderr.strip()}")
    return parse(done.stdout)
