"""The plots beside the results: accuracy against noise, latency against catalog size."""

from __future__ import annotations

from pathlib import Path

from bench import queries as query_set


def accuracy_plot(report: dict, path: Path) -> None:
    """Accuracy against white-noise SNR, one line per query length and engine."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    snrs = [("white+10", 10), ("white+5", 5), ("white0", 0), ("white-5", -5), ("white-10", -10)]
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for name, style in (("earshot", "-"), ("dejavu", "--")):
        scored = report.get(name)
        if not scored:
            continue
        for length, color in zip(
            query_set.LENGTHS_S, ["#d62728", "#ff7f0e", "#2ca02c", "#1f77b4", "#9467bd"], strict=True
        ):
            ys = [scored["accuracy"][c][f"{length:g}"] for c, _ in snrs]
            axis.plot(
                [s for _, s in snrs],
                ys,
                style,
                color=color,
                marker="o" if style == "-" else "x",
                label=f"{name.capitalize()} {length:g} s",
            )
    axis.set_xlabel("white-noise SNR (dB)")
    axis.set_ylabel("top-1 accuracy (%)")
    axis.set_title("Accuracy vs SNR per query length (solid: Earshot, dashed: Dejavu)")
    axis.invert_xaxis()
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def growth_plot(points: list[dict], path: Path) -> None:
    """Latency p50 and p95 against the hashes stored."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    rows = [p["rows"] for p in points]
    axis.plot(rows, [p["p50_ms"] for p in points], "o-", label="p50")
    axis.plot(rows, [p["p95_ms"] for p in points], "s--", label="p95")
    axis.set_xscale("log")
    axis.set_xlabel("hashes stored (triplet rows + packed pairs)")
    axis.set_ylabel("query latency, engine + PostgreSQL (ms)")
    axis.set_title("5 s queries against a growing table (2 cores)")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
