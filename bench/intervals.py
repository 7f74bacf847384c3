"""Intensity intervals: split conformal (what models ship) against intervals whose width follows the text.

The intensity heads of the `quick` and `default` presets (frozen MiniLM layer 4, the first 256 tokens, TF-IDF
terms, ridge chosen on val) are fitted as training fits them (`select_ridges`), on ESConv + FailedESConv-dev's
train parts with their val parts, and their out-of-fold residuals over train + val make each interval:

- **split conformal** (shipped): prediction ± the residuals' conformal quantile;
- **Mondrian by length**: the same, with one quantile per third of the texts by word count;
- **normalised**: residuals divided by a difficulty estimate (a ridge of |residual| on the log word count and the
  prediction, fitted on the out-of-fold residuals), the quantile of those, times the text's own estimate.

Coverage on ESConv's test split with its exact (Clopper-Pearson) 95% CI, per target and level, and the mean width.
Then the same on `--resplits` random re-draws of ESConv's split (`paper_split` with seeds 1..N): the mean coverage
and how often the nominal level lies inside the test split's CI. The features are embedded once; each re-draw
refits the ridge.

    python bench/intervals.py [--resplits 30]

Writes bench/results/intervals.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import binomtest
from sklearn.linear_model import Ridge

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from empathy_studio.data import paper_split  # noqa: E402
from empathy_studio.labels import INTENSITY_TARGETS  # noqa: E402
from empathy_studio.models.calibration import LEVELS, conformal_quantile, scale_of  # noqa: E402
from empathy_studio.models.heads import HeadConfig  # noqa: E402
from empathy_studio.models.lexical import fit_vectorizer  # noqa: E402
from empathy_studio.models.seeker import build_model  # noqa: E402
from empathy_studio.models.seeker_predictor import Predictor  # noqa: E402
from empathy_studio.registry import bundled_minilm_path  # noqa: E402
from empathy_studio.services import Studio  # noqa: E402
from empathy_studio.settings import apply_privacy_env, load_settings  # noqa: E402
from empathy_studio.training.config import LEXICAL_SCALES, RIDGE_ALPHAS  # noqa: E402
from empathy_studio.training.ridge import select_ridges  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
METHODS = ("split conformal", "Mondrian by length", "normalised")
BINS = 3


def words(rows) -> np.ndarray:
    return np.array([len(e.text.split()) for e in rows], dtype=float)


def intervals(method: str, res: np.ndarray, fit_words: np.ndarray, fit_pred: np.ndarray, pred: np.ndarray, n_words: np.ndarray, level):
    """Half-widths for the test rows, from out-of-fold residuals `res` of the rows with `fit_words` and `fit_pred`."""
    if method == "split conformal":
        return np.full(len(pred), conformal_quantile(res, level))
    if method == "Mondrian by length":
        edges = np.quantile(fit_words, np.linspace(0, 1, BINS + 1)[1:-1])
        fit_bin, bin_ = np.digitize(fit_words, edges), np.digitize(n_words, edges)
        q = {b: conformal_quantile(res[fit_bin == b], level) for b in range(BINS)}
        return np.array([q[b] for b in bin_])
    x = lambda w, p: np.c_[np.log(w + 1), p]  # noqa: E731
    sigma = Ridge(alpha=1.0).fit(x(fit_words, fit_pred), np.abs(res))
    s_fit = np.clip(sigma.predict(x(fit_words, fit_pred)), 0.05, None)
    s = np.clip(sigma.predict(x(n_words, pred)), 0.05, None)
    return conformal_quantile(res / s_fit, level) * s


def one_split(feats, texts, idx_train, idx_val, idx_test, golds, all_words) -> dict:
    """Each method's hits and widths on the test rows, per target and level."""
    mu, sd = feats[idx_train].mean(0), feats[idx_train].std(0) + 1e-6
    z = (feats - mu) / sd
    vec = fit_vectorizer([texts[i] for i in idx_train])
    w = vec.transform(texts).astype(np.float64).tocsr()
    ys = {t: (golds[t][idx_train], golds[t][idx_val]) for t in INTENSITY_TARGETS}
    fits = select_ridges(z[idx_train], z[idx_val], ys, w[idx_train], w[idx_val], LEXICAL_SCALES, RIDGE_ALPHAS)
    out = {}
    both = np.concatenate([idx_train, idx_val])
    for t, fit in fits.items():
        known = both[~np.isnan(golds[t][both])]  # the rows behind the residuals, in their order
        res = np.array(fit.residuals)
        fit_pred = golds[t][known] - res
        test = idx_test[~np.isnan(golds[t][idx_test])]
        lo, hi = scale_of(t)
        pred = np.clip(fit.predict(z[test], w[test]), lo, hi)
        for level in LEVELS:
            for method in METHODS:
                q = intervals(method, res, all_words[known], fit_pred, pred, all_words[test], level)
                a, b = np.maximum(lo, pred - q), np.minimum(hi, pred + q)
                gold = golds[t][test]
                out[(method, t, level)] = {"hits": int(np.sum((a <= gold) & (gold <= b))), "n": len(test), "width": float(np.mean(b - a))}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resplits", type=int, default=30)
    args = ap.parse_args()
    apply_privacy_env()
    studio = Studio(load_settings())
    t0 = time.monotonic()
    esconv, labels = studio.sources.examples("esconv")
    failed, _ = studio.sources.examples("failed")
    rows = esconv["train"] + esconv["val"] + esconv["test"] + failed["train"] + failed["val"]
    n_esconv = len(esconv["train"]) + len(esconv["val"]) + len(esconv["test"])
    fails = np.arange(n_esconv, len(rows))
    n_ftrain = len(failed["train"])
    model, tok = build_model(bundled_minilm_path(), HeadConfig(pooling="mean", intensity_head="linear", intensity_layer=4))
    texts = [e.text for e in rows]
    feats = Predictor(model, tok, max_length=256, cache_size=0).embed(texts)[1].numpy().astype(np.float64)
    embed_s = time.monotonic() - t0
    golds = {t: np.array([getattr(e, t) for e in rows], dtype=float) for t in INTENSITY_TARGETS}
    all_words = words(rows)

    def idx(part):
        return np.array([i for i, e in enumerate(rows[:n_esconv]) if e.item_id in part], dtype=int)

    paper = {k: {e.item_id for e in v} for k, v in esconv.items()}
    splits = [("paper", paper)]
    esconv_rows = rows[:n_esconv]
    for seed in range(1, args.resplits + 1):
        drawn = paper_split(esconv_rows, [e.label for e in esconv_rows], seed=seed)
        splits.append((f"seed {seed}", {k: {e.item_id for e in v} for k, v in drawn.items()}))
    runs = []
    for name, part in splits:
        tr = np.concatenate([idx(part["train"]), fails[:n_ftrain]])
        va = np.concatenate([idx(part["val"]), fails[n_ftrain:]])
        runs.append((name, one_split(feats, texts, tr, va, idx(part["test"]), golds, all_words)))
        print(f"{name} done ({time.monotonic() - t0:.0f} s)", flush=True)
    out = {"embed_seconds": round(embed_s, 1), "resplits": args.resplits, "paper": {}, "resplit": {}}
    for (method, t, level), r in runs[0][1].items():
        ci = binomtest(r["hits"], r["n"]).proportion_ci(0.95)
        out["paper"][f"{method}|{t}|{level}"] = {
            **r,
            "coverage": r["hits"] / r["n"],
            "ci95": [ci.low, ci.high],
            "holds": ci.low <= level <= ci.high,
        }
    for key in runs[0][1]:
        cov = [r[key]["hits"] / r[key]["n"] for _, r in runs[1:]]
        inside = [binomtest(r[key]["hits"], r[key]["n"]).proportion_ci(0.95) for _, r in runs[1:]]
        method, t, level = key
        out["resplit"][f"{method}|{t}|{level}"] = {
            "mean_coverage": float(np.mean(cov)),
            "sd": float(np.std(cov)),
            "nominal_inside_ci": float(np.mean([c.low <= level <= c.high for c in inside])),
            "mean_width": float(np.mean([r[key]["width"] for _, r in runs[1:]])),
        }
    out["seconds"] = round(time.monotonic() - t0, 1)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "intervals.json").write_text(json.dumps(out, indent=2))
    (RESULTS / "intervals.md").write_text(markdown(out))
    print(markdown(out))


