"""Aggregation benchmark: which way of combining k raters gets closest to a truth known by construction.

The truth: ESConv's dialogues, with the seeker's own initial and final intensity (1-5) as the true values (ordinal),
and EPITOME's pairs with their gold levels (0-2 per mechanism; categorical). Simulated raters, 20 in a pool, each
item rated by k of them at random:

- careful: the truth plus N(0, 0.7) noise, rounded; 10% of their values a random level instead;
- biased: a careful rater's value plus one level;
- careless: a uniformly random level;
- straight-liner: always 3 (intensity) or always 0 (levels).

Grid: k = 3 and 5 with 0%, 10%, 20% and 30% bad raters of each bad kind. Each method of
`empathy_studio.aggregation` is scored on MSE and accuracy (its value rounded) against the truth, and on how well
the raters it flags are the bad ones (precision, recall). A plain inverse-variance reweighting of raters against the
consensus (hand-written, here only) is the baseline row beside the median. The bar's cell (k = 3, 20% careless) runs
on three seeds; the others on one. Wall time: 10,000 items x 5 ratings per method.

    python bench/aggregation.py [--seeds 3] [--quick]

With `--raters`, the flags of `empathy_studio.quality` instead: rushed raters (a random answer in under 2 s) and
straight-liners (always 3) among careful ones (k = 3 on ESConv, 10%, 20% and 30% of each bad kind, three seeds);
precision and recall of the flag meant for each kind, and the share of careful raters flagged at all, to
bench/results/rater-flags.md and .json. Bar: each kind caught with precision and recall >= 0.8, at most 5% of
careful raters flagged.

    python bench/aggregation.py --raters
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from empathy_studio.study.aggregation import DEFAULT_METHOD, METHODS, Result, aggregate  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DATA = ROOT.parent / "shared" / "data"
POOL = 20
BAR = {"k": 3, "bad": "careless", "share": 0.2, "mse_drop": 0.30, "precision": 0.8, "recall": 0.8}


def esconv_truth() -> np.ndarray:
    from empathy_studio.data import load_esconv

    out = []
    for d in load_esconv(DATA / "esconv" / "ESConv.json"):
        out += [v for v in (d.initial, d.final) if v == v]
    return np.array(out, dtype=int)


def epitome_truth() -> np.ndarray:
    from empathy_studio.epitome import epitome_pairs

    return np.array([lvl for p in epitome_pairs(DATA / "epitome") for lvl in p.levels], dtype=int)


def simulate(truth: np.ndarray, k: int, share: float, bad: str, lo: int, hi: int, rng: np.random.Generator) -> tuple[list, set[str]]:
    n_bad = int(round(share * POOL))
    kinds = ["careful"] * (POOL - n_bad) + [bad] * n_bad
    straight = 3 if lo == 1 else 0
    rows = []
    for item, t in enumerate(truth):
        for w in rng.choice(POOL, k, replace=False):
            kind = kinds[w]
            if kind == "careless":
                v = rng.integers(lo, hi + 1)
            elif kind == "straight":
                v = straight
            else:
                v = t + rng.normal(0, 0.7) if rng.random() > 0.1 else rng.integers(lo, hi + 1)
                v += kind == "biased"
            rows.append((f"r{w}", item, int(np.clip(round(v), lo, hi))))
    return rows, {f"r{w}" for w, kind in enumerate(kinds) if kind != "careful"}


def inverse_variance(rows: list, iters: int = 10) -> Result:
    """The baseline: start from the median; weight each rater by 1 / their mean squared distance from the consensus; repeat."""
    df = pd.DataFrame(rows, columns=["worker", "task", "label"])
    est = df.groupby("task")["label"].median()
    for _ in range(iters):
        var = ((df["label"] - est.loc[df["task"]].to_numpy()) ** 2).groupby(df["worker"]).mean() + 1e-3
        w = (1 / var).loc[df["worker"]].to_numpy()
        est = (df["label"] * w).groupby(df["task"]).sum() / pd.Series(w, index=df.index).groupby(df["task"]).sum()
    comp = 1 / var
    return Result(est.to_dict(), (comp / comp.max()).to_dict())


def score(result: Result, truth: np.ndarray, bad: set[str], ordinal: bool) -> dict:
    items = sorted(result.values)
    pred = np.array([np.nan if result.values[i] is None else float(result.values[i]) for i in items])
    true = truth[items].astype(float)
    ok = ~np.isnan(pred)
    flagged = set(result.flagged())
    hit = len(flagged & bad)
    return {
        "mse": float(np.mean((pred[ok] - true[ok]) ** 2)),
        "accuracy": float(np.mean(np.round(pred[ok]) == true[ok])),
        "decided": float(ok.mean()),
        "precision": hit / len(flagged) if flagged else (1.0 if not bad else 0.0),
        "recall": hit / len(bad) if bad else None,
        "flagged": len(flagged),
    }


def run_cell(truth: np.ndarray, k: int, share: float, bad: str, seed: int, ordinal: bool, lo: int, hi: int) -> dict:
    rng = np.random.default_rng(seed)
    rows, bad_set = simulate(truth, k, share, bad, lo, hi, rng)
    out = {}
    for method in [*METHODS, "inverse-variance"]:
        if method == "rasa" and not ordinal:
            continue  # it averages values: ordinal only
        t0 = time.perf_counter()
        result = inverse_variance(rows) if method == "inverse-variance" else aggregate(rows, method, ordinal=ordinal)
        out[method] = {**score(result, truth, bad_set, ordinal), "seconds": round(time.perf_counter() - t0, 2)}
    return out


def timing(ordinal: bool = True) -> dict:
    rng = np.random.default_rng(0)
    truth = rng.integers(1, 6, 10_000)
    rows, _ = simulate(truth, 5, 0.2, "careless", 1, 5, rng)
    out = {}
    for method in [*METHODS, "inverse-variance"]:
        t0 = time.perf_counter()
        inverse_variance(rows) if method == "inverse-variance" else aggregate(rows, method, ordinal=ordinal)
        out[method] = round(time.perf_counter() - t0, 2)
    return out


def rater_flags(seeds: int = 3) -> dict:
    """The quality flags against rushed raters and straight-liners hidden among careful ones (see the module's docstring)."""
    from empathy_studio.study.quality import QualityRules, assess, flag_kinds

    truth = esconv_truth()
    rules = QualityRules()
    cells = []
    for share in (0.1, 0.2, 0.3):
        for seed in range(seeds):
            rng = np.random.default_rng(100 + seed)
            n_bad = int(round(share * POOL))
            kinds = ["careful"] * (POOL - 2 * n_bad) + ["rushed"] * n_bad + ["straight"] * n_bad
            rows = []
            for item, t in enumerate(truth):
                for w in rng.choice(POOL, 3, replace=False):
                    kind = kinds[w]
                    if kind == "rushed":
                        v, secs = rng.integers(1, 6), rng.uniform(0.5, 2.0)
                    else:
                        v = 3 if kind == "straight" else (t + rng.normal(0, 0.7) if rng.random() > 0.1 else rng.integers(1, 6))
                        secs = float(rng.lognormal(np.log(25), 0.5))
                    rows.append({"annotator": f"r{w}", "item_id": item, "initial": int(np.clip(round(v), 1, 5)), "seconds": secs})
            reports = {rep["annotator"]: rep for rep in assess(rows, "initial", True, rules)}
            raised = {f"r{w}": (kind, flag_kinds(reports[f"r{w}"])) for w, kind in enumerate(kinds) if f"r{w}" in reports}
            cell = {
                "share": share,
                "seed": seed,
                "careful_flagged": float(np.mean([bool(f) for k, f in raised.values() if k == "careful"])),
            }
            for kind, flag in (("rushed", "rushed"), ("straight", "straight-lining")):
                hits = {r for r, (k, f) in raised.items() if flag in f}
                true = {r for r, (k, _) in raised.items() if k == kind}
                cell[kind] = {"precision": len(hits & true) / len(hits) if hits else 0.0, "recall": len(hits & true) / len(true)}
            cells.append(cell)
            print(f"raters {share:.0%} seed {seed}: {cell}", file=sys.stderr)
    worst = {kind: {m: min(c[kind][m] for c in cells) for m in ("precision", "recall")} for kind in ("rushed", "straight")}
    careful = max(c["careful_flagged"] for c in cells)
    passes = all(v >= 0.8 for w in worst.values() for v in w.values()) and careful <= 0.05
    return {
        "cells": cells,
        "worst": worst,
        "careful_flagged_max": careful,
        "passes": passes,
        "rules": rules.to_dict(),
        "command": "python bench/aggregation.py --raters",
        "pool": POOL,
    }


def flags_markdown(r: dict) -> str:
    lines = [
        f"# Rater flags against rushed raters and straight-liners (`{r['command']}`)",
        "",
        f"Pool of {r['pool']} simulated raters, k = 3 over ESConv's intensities; rules {r['rules']}. Bar: each kind caught "
        "with precision and recall >= 0.8 (worst cell), at most 5% of careful raters flagged: "
        f"**{'met' if r['passes'] else 'not met'}**.",
        "",
        "| bad raters (each kind) | seed | rushed P / R | straight-liners P / R | careful raters flagged |",
        "|---|---|---|---|---|",
    ]
    for c in r["cells"]:
        lines.append(
            f"| {c['share']:.0%} | {c['seed']} | {c['rushed']['precision']:.2f} / {c['rushed']['recall']:.2f} | "
            f"{c['straight']['precision']:.2f} / {c['straight']['recall']:.2f} | {c['careful_flagged']:.0%} |"
        )
    w = r["worst"]
    lines += [
        "",
        f"Worst: rushed {w['rushed']['precision']:.2f} / {w['rushed']['recall']:.2f}, straight-liners "
        f"{w['straight']['precision']:.2f} / {w['straight']['recall']:.2f}; careful flagged at most {r['careful_flagged_max']:.0%}.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3, help="seeds of the bar's cell")
    ap.add_argument("--quick", action="store_true", help="the bar's cell only (a smoke run)")
    ap.add_argument("--raters", action="store_true", help="the rater-quality flags instead (rushed raters, straight-liners)")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    if args.raters:
        flags = rater_flags(args.seeds)
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "rater-flags.json").write_text(json.dumps(flags, indent=1))
        (RESULTS / "rater-flags.md").write_text(flags_markdown(flags))
        print(flags_markdown(flags))
        return
    scales = {"intensity": (esconv_truth(), True, 1, 5), "levels": (epitome_truth(), False, 0, 2)}
    cells = []
    for scale, (truth, ordinal, lo, hi) in scales.items():
        for k in (3, 5):
            for share in (0.0, 0.1, 0.2, 0.3):
                for bad in ("careless", "biased", "straight"):
                    if share == 0.0 and bad != "careless":
                        continue  # no bad raters: one cell
                    is_bar = scale == "intensity" and k == BAR["k"] and bad == BAR["bad"] and share == BAR["share"]
                    if args.quick and not is_bar:
                        continue
                    for seed in range(args.seeds if is_bar else 1):
                        t0 = time.perf_counter()
                        res = run_cell(truth, k, share, bad, seed, ordinal, lo, hi)
                        cells.append(
                            {
                                "scale": scale,
                                "k": k,
                                "bad": bad if share else "none",
                                "share": share,
                                "seed": seed,
                                "n_items": len(truth),
                                "methods": res,
                            }
                        )
                        print(f"{scale} k={k} {share:.0%} {bad} seed {seed}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    bar_cells = [
        c for c in cells if c["scale"] == "intensity" and c["k"] == BAR["k"] and c["bad"] == BAR["bad"] and c["share"] == BAR["share"]
    ]
    verdict = {}
    for method in [*METHODS, "inverse-variance"]:
        drops = [1 - c["methods"][method]["mse"] / c["methods"]["median"]["mse"] for c in bar_cells if method in c["methods"]]
        prec = [c["methods"][method]["precision"] for c in bar_cells if method in c["methods"]]
        rec = [c["methods"][method]["recall"] for c in bar_cells if method in c["methods"]]
        if drops:
            verdict[method] = {
                "mse_drop_mean": float(np.mean(drops)),
                "mse_drop_min": float(np.min(drops)),
                "precision_min": float(np.min(prec)),
                "recall_min": float(np.min(rec)),
                "passes": bool(np.min(drops) >= BAR["mse_drop"] and np.min(prec) >= BAR["precision"] and np.min(rec) >= BAR["recall"]),
            }
    times = {} if args.quick else timing()
    result = {
        "bar": BAR,
        "default": DEFAULT_METHOD,
        "verdict": verdict,
        "cells": cells,
        "seconds_10k_x5": times,
        "pool": POOL,
        "machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
        "command": "python bench/aggregation.py" + (" --quick" if args.quick else ""),
    }
    RESULTS.mkdir(exist_ok=True)
    name = "aggregation-quick" if args.quick else "aggregation"
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1))
    (RESULTS / f"{name}.md").write_text(markdown(result))
    print(markdown(result))


