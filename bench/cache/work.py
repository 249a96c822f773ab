"""The costly page every contender serves: the same pure-Python computation, no framework.

Imported by the celeris app and the FastAPI app alike (and by the runner, to check answers),
so it imports nothing but the standard library.
"""

from __future__ import annotations

import itertools

ROWS = 40
LIMIT = 3_500  # PERF: tuned so one page costs about 3 ms of CPU on the bench machine


def _primes_below(limit: int) -> list[int]:
    # NOTE: trial division on purpose: the page must cost CPU, not be clever.
    found: list[int] = []
    for candidate in range(2, limit):
        if all(candidate % p for p in found if p * p <= candidate):
            found.append(candidate)
    return found


def page() -> dict[str, object]:
    """Return the report: per row, statistics over a window of primes."""
    primes = _primes_below(LIMIT)
    rows = []
    for row in range(ROWS):
        window = primes[row * 10 : row * 10 + 60]
        total = sum(window)
        rows.append(
            {
                "id": row + 1,
                "label": f"window-{row + 1:03d}",
                "first": window[0],
                "last": window[-1],
                "total": total,
                "mean": round(total / len(window), 3),
                "gaps": max(b - a for a, b in itertools.pairwise(window)),
            }
        )
    return {"rows": rows, "count": len(rows), "primes": len(primes)}
