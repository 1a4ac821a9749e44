#!/usr/bin/env python3
"""Plots a soak's samples (the CSV the `soak` test writes with SOAK_CSV) as a PNG.

    python3 docs/soak/plot.py docs/soak/soak-30min.csv docs/soak/soak-30min.png \
        --title "..." --cache-mib 256 --shade 9.4 13.5 "other run"

Needs matplotlib (`pip install matplotlib`); nothing in CI runs it.
"""
import argparse
import csv

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def num(v):
    try:
        return float(v)
    except ValueError:
        return float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("png")
    ap.add_argument("--title", default="leadline soak")
    ap.add_argument("--cache-mib", type=float, help="draw sled's cache_capacity on the RSS panel")
    ap.add_argument("--shade", nargs=3, metavar=("FROM_MIN", "TO_MIN", "LABEL"), help="mark a time span")
    a = ap.parse_args()
    with open(a.csv, newline="") as f:
        rows = list(csv.DictReader(f))
    t = [num(r["t_s"]) / 60 for r in rows]

    def col(k):
        # A window without answered requests has no latency.
        return [num(r[k]) if not k.endswith("_ms") or r["requests"] != "0" else float("nan") for r in rows]

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
        if a.shade:
            ax.axvspan(float(a.shade[0]), float(a.shade[1]), color="grey", alpha=0.15, label=a.shade[2])
        if a.cache_mib and label.startswith("RSS"):
            ax.axhline(a.cache_mib, color="red", linestyle="--", linewidth=1, label="sled cache_capacity")
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", fontsize="small")
    axes[-1].set_xlabel("minutes")
    fig.suptitle(a.title)
    fig.tight_layout()
    fig.savefig(a.png, dpi=90)


if __name__ == "__main__":
    main()
