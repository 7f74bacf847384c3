"""How the chat ended: the end view (the seeker's last 256 tokens beside the first 256) for final and change intensity.

Two models differ only in `end_view`; both are the `quick` preset on the bundled MiniLM (frozen encoder,
ridge intensity heads on layer 4 with TF-IDF terms). The `default` preset's intensity heads read the same
frozen layer 4 through the same ridge, so its intensity figures are these. The ridge is fitted in closed form,
so the intensity results do not depend on the seed.

1. ESConv test split (258 dialogues), each model trained on ESConv + FailedESConv-dev's train parts (the
   starter's data): MSE and Pearson r per target, against ZeroR fitted on the same training rows.
2. FailedESConv-dev by 5-fold cross-validation over its 98 chats (KFold, shuffled, seed 0): each fold's model
   trains on ESConv's train split plus the other four folds, with ESConv's val split for the ridge's choices,
   and predicts the held-out fold. Floors, fitted on each fold's training rows: ZeroR (their mean) and the
   failed chats' own constant (the mean of the other folds' failed chats).

    python bench/endings.py

Writes bench/results/endings.{json,md}.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import KFold

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from empathy_studio.labels import INTENSITY_TARGETS  # noqa: E402
from empathy_studio.metrics import regression_metrics  # noqa: E402
from empathy_studio.models.seeker_predictor import Predictor  # noqa: E402
from empathy_studio.registry import bundled_minilm_path  # noqa: E402
from empathy_studio.services import Studio  # noqa: E402
from empathy_studio.settings import apply_privacy_env, load_settings  # noqa: E402
from empathy_studio.training.config import preset  # noqa: E402
from empathy_studio.training.families import FAMILIES  # noqa: E402
from empathy_studio.training.trainer import TrainData, train  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS = {"first 256 tokens": False, "first 256 + last 256 tokens (end view)": True}
FOLDS = 5


def fit(train_rows, val_rows, labels, end_view: bool, out: Path):
    config = preset("quick", str(bundled_minilm_path()), end_view=end_view, output_dir=str(out))
    res = train(config, FAMILIES["seeker"], TrainData(train_rows, val_rows, labels))
    return Predictor(res.model, res.tokenizer, cache_size=0), res.extras["ridge"]


def scores(gold, pred) -> dict:
    m = regression_metrics(gold, pred)
    return {k: m[k] for k in ("mse", "pearson", "pearson_p", "n")}


def floor(gold, value) -> float:
    g = np.asarray(gold, dtype=float)
    ok = ~np.isnan(g)
    return float(np.mean((g[ok] - value) ** 2))


def mean_of(rows, target) -> float:
    return float(np.nanmean([getattr(e, target) for e in rows]))


def main() -> None:
    apply_privacy_env()
    studio = Studio(load_settings())
    esconv, labels = studio.sources.examples("esconv")
    failed, _ = studio.sources.examples("failed")
    chats = failed["train"] + failed["val"] + failed["test"]
    t0 = time.monotonic()
    out: dict = {"n_failed": len(chats), "variants": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name, end_view in VARIANTS.items():
            row: dict = {}
            # 1. ESConv test, trained on the starter's data
            train_rows = esconv["train"] + failed["train"]
            predictor, ridge = fit(train_rows, esconv["val"] + failed["val"], labels, end_view, Path(tmp) / "esconv")
            preds = predictor.predict([e.text for e in esconv["test"]])
            row["esconv_test"] = {
                t: {
                    **scores([getattr(e, t) for e in esconv["test"]], [p.intensity[t] for p in preds]),
                    "zeror_mse": floor([getattr(e, t) for e in esconv["test"]], mean_of(train_rows, t)),
                }
                for t in INTENSITY_TARGETS
            }
            row["ridge"] = {t: {k: v for k, v in r.items() if k != "residuals"} for t, r in ridge.items()}
            row["reads_end_share_test"] = float(np.mean([p.reads_end for p in preds]))
            # 2. FailedESConv by 5-fold cross-validation
            pred = {t: np.full(len(chats), np.nan) for t in ("final", "change")}
            zeror = {t: np.full(len(chats), np.nan) for t in pred}
            constant = {t: np.full(len(chats), np.nan) for t in pred}
            for k, (fit_idx, held) in enumerate(KFold(FOLDS, shuffle=True, random_state=0).split(chats)):
                others = [chats[i] for i in fit_idx]
                predictor, _ = fit(esconv["train"] + others, esconv["val"], labels, end_view, Path(tmp) / f"fold{k}")
                fold_preds = predictor.predict([chats[i].text for i in held])
                for t in pred:
                    pred[t][held] = [p.intensity[t] for p in fold_preds]
                    zeror[t][held] = mean_of(esconv["train"] + others, t)
                    constant[t][held] = mean_of(others, t)
                print(f"{name}: fold {k + 1}/{FOLDS} done ({time.monotonic() - t0:.0f} s)", flush=True)
            row["failed_cv"] = {}
            for t in pred:
                gold = np.array([getattr(e, t) for e in chats], dtype=float)
                ok = ~np.isnan(gold)
                row["failed_cv"][t] = {
                    **scores(gold[ok].tolist(), pred[t][ok].tolist()),
                    "zeror_mse": float(np.mean((gold[ok] - zeror[t][ok]) ** 2)),
                    "failed_constant_mse": float(np.mean((gold[ok] - constant[t][ok]) ** 2)),
                    "mean_pred": float(np.mean(pred[t][ok])),
                    "mean_gold": float(np.mean(gold[ok])),
                }
            out["variants"][name] = row
    out["seconds"] = round(time.monotonic() - t0, 1)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "endings.json").write_text(json.dumps(out, indent=2))
    (RESULTS / "endings.md").write_text(markdown(out))
    print(markdown(out))


def f(v, digits=4) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def markdown(out: dict) -> str:
    names = list(out["variants"])
    lines = [
        "# How the chat ended: the end view",
        "",
        f"Command: `python bench/endings.py` (CPU, 2 cores; {out['seconds']:.0f} s). The `quick` preset on the bundled MiniLM, with "
        "and without the end view; the `default` preset's intensity heads read the same frozen layer 4 through the same ridge. "
        "The ridge is fitted in closed form: one run is the result, not one draw of a seed.",
        "",
        "## ESConv test split (258 dialogues), trained on ESConv + FailedESConv-dev (train parts)",
        "",
        "| model | MSE initial | MSE final | MSE change | r initial | r final | r change |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in names:
        e = out["variants"][name]["esconv_test"]
        lines.append(
            f"| {name} | {f(e['initial']['mse'])} | {f(e['final']['mse'])} | {f(e['change']['mse'])} | "
            f"{f(e['initial']['pearson'], 3)} | {f(e['final']['pearson'], 3)} | {f(e['change']['pearson'], 3)} |"
        )
    e = out["variants"][names[0]]["esconv_test"]
    lines.append(
        f"| ZeroR (training means) | {f(e['initial']['zeror_mse'])} | {f(e['final']['zeror_mse'])} | {f(e['change']['zeror_mse'])} | | | |"
    )
    end = out["variants"][names[-1]]
    lines += [
        "",
        f"{end['reads_end_share_test']:.0%} of the test dialogues are longer than 256 tokens, so the end view reads something the first "
        "view does not. The end view's weight, chosen on val per target (0 = the opening alone): "
        + ", ".join(f"{t} {r.get('end_scale') or 0:g}" for t, r in end["ridge"].items())
        + ".",
        "",
        f"## FailedESConv-dev, 5-fold cross-validation over its {out['n_failed']} chats",
        "",
        "| model | target | n | MSE | ZeroR | failed chats' constant | Pearson r (p) | mean predicted | mean gold |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in names:
        for t, r in out["variants"][name]["failed_cv"].items():
            lines.append(
                f"| {name} | {t} | {r['n']} | {f(r['mse'])} | {f(r['zeror_mse'])} | {f(r['failed_constant_mse'])} | "
                f"{f(r['pearson'], 3)} ({f(r['pearson_p'], 3)}) | {f(r['mean_pred'], 2)} | {f(r['mean_gold'], 2)} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
