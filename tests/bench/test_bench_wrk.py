"""bench/wrk.py: parsing wrk's output and building its command line."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench import wrk

CLEAN = """Running 2s test @ http://127.0.0.1:18080/plaintext
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.21ms    1.44ms  12.21ms   85.34%
    Req/Sec    76.14k    13.42k  104.84k    72.73%
  Latency Distribution
     50%  401.00us
     75%    1.73ms
     90%    3.23ms
     99%    6.86ms
  83295 requests in 1.10s, 11.36MB read
Requests/sec:  75677.53
Transfer/sec:     10.32MB
"""


def test_parse_clean_run() -> None:
    res = wrk.parse(CLEAN)
    assert res.requests_per_sec == pytest.approx(75677.53)
    assert res.requests == 83295
    assert res.p50_ms == pytest.approx(0.401)
    assert res.p99_ms == pytest.approx(6.86)
    assert res.valid


def test_non_2xx_and_socket_errors_invalidate() -> None:
    text = CLEAN.replace(
        "Requests/sec:",
        "  Socket errors: connect 0, read 3, write 0, timeout 1\n"
        "  Non-2xx or 3xx responses: 12\nRequests/sec:",
    )
    res = wrk.parse(text)
    assert not res.valid
    assert "12 non-2xx responses" in res.errors
    assert "socket errors: connect 0, read 3, write 0, timeout 1" in res.errors


def test_zero_socket_errors_stay_valid() -> None:
    text = CLEAN.replace(
        "Requests/sec:", "  Socket errors: connect 0, read 0, write 0, timeout 0\nRequests/sec:"
    )
    assert wrk.parse(text).valid


def test_no_completed_request_is_invalid() -> None:
    res = wrk.parse(CLEAN.replace("83295 requests in", "0 requests in"))
    assert res.errors == ("no request completed",)


def test_unreadable_output_raises() -> None:
    with pytest.raises(wrk.WrkOutputError, match="no results"):
        wrk.parse("unable to connect to 127.0.0.1:1 Connection refused\n")


@given(
    st.floats(min_value=0, max_value=10_000, allow_nan=False), st.sampled_from(["us", "ms", "s"])
)
def test_latency_units(value: float, unit: str) -> None:
    text = f"{value:.2f}{unit}"
    factor = {"us": 1e-3, "ms": 1.0, "s": 1000.0}[unit]
    assert wrk._ms(text) == pytest.approx(float(f"{value:.2f}") * factor)


def test_bad_latency_raises() -> None:
    with pytest.raises(wrk.WrkOutputError, match="unreadable latency"):
        wrk._ms("fast")


def test_command_pins_cpu_and_passes_script_args() -> None:
    argv = wrk.command("http://h/p", 2.6, 64, "pipeline.lua", ("16",), 1)
    assert argv[:3] == ["taskset", "-c", "1"]
    assert "-d3s" in argv  # whole seconds: wrk reads no fractions
    assert "-c64" in argv
    assert argv[argv.index("-s") + 1].endswith("bench/lua/pipeline.lua")
    assert argv[-3:] == ["http://h/p", "--", "16"]


def test_command_never_asks_for_zero_seconds() -> None:
    assert "-d1s" in wrk.command("http://h/p", 0.2, 8, None, (), 1)
