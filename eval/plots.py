"""PNG plots of a run (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

from eval.stats import Estimate, bootstrap_mean  # noqa: E402

FIGSIZE = (6.4, 4.0)
DPI = 110


def _safe_name(key: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", key.lower()).strip("_")


def bar_chart(path: Path, title: str, per_setup: dict[str, Estimate]) -> None:
    names = list(per_setup)
    means = [0.0 if math.isnan(e.mean) else e.mean for e in per_setup.values()]
    lower = [0.0 if math.isnan(e.mean) else e.mean - e.low for e in per_setup.values()]
    upper = [0.0 if math.isnan(e.mean) else e.high - e.mean for e in per_setup.values()]
    fig, ax = plt.subplots(figsize=FIGSIZE)
    bars = ax.bar(names, means, yerr=[lower, upper], capsize=6, color="#4C72B0")
    for bar, estimate in zip(bars, per_setup.values(), strict=True):
        label = "no value" if estimate.n == 0 else f"n={estimate.n}"
        ax.annotate(label, (bar.get_x() + bar.get_width() / 2, 0), ha="center", va="bottom", fontsize=8)
    ax.set_title(title)
    ax.set_ylabel("mean (95 % CI)")
    fig.tight_layout()
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
            x.mean, y.mean, xerr=[[x.mean - x.low], [x.high - x.mean]], yerr=[[y.mean - y.low], [y.high - y.mean]],
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
    plot_dir: Path, results: dict[str, Any], table: dict[str, dict[str, Estimate]], labels: dict[str, str]
) -> list[Path]:
    plot_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for key, per_setup in table.items():
        path = plot_dir / f"{_safe_name(key)}.png"
        bar_chart(path, labels.get(key, key), per_setup)
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
