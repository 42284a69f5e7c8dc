"""PNG plots of a run (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

from eval.stats import MIN_ITEMS_FOR_VERDICT, Estimate, bootstrap_mean  # noqa: E402

FIGSIZE = (6.4, 4.0)
DPI = 110


def _safe_name(key: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", key.lower()).strip("_")


def _bar_label(estimate: Estimate, failed: int) -> str:
    label = "no value" if estimate.n == 0 else f"n={estimate.n}"
    return f"{label}\nfailed={failed}" if failed else label


def bar_chart(path: Path, title: str, per_setup: dict[str, Estimate], failed: dict[str, int] | None = None) -> None:
    """Means with interval whiskers; under each bar its n and, where any,
    its failures (failed judgements, or answers the service could not give)."""
    failed = failed or {}
    names = list(per_setup)
    means = [0.0 if math.isnan(e.mean) else e.mean for e in per_setup.values()]
    # max(0, …): a bootstrap quantile can sit a rounding error beyond the mean.
    lower = [0.0 if math.isnan(e.mean) else max(0.0, e.mean - e.low) for e in per_setup.values()]
    upper = [0.0 if math.isnan(e.mean) else max(0.0, e.high - e.mean) for e in per_setup.values()]
    fig, ax = plt.subplots(figsize=FIGSIZE)
    bars = ax.bar(names, means, yerr=[lower, upper], capsize=6, color="#4C72B0")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels([f"{name}\n{_bar_label(per_setup[name], failed.get(name, 0))}" for name in names], fontsize=8)
    for bar, estimate in zip(bars, per_setup.values(), strict=True):
        if estimate.n and estimate.n < MIN_ITEMS_FOR_VERDICT:
            ax.annotate("too few", (bar.get_x() + bar.get_width() / 2, 0), ha="center", va="bottom", fontsize=8)
    ax.set_title(title)
    ax.set_ylabel("mean (95 % CI)")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


OUTCOME_COLOURS = {"generated": "#4C72B0", "quote": "#55A868", "refusal": "#C44E52", "error": "#8C8C8C"}


def outcomes_chart(path: Path, results: dict[str, Any]) -> None:
    """What each set-up showed, as shares of its questions (counts on the bars)."""
    from eval.records import record_outcome  # report imports plots lazily; keep it that way

    setups = results["setups"]
    counts = {o: [0] * len(setups) for o in OUTCOME_COLOURS}
    for record in results["records"]:
        counts[record_outcome(record)][setups.index(record["setup"])] += 1
    totals = [sum(counts[o][i] for o in counts) or 1 for i in range(len(setups))]
    fig, ax = plt.subplots(figsize=FIGSIZE)
    bottom = [0.0] * len(setups)
    for name, colour in OUTCOME_COLOURS.items():
        shares = [c / t for c, t in zip(counts[name], totals, strict=True)]
        bars = ax.bar(setups, shares, bottom=bottom, color=colour, label=name)
        for bar, count, base, share in zip(bars, counts[name], bottom, shares, strict=True):
            if count:
                ax.annotate(str(count), (bar.get_x() + bar.get_width() / 2, base + share / 2), ha="center", va="center", fontsize=8, color="white")
        bottom = [b + s for b, s in zip(bottom, shares, strict=True)]
    ax.set_xticks(range(len(setups)))
    ax.set_xticklabels([f"{s}\nn={sum(counts[o][i] for o in counts)}" for i, s in enumerate(setups)], fontsize=8)
    ax.set_ylabel("share of questions")
    ax.set_title("What the user was shown")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def paired_chart(path: Path, paired: list[Any]) -> None:
    """A − B per metric and pair, with interval and n; the line at 0 is no difference.
    Each metric is on its own scale, so each row is drawn relative to its own range."""
    fig, ax = plt.subplots(figsize=(FIGSIZE[0] + 3.6, max(2.5, 0.5 * len(paired) + 1)))
    if not paired:
        ax.text(0.5, 0.5, "no pairs to compare", ha="center", va="center", transform=ax.transAxes)
    for i, row in enumerate(paired):
        d = row.difference
        scale = max(abs(d.low), abs(d.high), 1e-9) if d.n else 1.0
        if d.n:
            xerr = [[max(0.0, d.mean - d.low) / scale], [max(0.0, d.high - d.mean) / scale]]
            ax.errorbar(d.mean / scale, i, xerr=xerr, fmt="o", capsize=4,
                        color="#4C72B0" if "better" in row.verdict or "higher" in row.verdict else "#8C8C8C")  # fmt: skip
        text = "no pairs" if not d.n else f"{d.mean:+.{row.digits}f} [{d.low:+.{row.digits}f}, {d.high:+.{row.digits}f}] n={d.n}"
        ax.annotate(text, (1.05, i), xycoords=("axes fraction", "data"), va="center", fontsize=7)
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(paired)))
    ax.set_yticklabels([f"{r.label}\n{r.a} − {r.b}" for r in paired], fontsize=7)
    ax.set_xlim(-1.1, 1.1)
    ax.set_xticks([])
    ax.invert_yaxis()
    ax.set_title("Paired differences A − B (grey: no verdict)")
    fig.tight_layout(rect=(0, 0, 0.72, 1))  # room on the right for the numbers
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def faithfulness_vs_latency(path: Path, results: dict[str, Any]) -> None:
    fig, ax = plt.subplots(figsize=FIGSIZE)
    plotted = False
    for setup in results["setups"]:
        xs, ys = [], []
        for r in results["records"]:
            value = r.get("judgements", {}).get("faithfulness", {}).get("value")
            total_ms = (r.get("timings") or {}).get("total_ms")
            if r["setup"] == setup and value is not None and total_ms:
                xs.append(total_ms / 1000)
                ys.append(value)
        if not xs:
            continue
        plotted = True
        points = ax.scatter(xs, ys, alpha=0.35, label=f"{setup} (per question)")
        x, y = bootstrap_mean(xs), bootstrap_mean(ys)
        ax.errorbar(
            x.mean, y.mean, xerr=[[max(0.0, x.mean - x.low)], [max(0.0, x.high - x.mean)]],
            yerr=[[max(0.0, y.mean - y.low)], [max(0.0, y.high - y.mean)]],
            fmt="o", markersize=9, capsize=5, color=points.get_facecolor()[0], label=f"{setup} (mean, 95 % CI)",
        )  # fmt: skip
    if not plotted:
        ax.text(0.5, 0.5, "no faithfulness scores", ha="center", va="center", transform=ax.transAxes)
    else:
        ax.legend(fontsize=8)
    ax.set_xlabel("total answer time per question (s)")
    ax.set_ylabel("faithfulness")
    ax.set_title("Faithfulness vs latency")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def render_all(
    plot_dir: Path,
    results: dict[str, Any],
    table: dict[str, dict[str, Estimate]],
    labels: dict[str, str],
    failures: dict[str, dict[str, int]] | None = None,
    paired: list[Any] | None = None,
) -> list[Path]:
    plot_dir.mkdir(parents=True, exist_ok=True)
    failures = failures or {}
    written = []
    for key, per_setup in table.items():
        if key.startswith(("outcome_", "quote_")) and key != "quote_ms":
            continue  # what was shown is one chart, outcomes.png
        path = plot_dir / f"{_safe_name(key)}.png"
        bar_chart(path, labels.get(key, key), per_setup, failures.get(key))
        written.append(path)
    path = plot_dir / "outcomes.png"
    outcomes_chart(path, results)
    written.append(path)
    path = plot_dir / "paired_differences.png"
    paired_chart(path, paired or [])
    written.append(path)
    path = plot_dir / "faithfulness_vs_latency.png"
    faithfulness_vs_latency(path, results)
    written.append(path)
    medqa = results.get("benchmarks", {}).get("normedqa")
    if medqa:
        path = plot_dir / "normedqa_accuracy.png"
        bar_chart(path, "NorMedQA accuracy (norm)", {m["model"]: Estimate(**m["accuracy_norm"]) for m in medqa["models"]})
        written.append(path)
    return written
