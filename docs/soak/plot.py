#!/usr/bin/env python3
"""Plots a soak's samples (the CSV the `soak` test writes with SOAK_CSV) as a PNG.

    python3 docs/soak/plot.py docs/soak/soak-30min.csv docs/soak/soak-30min.png

Needs matplotlib (`pip install matplotlib`); nothing in CI runs it.
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def num(v):
    try:
        return float(v)
    except ValueError:
        return float("nan")


def main(src, dst, title=None):
    with open(src, newline="") as f:
        rows = list(csv.DictReader(f))
    t = [num(r["t_s"]) / 60 for r in rows]
    col = lambda k: [num(r[k]) for r in rows]  # noqa: E731
    panels = [
        ("RSS (MiB)", [("rss_mib", "RSS")]),
        ("sled data dir (MiB)", [("data_mib", "data dir")]),
        ("lead actors / stored leads (thousands)", None),
        ("open file descriptors", [("fds", "fds"), ("threads", "threads")]),
        ("latency per 30 s window (ms)", [("p50_ms", "p50"), ("p99_ms", "p99")]),
    ]
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 13), sharex=True)
    for ax, (label, series) in zip(axes, panels):
        if series is None:
            ax.plot(t, [v / 1000 for v in col("live_actors")], label="live lead actors", marker=".")
            ax.plot(t, [v / 1000 for v in col("leads_stored")], label="stored leads", marker=".")
        else:
            for key, name in series:
                ax.plot(t, col(key), label=name, marker=".")
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", fontsize="small")
    axes[-1].set_xlabel("minutes")
    fig.suptitle(title or "leadline soak")
    fig.tight_layout()
    fig.savefig(dst, dpi=90)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
