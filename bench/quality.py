"""Model quality on the paper's splits: floors, our MiniLM models over several seeds, the paper's tables.

ESConv (Tables 2 and 3). Floors and probes, fitted on train and tuned on val in the same run:
- ZeroR (majority class, training means);
- TF-IDF (word 1-2 grams): logistic regression for emotion, ridge for each intensity target;
- frozen-embedding probes of the bundled MiniLM (mean-pooled; logistic regression for emotion,
  ridge on layer 4 for intensity): the first 256 tokens, the whole dialogue in 256-token chunks
  (longer context), and the seeker's situation text put first (an input the paper did not use).
Ours: `empathy-studio train --model minilm` (the default preset), multi-task and classification-only.
SAD (Table 1): ZeroR, TF-IDF and the frozen probe, then ours, classification-only.
Each of our rows is one run per seed, reported as mean ± std. A fine-tuned model that loses to
TF-IDF on a target says so.

    python bench/quality.py [--seeds 42 43 44] [--tasks multitask classify sad] [--models-dir DIR]

The seeds' models are also scored as one ensemble (probabilities and intensities averaged).
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
PAPER_BEST = {
    "f1_weighted": 0.6279,
    "mse_initial": 1.4290,
    "mse_final": 1.0760,
    "mse_change": 1.0700,
    "pearson_initial": 0.23,
    "pearson_final": 0.27,
}


SAD_PAPER = {"f1_weighted": 0.6508, "recall_weighted": 0.6579}
# SAD runs on the default preset, as ESConv does (fine-tuning the top two layers, mean pooling)
SAD_REQUEST = dict(preset="default")


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


def _classifier(Xtr, y_tr, Xva, y_va):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    return _tune(
        lambda C: LogisticRegression(C=C, max_iter=3000).fit(Xtr, y_tr),
        lambda m: f1_score(y_va, m.predict(Xva), average="weighted"),
        [0.1, 0.3, 1, 3, 10, 30],
    )


def _chunked(predictor, texts, size=254):
    """Features of whole texts: the mean over 256-token windows, each weighted by its tokens."""
    tok = predictor.tokenizer
    pieces, owner, weight = [], [], []
    for i, text in enumerate(texts):
        spans = tok(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"] or [(0, len(text))]
        for s in range(0, len(spans), size):
            part = spans[s : s + size]
            pieces.append(text[part[0][0] : part[-1][1]])
            owner.append(i)
            weight.append(len(part))
    emo, inten = predictor.embed(pieces)
    w = np.zeros((len(texts), len(pieces)))
    w[owner, range(len(pieces))] = weight
    w /= w.sum(1, keepdims=True)
    return w @ emo.numpy(), w @ inten.numpy()


def esconv_floors(splits) -> dict[str, dict]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import Ridge

    tr, va, te = splits["train"], splits["val"], splits["test"]
    out = {}
    y_tr, y_va = [d.emotion for d in tr], [d.emotion for d in va]

    def run(name, Xtr, Xva, Xte, Itr, Iva, Ite, seconds=None):
        clf, c = _classifier(Xtr, y_tr, Xva, y_va)
        preds = {}
        alphas = {}
        for t in INTENSITY_TARGETS:
            y = np.array([d.gold(t) for d in tr])
            yv = np.array([d.gold(t) for d in va])
            ok, okv = ~np.isnan(y), ~np.isnan(yv)
            reg, a = _tune(
                lambda a: Ridge(alpha=a).fit(Itr[ok], y[ok]),
                lambda m: -np.mean((m.predict(Iva[okv]) - yv[okv]) ** 2),
                [0.3, 1, 3, 10, 30, 100, 300, 1000],
            )
            preds[t], alphas[t] = list(reg.predict(Ite)), a
        gold_e, gold_i = _gold(te)
        out[name] = {**evaluate_predictions(gold_e, list(clf.predict(Xte)), gold_i, preds), "C": c, "alphas": alphas}
        if seconds is not None:
            out[name]["embed_seconds"] = round(seconds, 1)

    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    Xtr = vec.fit_transform([d.seeker_text for d in tr])
    Xva, Xte = vec.transform([d.seeker_text for d in va]), vec.transform([d.seeker_text for d in te])
    run("TF-IDF + LR / ridge", Xtr, Xva, Xte, Xtr, Xva, Xte)

    p = _probe_predictor()
    inputs = {
        "frozen MiniLM probe": (lambda d: d.seeker_text, p.embed),
        "frozen MiniLM probe, whole dialogue (256-token chunks)": (lambda d: d.seeker_text, lambda x: _chunked(p, x)),
        "frozen MiniLM probe, situation + dialogue (not in the paper)": (lambda d: f"{d.situation} {d.seeker_text}", p.embed),
    }
    for name, (text, embed) in inputs.items():
        t0 = time.perf_counter()
        emb = {k: [np.asarray(a) for a in embed([text(d) for d in v])] for k, v in splits.items()}
        run(name, *(emb[k][0] for k in ("train", "val", "test")), *(emb[k][1] for k in ("train", "val", "test")), time.perf_counter() - t0)
    return out


def _probe_predictor():
    from empathy_studio.models.seeker import HeadConfig, build_model
    from empathy_studio.models.seeker_predictor import Predictor
    from empathy_studio.registry import bundled_minilm_path

    model, tok = build_model(bundled_minilm_path(), HeadConfig(pooling="mean", intensity_layer=4))
    return Predictor(model, tok, max_length=256, batch_size=32, cache_size=0)


def sad_floors(splits, labels) -> dict[str, dict]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = {k: [e.text for e in v] for k, v in splits.items()}
    y = {k: [labels[e.label] for e in v] for k, v in splits.items()}
    out = {}
    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    X = {"train": vec.fit_transform(texts["train"])}
    X.update({k: vec.transform(texts[k]) for k in ("val", "test")})
    feats = {"TF-IDF + LR": X}
    p = _probe_predictor()
    feats["frozen MiniLM probe"] = {k: p.embed(v)[0].numpy() for k, v in texts.items()}
    for name, F in feats.items():
        clf, c = _classifier(F["train"], y["train"], F["val"], y["val"])
        out[name] = {**evaluate_predictions(y["test"], list(clf.predict(F["test"])), None, None), "C": c}
    return out


def agg(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return (float(np.mean(vals)), float(np.std(vals))) if vals else (None, None)


def cell(v):
    return "–" if v is None else f"{v:.4f}"


def table(
    keys, ours: dict[str, list[dict]], ensembles: dict[str, dict], floors: dict[str, dict], zeror: dict, paper: tuple[str, dict]
) -> list[str]:
    lines = ["| model | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for label, rows in ours.items():
        cells = []
        for k in keys:
            m, s = agg(rows, k)
            cells.append("–" if m is None else f"{m:.4f} ± {s:.4f}")
        lines.append(f"| **{label}** | " + " | ".join(cells) + " |")
    for label, m in ensembles.items():
        lines.append(f"| **{label}** | " + " | ".join(cell(m.get(k)) for k in keys) + " |")
    for name, m in floors.items():
        lines.append(f"| {name} | " + " | ".join(cell(m.get(k)) for k in keys) + " |")
    lines.append("| ZeroR | " + " | ".join(cell(zeror.get(k)) for k in keys) + " |")
    lines.append(f"| {paper[0]} | " + " | ".join(cell(paper[1].get(k)) for k in keys) + " |")
    return lines


def confusion_lines(res: dict) -> list[str]:
    labels, matrix = res["labels"], res["confusion"]
    lines = ["| gold \\ predicted | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
    lines += [f"| {g} | " + " | ".join(str(v) for v in row) + " |" for g, row in zip(labels, matrix)]
    return lines


# the bench's names for its runs -> the studio's task table
BENCH_TASKS = {"multitask": "emotion-intensity", "classify": "emotion", "sad": "stressor"}


def ensemble(studio: Studio, names: list[str], dataset: str) -> dict:
    """The seeds' models as one: probabilities and intensities averaged, on the test split."""
    splits, labels = studio.sources.examples(dataset)
    test = splits["test"]
    preds = [studio.predict_texts(n, [e.text for e in test]) for n in names]
    probs = np.mean([[[p.probs[lab] for lab in labels] for p in ps] for ps in preds], axis=0)
    gold = [labels[e.label] for e in test]
    if not preds[0][0].intensity:
        return evaluate_predictions(gold, [labels[i] for i in probs.argmax(1)], None, None)
    gold_int = {t: [getattr(e, t) for e in test] for t in INTENSITY_TARGETS}
    pred_int = {t: list(np.mean([[p.intensity[t] for p in ps] for ps in preds], axis=0)) for t in INTENSITY_TARGETS}
    return evaluate_predictions(gold, [labels[i] for i in probs.argmax(1)], gold_int, pred_int)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    ap.add_argument("--tasks", nargs="+", default=["multitask", "classify", "sad"], choices=["multitask", "classify", "sad"])
    ap.add_argument("--models-dir", type=Path, help="keep the trained models here; a model already there is evaluated, not trained again")
    args = ap.parse_args()
    apply_privacy_env()
    settings = load_settings()
    tmp = Path(tempfile.mkdtemp(prefix="es-quality-"))
    models_dir = args.models_dir or tmp / "models"
    studio = Studio(settings.replace(models_dir=models_dir, db_path=tmp / "q.sqlite", persistent_dir=None))
    report: dict = {"seeds": args.seeds, "tasks": args.tasks}
    runs: dict[str, list[dict]] = {t: [] for t in args.tasks}
    ensembles: dict[str, dict] = {}
    first: dict[str, dict] = {}

    def run_ours(task: str, dataset: str, request: dict) -> None:
        names = []
        for seed in args.seeds:
            name = f"minilm-{task}-s{seed}"
            names.append(name)
            t1 = time.perf_counter()
            if (models_dir / name / "manifest.json").exists():
                manifest = json.loads((models_dir / name / "manifest.json").read_text())
            else:
                manifest = studio.train_and_register(
                    TrainRequest(model="minilm", dataset=dataset, task=BENCH_TASKS[task], seed=seed, name=name, **request)
                )
            res = studio.evaluate(name, dataset, "test")
            per_class = res.pop("per_class")
            first.setdefault(task, {"per_class": per_class, "labels": [r["emotion"] for r in per_class], "confusion": res.pop("confusion")})
            res.pop("confusion", None)
            runs[task].append({"seed": seed, "wall_s": round(time.perf_counter() - t1, 1), "train_s": manifest["train_seconds"], **res})
            print(f"{name}: F1 {res['f1_weighted']:.4f}, MSE {res['mse_initial']}, wall {time.perf_counter() - t1:.0f} s", flush=True)
        if len(names) > 1:
            ensembles[task] = ensemble(studio, names, dataset)

    lines = [
        "# Model quality on the paper's splits",
        "",
        f"Command: `python bench/quality.py --seeds {' '.join(map(str, args.seeds))} --tasks {' '.join(args.tasks)}"
        f"{' --models-dir DIR' if args.models_dir else ''}` (CPU, 2 cores). "
        f"Each of our rows is mean ± std over {len(args.seeds)} seeds; floors and probes are fitted once."
        + (" Models already in DIR, from an earlier run of this command, were evaluated, not trained again." if args.models_dir else ""),
        "",
    ]

    esconv_tasks = [t for t in args.tasks if t != "sad"]
    if esconv_tasks:
        zeror = studio.evaluate("zeror", "esconv", "test")
        zeror.pop("per_class")
        t0 = time.perf_counter()
        base = esconv_floors(studio.esconv.splits)
        report["esconv"] = {"zeror": zeror, "floors": base, "floor_seconds": round(time.perf_counter() - t0, 1)}
        for task in esconv_tasks:
            run_ours(task, "esconv", {})
        report["esconv"]["ours"] = {t: runs[t] for t in esconv_tasks}
        report["esconv"]["ensembles"] = {t: ensembles[t] for t in esconv_tasks if t in ensembles}
        lines += ["## ESConv test split (258 dialogues; Tables 2 and 3)", ""]
        ens = {f"MiniLM, ours, {t}, {len(args.seeds)}-seed ensemble": ensembles[t] for t in esconv_tasks if t in ensembles}
        lines += table(
            KEYS, {f"MiniLM, ours, {t}": runs[t] for t in esconv_tasks}, ens, base, zeror, ("MentalRoBERTa multi-task (paper)", PAPER_BEST)
        )
        lines += ["", "### Against the floors and the targets", ""]
        tfidf = base["TF-IDF + LR / ridge"]
        for task in esconv_tasks:
            for k in KEYS:
                m, _ = agg(runs[task], k)
                if m is None or tfidf.get(k) is None:
                    continue
                worse = m > tfidf[k] if k.startswith("mse") else m < tfidf[k]
                lines.append(f"- MiniLM {task} {'loses to' if worse else 'beats'} TF-IDF on {k}: {m:.4f} vs {tfidf[k]:.4f}")
        mt = runs.get("multitask", [])
        if mt:
            f1, _ = agg(mt, "f1_weighted")
            lines.append(f"- weighted F1 {f1:.4f} against the target 0.63: {'met' if f1 >= 0.63 else 'not met'}")
            for t in INTENSITY_TARGETS:
                m, _ = agg(mt, f"mse_{t}")
                lines.append(
                    f"- MSE {t} {m:.4f} against ZeroR {zeror[f'mse_{t}']:.4f}: {'below' if m < zeror[f'mse_{t}'] else 'not below'}"
                )
            for t in ("initial", "final"):
                m, _ = agg(mt, f"pearson_{t}")
                lines.append(f"- Pearson r {t} {m:.4f} against the target 0.35: {'met' if m >= 0.35 else 'not met'}")

    if "sad" in args.tasks:
        splits, labels = studio.sources.examples("sad")
        zeror = studio.evaluate("zeror", "sad", "test")
        zeror.pop("per_class")
        t0 = time.perf_counter()
        base = sad_floors(splits, labels)
        report["sad"] = {"zeror": zeror, "floors": base, "floor_seconds": round(time.perf_counter() - t0, 1), "request": SAD_REQUEST}
        run_ours("sad", "sad", SAD_REQUEST)
        report["sad"]["ours"] = runs["sad"]
        report["sad"]["ensemble"] = ensembles.get("sad")
        keys = ["f1_weighted", "recall_weighted", "f1_macro"]
        lines += [
            "",
            f"## SAD test split ({zeror['n']} sentences, 9 classes; Table 1)",
            "",
            f"Ours: `empathy-studio train --model minilm --dataset sad --task classify --preset {SAD_REQUEST['preset']}`.",
            "",
        ]
        ens = {f"MiniLM, ours, classify, {len(args.seeds)}-seed ensemble": ensembles["sad"]} if "sad" in ensembles else {}
        lines += table(keys, {"MiniLM, ours, classify": runs["sad"]}, ens, base, zeror, ("MentalRoBERTa (paper)", SAD_PAPER))
        f1, _ = agg(runs["sad"], "f1_weighted")
        lines += ["", f"- weighted F1 {f1:.4f} against the target 0.65: {'met' if f1 >= 0.65 else 'not met'}"]
        tf = base["TF-IDF + LR"]["f1_weighted"]
        lines.append(f"- MiniLM {'beats' if f1 > tf else 'loses to'} TF-IDF on f1_weighted: {f1:.4f} vs {tf:.4f}")

    lines += ["", "## Per class and confusion, first seed", ""]
    for task, res in first.items():
        lines += [
            f"Per-class F1, {task}, seed {args.seeds[0]}: "
            + ", ".join(f"{r['emotion']} {r['f1']:.2f} (n {r['support']})" for r in res["per_class"]),
            "",
        ]
        if res["confusion"]:
            lines += confusion_lines(res) + [""]
    report["first_seed"] = first
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "quality.json").write_text(json.dumps(report, indent=2, default=float))
    (RESULTS / "quality.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
