"""Model quality on the paper's ESConv split: floors, our MiniLM models over several seeds, the paper's tables.

Floors, fitted on train and tuned on val in the same run:
- ZeroR (majority class, training means);
- TF-IDF (word 1-2 grams): logistic regression for emotion, ridge for each intensity target;
- frozen-embedding probe: the bundled MiniLM, mean-pooled, with logistic regression for emotion
  and ridge on layer 4 for intensity.
Ours: `empathy-studio train --model minilm` (the default preset), multi-task and classification-only,
one run per seed, reported as mean ± std. A fine-tuned model that loses to TF-IDF on a target says so.

    python bench/quality.py [--seeds 42 43 44] [--tasks multitask classify]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from empathy_studio.labels import INTENSITY_TARGETS  # noqa: E402
from empathy_studio.metrics import evaluate_predictions  # noqa: E402
from empathy_studio.services import Studio, TrainRequest  # noqa: E402
from empathy_studio.settings import apply_privacy_env, load_settings  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
KEYS = ["f1_weighted", "recall_weighted", "f1_macro", "mse_initial", "mse_final", "mse_change", "pearson_initial", "pearson_final"]
PAPER_BEST = {"f1_weighted": 0.6279, "mse_initial": 1.4290, "mse_final": 1.0760, "mse_change": 1.0700, "pearson_initial": 0.23, "pearson_final": 0.27}


def _gold(split):
    return [d.emotion for d in split], {t: [d.gold(t) for d in split] for t in INTENSITY_TARGETS}


def _tune(fit, score, grid):
    best = None
    for value in grid:
        model = fit(value)
        s = score(model)
        if best is None or s > best[0]:
            best = (s, value, model)
    return best[2], best[1]


def floors(splits) -> dict[str, dict]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.metrics import f1_score

    tr, va, te = splits["train"], splits["val"], splits["test"]
    out = {}
    y_tr, y_va = [d.emotion for d in tr], [d.emotion for d in va]

    def run(name, Xtr, Xva, Xte, Itr, Iva, Ite):
        clf, c = _tune(lambda C: LogisticRegression(C=C, max_iter=3000).fit(Xtr, y_tr),
                       lambda m: f1_score(y_va, m.predict(Xva), average="weighted"), [0.1, 0.3, 1, 3, 10, 30])
        preds = {}
        alphas = {}
        for t in INTENSITY_TARGETS:
            y = np.array([d.gold(t) for d in tr])
            yv = np.array([d.gold(t) for d in va])
            ok, okv = ~np.isnan(y), ~np.isnan(yv)
            reg, a = _tune(lambda a: Ridge(alpha=a).fit(Itr[ok], y[ok]), lambda m: -np.mean((m.predict(Iva[okv]) - yv[okv]) ** 2),
                           [0.3, 1, 3, 10, 30, 100, 300, 1000])
            preds[t], alphas[t] = list(reg.predict(Ite)), a
        gold_e, gold_i = _gold(te)
        out[name] = {**evaluate_predictions(gold_e, list(clf.predict(Xte)), gold_i, preds), "C": c, "alphas": alphas}

    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    Xtr = vec.fit_transform([d.seeker_text for d in tr])
    Xva, Xte = vec.transform([d.seeker_text for d in va]), vec.transform([d.seeker_text for d in te])
    run("TF-IDF + LR / ridge", Xtr, Xva, Xte, Xtr, Xva, Xte)

    from empathy_studio.inference import Predictor
    from empathy_studio.modeling import HeadConfig, build_model
    from empathy_studio.registry import bundled_minilm_path

    model, tok = build_model(bundled_minilm_path(), HeadConfig(pooling="mean", intensity_layer=4))
    p = Predictor(model, tok, max_length=256, batch_size=32, cache_size=0)
    emb = {k: p.embed([d.seeker_text for d in v]) for k, v in splits.items()}
    run("frozen MiniLM probe", *(emb[k][0].numpy() for k in ("train", "val", "test")), *(emb[k][1].numpy() for k in ("train", "val", "test")))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    ap.add_argument("--tasks", nargs="+", default=["multitask", "classify"], choices=["multitask", "classify"])
    args = ap.parse_args()
    apply_privacy_env()
    settings = load_settings()
    tmp = Path(tempfile.mkdtemp(prefix="es-quality-"))
    studio = Studio(settings.replace(models_dir=tmp / "models", db_path=tmp / "q.sqlite", persistent_dir=None))
    splits = studio.esconv.splits
    zeror = studio.evaluate("zeror", "esconv", "test")
    zeror.pop("per_class")
    t0 = time.perf_counter()
    base = floors(splits)
    floor_s = time.perf_counter() - t0

    runs: dict[str, list[dict]] = {t: [] for t in args.tasks}
    per_class = {}
    for task in args.tasks:
        for seed in args.seeds:
            name = f"minilm-{task}-s{seed}"
            t1 = time.perf_counter()
            manifest = studio.train_and_register(TrainRequest(model="minilm", task=task, seed=seed, name=name))
            res = studio.evaluate(name, "esconv", "test")
            per_class.setdefault(task, res.pop("per_class"))
            runs[task].append({"seed": seed, "wall_s": round(time.perf_counter() - t1, 1), "train_s": manifest["train_seconds"], **res})
            print(f"{name}: F1 {res['f1_weighted']:.4f}, MSE {res['mse_initial']}, wall {time.perf_counter() - t1:.0f} s", flush=True)

    def agg(rows, key):
        vals = [r[key] for r in rows if r.get(key) is not None]
        return (float(np.mean(vals)), float(np.std(vals))) if vals else (None, None)

    report = {"zeror": zeror, "floors": base, "floor_seconds": round(floor_s, 1), "ours": runs, "per_class_first_seed": per_class,
              "seeds": args.seeds}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "quality.json").write_text(json.dumps(report, indent=2, default=float))

    def cell(v):
        return "–" if v is None else f"{v:.4f}"

    lines = ["# Quality on the ESConv test split (258 dialogues, the paper's split)", "",
             f"Command: `python bench/quality.py --seeds {' '.join(map(str, args.seeds))} --tasks {' '.join(args.tasks)}` (CPU, 2 cores). "
             f"Floors took {floor_s:.0f} s; each of our rows is mean ± std over {len(args.seeds)} seeds.", "",
             "| model | " + " | ".join(KEYS) + " |", "|---" * (len(KEYS) + 1) + "|"]
    for task, rows in runs.items():
        cells = []
        for k in KEYS:
            m, s = agg(rows, k)
            cells.append("–" if m is None else f"{m:.4f} ± {s:.4f}")
        lines.append(f"| **MiniLM, ours, {task}** | " + " | ".join(cells) + " |")
    for name, m in base.items():
        lines.append(f"| {name} | " + " | ".join(cell(m.get(k)) for k in KEYS) + " |")
    lines.append("| ZeroR | " + " | ".join(cell(zeror.get(k)) for k in KEYS) + " |")
    lines.append("| MentalRoBERTa multi-task (paper) | " + " | ".join(cell(PAPER_BEST.get(k)) for k in KEYS) + " |")
    lines += ["", "## Against the floors and the targets", ""]
    tfidf = base["TF-IDF + LR / ridge"]
    for task, rows in runs.items():
        for k in KEYS:
            m, _ = agg(rows, k)
            if m is None or tfidf.get(k) is None:
                continue
            worse = m > tfidf[k] if k.startswith("mse") else m < tfidf[k]
            if worse:
                lines.append(f"- MiniLM {task} loses to TF-IDF on {k}: {m:.4f} vs {tfidf[k]:.4f}")
    mt = runs.get("multitask", [])
    if mt:
        f1, _ = agg(mt, "f1_weighted")
        lines.append(f"- weighted F1 {f1:.4f} against the target 0.63: {'met' if f1 >= 0.63 else 'not met'}")
        for t in INTENSITY_TARGETS:
            m, _ = agg(mt, f"mse_{t}")
            lines.append(f"- MSE {t} {m:.4f} against ZeroR {zeror[f'mse_{t}']:.4f}: {'below' if m < zeror[f'mse_{t}'] else 'not below'}")
        for t in ("initial", "final"):
            m, _ = agg(mt, f"pearson_{t}")
            lines.append(f"- Pearson r {t} {m:.4f} against the target 0.35: {'met' if m >= 0.35 else 'not met'}")
    for task, rows in per_class.items():
        lines += ["", f"Per-emotion F1, {task}, seed {args.seeds[0]}: " + ", ".join(f"{r['emotion']} {r['f1']:.2f} (n {r['support']})" for r in rows)]
    lines.append("")
    (RESULTS / "quality.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
