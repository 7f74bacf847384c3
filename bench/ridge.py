"""The seeker's intensity heads: the closed-form selection against one scikit-learn Ridge per cell, on ESConv's train split.

Both choose, per intensity target, the penalty (8 values) and the TF-IDF block's scale (5 values)
on validation MSE, and compute the 5-fold out-of-fold residuals of the chosen fit; the baseline is
`sklearn_grid` (what training ran before: 3 targets × 5 scales × 8 penalties dense Ridge fits, then
5 fits per target for the residuals), the closed form is `select_ridges`. Features: the bundled
MiniLM, frozen, layer 4 mean-pooled and standardised (the quick and default presets' intensity
features), of the configured ESConv (with FailedESConv, as the starter model trains). Both run in
the same process on the same features; the script checks that they choose the same and predict the
same (within 1e-6).

    python bench/ridge.py

Writes bench/results/ridge.{json,md}.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from empathy_studio.data import to_examples  # noqa: E402
from empathy_studio.labels import INTENSITY_TARGETS  # noqa: E402
from empathy_studio.models.heads import HeadConfig  # noqa: E402
from empathy_studio.models.lexical import fit_vectorizer  # noqa: E402
from empathy_studio.models.seeker import build_model  # noqa: E402
from empathy_studio.models.seeker_predictor import Predictor  # noqa: E402
from empathy_studio.registry import bundled_minilm_path  # noqa: E402
from empathy_studio.settings import apply_privacy_env, load_settings  # noqa: E402
from empathy_studio.sources import FAILED, DataSources  # noqa: E402
from empathy_studio.training.config import LEXICAL_SCALES, RIDGE_ALPHAS  # noqa: E402
from empathy_studio.training.ridge import select_ridges, sklearn_grid  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_S = 5.0


def main() -> int:
    apply_privacy_env()
    sources = DataSources.from_settings(load_settings())
    dataset = f"esconv+{FAILED}" if f"esconv+{FAILED}" in sources.esconv_datasets() else "esconv"
    splits = sources.esconv_like(dataset).splits
    train, val = to_examples(splits["train"]), to_examples(splits["val"])
    model, tok = build_model(bundled_minilm_path(), HeadConfig(pooling="mean", intensity_layer=4))
    embed = Predictor(model, tok, max_length=256, batch_size=32, cache_size=0).embed
    t0 = time.perf_counter()
    feats = {k: embed([e.text for e in rows])[1].numpy() for k, rows in (("train", train), ("val", val))}
    embed_s = time.perf_counter() - t0
    mu, sd = feats["train"].mean(0), feats["train"].std(0) + 1e-6
    z = {k: ((v - mu) / sd).astype(np.float64) for k, v in feats.items()}
    vec = fit_vectorizer([e.text for e in train])
    w = {k: vec.transform([e.text for e in rows]).astype(np.float64).tocsr() for k, rows in (("train", train), ("val", val))}
    ys = {t: (np.array([getattr(e, t) for e in train], float), np.array([getattr(e, t) for e in val], float)) for t in INTENSITY_TARGETS}

    t0 = time.perf_counter()
    ours = select_ridges(z["train"], z["val"], ys, w["train"], w["val"], LEXICAL_SCALES, RIDGE_ALPHAS)
    ours_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = sklearn_grid(z["train"], z["val"], ys, w["train"].toarray(), w["val"].toarray(), LEXICAL_SCALES, RIDGE_ALPHAS)
    ref_s = time.perf_counter() - t0

    same = {}
    for t in ys:
        a, b = ours[t], ref[t]
        pred = {name: z["val"] @ f.coef_z + w["val"] @ f.coef_w + f.intercept for name, f in (("ours", a), ("ref", b))}
        same[t] = {
            "alpha": [a.alpha, b.alpha],
            "scale": [a.scale, b.scale],
            "val_mse": [a.val_mse, b.val_mse],
            "max_abs_val_prediction_diff": float(np.abs(pred["ours"] - pred["ref"]).max()),
            "max_abs_residual_diff": float(np.abs(np.array(a.residuals) - np.array(b.residuals)).max()),
        }
    agree = all(
        s["alpha"][0] == s["alpha"][1]
        and s["scale"][0] == s["scale"][1]
        and s["max_abs_val_prediction_diff"] < 1e-6
        and s["max_abs_residual_diff"] < 1e-6
        for s in same.values()
    )
    out = {
        "dataset": dataset,
        "n_train": len(train),
        "n_val": len(val),
        "features": z["train"].shape[1],
        "tfidf_terms": w["train"].shape[1],
        "cells": len(INTENSITY_TARGETS) * len(LEXICAL_SCALES) * len(RIDGE_ALPHAS),
        "embedding_s": round(embed_s, 1),
        "closed_form_s": round(ours_s, 2),
        "sklearn_grid_s": round(ref_s, 1),
        "speedup": round(ref_s / ours_s, 1),
        "target_s": TARGET_S,
        "target_met": ours_s < TARGET_S,
        "same_choices_and_predictions": agree,
        "per_target": same,
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "python": platform.python_version()},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ridge.json").write_text(json.dumps(out, indent=2))
    lines = [
        "# Intensity heads: closed form against one scikit-learn Ridge per cell",
        "",
        f"Command: `python bench/ridge.py` ({os.cpu_count()} CPU cores, no GPU). {dataset} train split ({len(train)} texts, val "
        f"{len(val)}), "
        f"MiniLM layer-4 features ({out['features']}) and {out['tfidf_terms']:,} TF-IDF terms; {out['cells']} cells "
        f"(3 targets × {len(LEXICAL_SCALES)} scales × {len(RIDGE_ALPHAS)} penalties), then 5 out-of-fold fits per target.",
        "",
        "| | seconds | |",
        "|---|---|---|",
        f"| baseline: `sklearn_grid` (one dense `Ridge` per cell, `cross_val_predict`) | {out['sklearn_grid_s']} | |",
        f"| closed form: `select_ridges` | {out['closed_form_s']} | {out['speedup']}x faster; target under {TARGET_S:g} s: "
        f"{'met' if out['target_met'] else 'missed'} |",
        "",
        "| target | alpha (ours, sklearn) | scale | val MSE | max abs diff, val predictions | max abs diff, residuals |",
        "|---|---|---|---|---|---|",
    ]
    for t, s in same.items():
        lines.append(
            f"| {t} | {s['alpha'][0]:g}, {s['alpha'][1]:g} | {s['scale'][0]:g}, {s['scale'][1]:g} | {s['val_mse'][0]:.6f}, "
            f"{s['val_mse'][1]:.6f} | {s['max_abs_val_prediction_diff']:.1e} | {s['max_abs_residual_diff']:.1e} |"
        )
    lines += [
        "",
        f"Same choices and predictions within 1e-6: {'yes' if agree else 'NO'}. Embedding the texts (not part of either): "
        f"{out['embedding_s']} s.",
        "",
    ]
    (RESULTS / "ridge.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
