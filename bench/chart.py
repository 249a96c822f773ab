"""Draw the report's PNG chart from the results JSON (run in the peer venv: needs matplotlib).

Usage: ``python bench/chart.py RESULTS.json OUT.png``.
"""

from __future__ import annotations

import json
import math
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

REFERENCE = "celeris"


def draw(data: dict, out: str) -> None:
    """One horizontal bar panel per test; celeris in orange, invalid results left out."""
    summary = data["summary"]
    titles = data["meta"]["titles"]
    units = data["meta"]["units"]
    tests = [t for t in titles if t in summary]
    cols = 3
    rows = math.ceil(len(tests) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 3.6 * rows), squeeze=False)
    names = list(data["contenders"])
    for ax, test in zip(axes.flat, tests, strict=False):
        by = summary[test]
        shown = [n for n in names if n in by and by[n]["valid"] and by[n]["value"] > 0]
        values = [by[n]["value"] for n in shown]
        colours = ["#e8710a" if n.startswith(REFERENCE) else "#4c72b0" for n in shown]
        ax.barh(shown[::-1], values[::-1], color=colours[::-1])
        better = "lower is better" if test in ("idle", "coldstart") else "higher is better"
        ax.set_title(f"{titles[test]} ({units[test]}, {better})", fontsize=10)
        ax.tick_params(labelsize=8)
        for y, v in enumerate(values[::-1]):
            ax.text(v, y, f" {v:,.0f}" if v >= 100 else f" {v:.1f}", va="center", fontsize=7)
    for ax in list(axes.flat)[len(tests) :]:
        ax.axis("off")
    fig.suptitle(f"celeris benchmark {data['meta']['date']} — {data['meta']['conditions']}",
                 fontsize=10)  # fmt: skip
    fig.tight_layout()
    fig.savefig(out, dpi=90)


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as fh:
        draw(json.load(fh), sys.argv[2])