def markdown(r: dict) -> str:
    lines = [
        f"# Aggregation of k raters against a known truth (`{r['command']}`)",
        "",
        f"Pool of {r['pool']} simulated raters; bar: at k = {r['bar']['k']} with {r['bar']['share']:.0%} {r['bar']['bad']} raters, "
        f"MSE at least {r['bar']['mse_drop']:.0%} below the median's, bad raters flagged with precision and recall >= 0.8 "
        f"(worst of the seeds). Default: **{r['default']}**.",
        "",
        "| method | MSE drop vs median (mean, worst) | flag precision (worst) | flag recall (worst) | meets the bar |",
        "|---|---|---|---|---|",
    ]
    for m, v in r["verdict"].items():
        lines.append(
            f"| {m} | {v['mse_drop_mean']:+.1%}, {v['mse_drop_min']:+.1%} | {v['precision_min']:.2f} | {v['recall_min']:.2f} | "
            f"{'yes' if v['passes'] else 'no'} |"
        )
    lines += [
        "",
        "Every cell (seed 0): MSE / accuracy against the truth; flagged precision / recall where there are bad raters.",
        "",
        "| scale | k | bad raters | " + " | ".join([*METHODS, "inverse-variance"]) + " |",
        "|---" * (3 + len(METHODS) + 1) + "|",
    ]
    for c in r["cells"]:
        if c["seed"]:
            continue
        cols = []
        for m in [*METHODS, "inverse-variance"]:
            v = c["methods"].get(m)
            cols.append(
                ""
                if v is None
                else f"{v['mse']:.3f} / {v['accuracy']:.2f}" + ("" if v["recall"] is None else f" ({v['precision']:.2f}/{v['recall']:.2f})")
            )
        lines.append(f"| {c['scale']} | {c['k']} | {c['share']:.0%} {c['bad']} | " + " | ".join(cols) + " |")
    if r["seconds_10k_x5"]:
        lines += [
            "",
            "Wall time, 10,000 items x 5 ratings (intensity): " + ", ".join(f"{m} {s:.1f} s" for m, s in r["seconds_10k_x5"].items()),
            "",
        ]
    lines += [f"Machine: {r['machine']}.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