def markdown(out: dict) -> str:
    lines = [
        "# Intensity intervals: split conformal against widths that follow the text",
        "",
        f"Command: `python bench/intervals.py --resplits {out['resplits']}` (CPU, 2 cores; {out['seconds']:.0f} s, of which embedding "
        f"{out['embed_seconds']:.0f} s). Intensity heads as the `quick` and `default` presets fit them (layer 4, TF-IDF, ridge chosen "
        "on val), trained on ESConv + FailedESConv-dev.",
        "",
        "## ESConv's test split (the paper's), exact binomial 95% CI",
        "",
        "| method | target | level | n | coverage | 95% CI | nominal inside | mean width |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, r in out["paper"].items():
        method, t, level = key.split("|")
        lines.append(
            f"| {method} | {t} | {float(level):.0%} | {r['n']} | {r['coverage']:.3f} | {r['ci95'][0]:.3f} to {r['ci95'][1]:.3f} | "
            f"{'yes' if r['holds'] else 'no'} | {r['width']:.2f} |"
        )
    lines += [
        "",
        f"## {out['resplits']} random re-draws of ESConv's split (seeds 1..{out['resplits']})",
        "",
        "| method | target | level | mean coverage ± sd | nominal inside the test CI | mean width |",
        "|---|---|---|---|---|---|",
    ]
    for key, r in out["resplit"].items():
        method, t, level = key.split("|")
        lines.append(
            f"| {method} | {t} | {float(level):.0%} | {r['mean_coverage']:.3f} ± {r['sd']:.3f} | {r['nominal_inside_ci']:.0%} | "
            f"{r['mean_width']:.2f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
