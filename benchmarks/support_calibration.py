"""Calibrate and measure the answer-support check on labelled sentence/passage pairs.

    python -m benchmarks.support_calibration      # writes benchmarks/results/support_calibration.{json,md}

For each pair in eval/data/support_pairs.jsonl (bokmål, nynorsk, English;
supported, unsupported, changed dose/number/frequency, negated, changed
medicine or route, same-topic claims) the check in rag/support.py scores every
sentence of the passage and applies the hard rules. A grid over the cosine
bands (same language, cross language) and the lexical gate gives precision
and recall of "supported"; the defaults are the grid point with the best
recall at a precision of at least 0.98 (the issue's bar), preferring the
stricter point on ties. Because the grid is fitted on the same pairs, a 5-fold
cross-validated estimate (fit on four fifths, measure on the fifth) is
reported beside it, and so is the lexical path alone (no embedder).
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.common import write_result
from rag.embeddings import SentenceVectorCache, get_embedder
from rag.language import detect_language
from rag.settings import Settings
from rag.support import (
    CROSS_LANGUAGE_BAND,
    LEXICAL_GATE,
    SAME_LANGUAGE_BAND,
    SemanticBand,
    SupportChecker,
    failed_rule,
    passage_sentences,
    same_language,
    sentence_score,
)

REPO = Path(__file__).resolve().parents[1]
PAIRS = REPO / "eval" / "data" / "support_pairs.jsonl"
PRECISION_BAR = 0.98
FOLDS = 5
# the bands are placed so that their midpoint is the decision; only the bands are searched
THRESHOLD = Settings.model_fields["support_threshold"].default
BAND_WIDTH = 0.06
SAME_MIDPOINTS = [0.93, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99]
CROSS_MIDPOINTS = [0.87, 0.88, 0.89, 0.90, 0.91, 0.92, 0.93, 0.94]
LEXICAL_GATES = [0.0, 0.5, 0.6, 0.7, 0.8]

Params = tuple[SemanticBand, SemanticBand, float]


@dataclass
class PairFeatures:
    id: str
    language: str
    kind: str
    supported: bool
    same: bool
    sentences: list[str]
    cosines: list[float]
    rules: list[str]
    claim: str


def features(pairs: list[dict], checker: SupportChecker) -> list[PairFeatures]:
    found = []
    for pair in pairs:
        passage_language = detect_language(pair["passage"])
        sentences = passage_sentences(pair["passage"])
        claim, *vectors = checker.vectors([pair["sentence"], *sentences])
        found.append(
            PairFeatures(
                id=pair["id"],
                language=pair["language"],
                kind=pair["kind"],
                supported=pair["label"] == "supported",
                same=same_language(pair["language"], passage_language),
                sentences=sentences,
                cosines=[float(np.dot(claim, v)) for v in vectors],
                rules=[failed_rule(pair["sentence"], s, pair["language"], passage_language) for s in sentences],
                claim=pair["sentence"],
            )
        )
    return found


def decide(f: PairFeatures, params: Params, *, semantic: bool = True) -> bool:
    same_band, cross_band, gate = params
    for sentence, cosine, rule in zip(f.sentences, f.cosines, f.rules, strict=True):
        score = sentence_score(
            f.claim, sentence, cosine if semantic else None, f.same, THRESHOLD, (same_band, cross_band), gate
        )
        if not rule and score >= THRESHOLD:
            return True
    return False


def confusion(rows: list[PairFeatures], params: Params, *, semantic: bool = True) -> dict:
    tp = fp = fn = tn = 0
    for f in rows:
        predicted = decide(f, params, semantic=semantic)
        tp += predicted and f.supported
        fp += predicted and not f.supported
        fn += (not predicted) and f.supported
        tn += (not predicted) and not f.supported
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn, "precision": round(precision, 4), "recall": round(recall, 4)}


def _band(midpoint: float) -> SemanticBand:
    return SemanticBand(round(midpoint - BAND_WIDTH / 2, 3), round(midpoint + BAND_WIDTH / 2, 3))


def grid() -> list[Params]:
    return [
        (_band(same), _band(cross), gate)
        for same, cross, gate in itertools.product(SAME_MIDPOINTS, CROSS_MIDPOINTS, LEXICAL_GATES)
    ]


def fit(rows: list[PairFeatures]) -> tuple[Params, dict]:
    """Best recall at precision >= the bar; ties go to the stricter bands."""
    best = None
    for params in grid():
        c = confusion(rows, params)
        key = (c["precision"] >= PRECISION_BAR, c["recall"], c["precision"], params[0].low + params[1].low, params[2])
        if best is None or key > best[0]:
            best = (key, params, c)
    assert best is not None
    return best[1], best[2]


def cross_validated(rows: list[PairFeatures]) -> dict:
    shuffled = rows[:]
    random.Random(7).shuffle(shuffled)
    totals = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    for fold in range(FOLDS):
        test = shuffled[fold::FOLDS]
        train = [r for i, r in enumerate(shuffled) if i % FOLDS != fold]
        params, _ = fit(train)
        c = confusion(test, params)
        for key in totals:
            totals[key] += c[key]
    tp, fp, fn = totals["tp"], totals["fp"], totals["fn"]
    return {**totals, "precision": round(tp / (tp + fp), 4) if tp + fp else 1.0, "recall": round(tp / (tp + fn), 4)}


def by_group(rows: list[PairFeatures], params: Params, key: str) -> dict:
    groups: dict[str, list[PairFeatures]] = {}
    for f in rows:
        groups.setdefault(getattr(f, key), []).append(f)
    return {
        name: {"n": len(items), "accepted": sum(decide(f, params) for f in items)}
        for name, items in sorted(groups.items())
    }


def _describe(params: Params) -> dict:
    same, cross, gate = params
    return {"same_band": vars(same), "cross_band": vars(cross), "lexical_gate": gate, "threshold": THRESHOLD}


def run() -> dict:
    settings = Settings(_env_file=None)
    embedder = get_embedder(settings)
    checker = SupportChecker(SentenceVectorCache(embedder, settings.sentence_vector_cache), settings.support_threshold)
    pairs = [json.loads(line) for line in PAIRS.read_text("utf-8").splitlines() if line.strip()]
    rows = features(pairs, checker)
    fitted, fitted_confusion = fit(rows)
    configured: Params = (SAME_LANGUAGE_BAND, CROSS_LANGUAGE_BAND, LEXICAL_GATE)
    return {
        "pairs": len(rows),
        "supported": sum(f.supported for f in rows),
        "embedder": embedder.identity,
        "configured": {**_describe(configured), **confusion(rows, configured)},
        "fitted": {**_describe(fitted), **fitted_confusion},
        "cross_validated": cross_validated(rows),
        "lexical_only": confusion(rows, configured, semantic=False),
        "accepted_by_kind": by_group(rows, configured, "kind"),
        "accepted_by_language": by_group(rows, configured, "language"),
        "unsupported_accepted": [f"{f.id} ({f.kind})" for f in rows if decide(f, configured) and not f.supported],
    }


def markdown(result: dict) -> str:
    def row(name: str, c: dict) -> str:
        return f"| {name} | {c['precision']:.3f} | {c['recall']:.3f} | {c['tp']} | {c['fp']} | {c['fn']} | {c['tn']} |"

    c, f = result["configured"], result["fitted"]
    lines = [
        "# Answer-support check: precision and recall on labelled pairs",
        "",
        f"{result['pairs']} sentence/passage pairs from `eval/data/support_pairs.jsonl` "
        f"({result['supported']} supported). Embedder: {result['embedder'].get('model')}.",
        "",
        "| Set-up | Precision (supported) | Recall (supported) | TP | FP | FN | TN |",
        "|---|---|---|---|---|---|---|",
        row(
            f"Configured defaults (cosine ≥ {(c['same_band']['low'] + c['same_band']['high']) / 2:.2f} same language with "
            f"lexical gate {c['lexical_gate']}, ≥ {(c['cross_band']['low'] + c['cross_band']['high']) / 2:.2f} across languages)",
            c,
        ),
        row(
            f"Best grid point on all pairs (≥ {(f['same_band']['low'] + f['same_band']['high']) / 2:.2f} / "
            f"≥ {(f['cross_band']['low'] + f['cross_band']['high']) / 2:.2f}, gate {f['lexical_gate']})",
            f,
        ),
        row("5-fold cross-validated (fit on 4/5, measured on the other 1/5)", result["cross_validated"]),
        row("Lexical path and hard rules only (no embedder)", result["lexical_only"]),
        "",
        "Accepted as supported, by kind (configured defaults):",
        "",
        "| Kind | Pairs | Accepted |",
        "|---|---|---|",
    ]
    lines += [f"| {kind} | {v['n']} | {v['accepted']} |" for kind, v in result["accepted_by_kind"].items()]
    lines += ["", "| Language | Pairs | Accepted |", "|---|---|---|"]
    lines += [f"| {lang} | {v['n']} | {v['accepted']} |" for lang, v in result["accepted_by_language"].items()]
    lines += ["", f"Unsupported pairs accepted at the defaults: {', '.join(result['unsupported_accepted']) or 'none'}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    result = run()
    write_result("support_calibration", result, markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
