"""Calibrated uncertainty and failed conversations, for the default model (`minilm-quick`), on ESConv alone and on ESConv + FailedESConv.

In one run, for each training set:
- the first-run model is built as the app builds it (`TrainRequest(model="minilm", preset="quick")`);
- ESConv test: its MSEs against ZeroR fitted on its own training data (it must stay below on all three);
- FailedESConv-dev test part (the same seeded split rule): final and change MSE against the constant
  of the failed chats' training mean, and Pearson r;
- calibration on the ESConv test split: ECE before and after temperature scaling, and the coverage of
  the 80% and 90% conformal intervals (target: within 3 points of nominal);
- the least text: the val curve behind `min_words`, and interval coverage on test texts cut to a few words.

    python bench/uncertainty.py [--models-dir DIR]

Writes bench/results/uncertainty.{json,md}, and the same tables into bench/results/quality.md
between its `uncertainty` markers.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from empathy_studio.metrics import regression_metrics  # noqa: E402
from empathy_studio.models.baselines import ZeroR  # noqa: E402
from empathy_studio.models.calibration import LEVELS, first_words, uncertainty_metrics  # noqa: E402
from empathy_studio.services import Studio, TrainRequest  # noqa: E402
from empathy_studio.settings import apply_privacy_env, load_settings  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TRAININGS = {"ESConv": None, "ESConv + FailedESConv": "esconv+failed"}
SHORT = (4, 8, 16, 32)


def one(studio: Studio, dataset: str | None) -> dict:
    t0 = time.monotonic()
    manifest = studio.train_and_register(TrainRequest(model="minilm", preset="quick", name="minilm-quick", dataset=dataset))
    built = time.monotonic() - t0
    out: dict = {"build_seconds": round(built, 1), "n_train": manifest["n_train"]}
    # ESConv test against ZeroR fitted on the model's own training data
    ev = studio.evaluate("minilm-quick", "esconv", "test")
    out["esconv"] = {k: ev[k] for k in ("n", "f1_weighted", "mse_initial", "mse_final", "mse_change", "pearson_initial", "pearson_final")}
    out["esconv_zeror"] = {k: ev["baseline"][k] for k in ("f1_weighted", "mse_initial", "mse_final", "mse_change")}
    out["zeror_fitted_on"] = ev["baseline"]["fitted_on"]
    # the failed chats' test part, against the constant of their own training mean
    splits, _ = studio.sources.examples("failed")
    const = ZeroR.fit(splits["train"]).means
    preds = studio.predict_texts("minilm-quick", [ex.text for ex in splits["test"]])
    failed = {"n_test": len(splits["test"])}
    for t in ("final", "change"):
        gold = [getattr(ex, t) for ex in splits["test"]]
        model = regression_metrics(gold, [p.intensity[t] for p in preds])
        baseline = regression_metrics(gold, [const[t]] * len(gold))
        failed[t] = {
            "mse": model["mse"],
            "constant_mse": baseline["mse"],
            "constant": const[t],
            "pearson": model["pearson"],
            "pearson_p": model["pearson_p"],
            "n": model["n"],
            "mean_predicted": float(np.nanmean([p.intensity[t] for p in preds])),
        }
    out["failed"] = failed
    # calibration on ESConv test
    predictor = studio.predictor("minilm-quick")
    esconv, labels = studio.sources.examples("esconv")
    test = esconv["test"]
    preds = predictor.predict([ex.text for ex in test])
    out["calibration"] = uncertainty_metrics(preds, test, labels, predictor.calibration)
    cal = predictor.calibration
    out["val_vs_test"] = {
        "zeror_mse_initial_val": cal.prefix_curve[0]["zeror_mse_initial"] if cal.prefix_curve else None,
        "zeror_mse_initial_test": ev["baseline"]["mse_initial"],
        "n_residuals": cal.n_residuals,
    }
    out["min_words"] = cal.min_words
    out["prefix_curve"] = cal.prefix_curve
    short = {}
    for n in SHORT:
        cut = predictor.predict([first_words(ex.text, n) for ex in test])
        for p in cut:  # the interval a short text would get if nothing stopped it
            p.intervals = cal.intervals(p.intensity)
        short[n] = {
            f"coverage_initial_{int(lv * 100)}": uncertainty_metrics(cut, test, labels, cal)[f"coverage_initial_{int(lv * 100)}"]
            for lv in LEVELS
        }
    out["short_text_coverage"] = short
    out["temperature"] = cal.temperature
    return out


def fmt(v, digits=4):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def markdown(results: dict) -> str:
    names = list(results["runs"])
    lines = [
        "## Calibrated uncertainty and failed conversations (the default model)",
        "",
        f"Command: `python bench/uncertainty.py` (CPU, 2 cores; {results['seconds']:.0f} s). The first-run model `minilm-quick` "
        "(frozen MiniLM, ridge intensity heads with TF-IDF terms) built on ESConv alone and on ESConv + FailedESConv-dev; "
        "FailedESConv's 98 chats are split by the same seeded rule as ESConv.",
        "",
        "### ESConv test split against ZeroR (fitted on the model's own training data)",
        "",
        "| trained on | F1 (weighted) | MSE initial | MSE final | MSE change | below ZeroR on all three MSEs |",
        "|---|---|---|---|---|---|",
    ]
    for name in names:
        r = results["runs"][name]
        below = all(r["esconv"][k] < r["esconv_zeror"][k] for k in ("mse_initial", "mse_final", "mse_change"))
        lines.append(
            f"| {name} | {fmt(r['esconv']['f1_weighted'])} | {fmt(r['esconv']['mse_initial'])} | {fmt(r['esconv']['mse_final'])} | "
            f"{fmt(r['esconv']['mse_change'])} | {'yes' if below else 'no'} |"
        )
        lines.append(
            f"| ZeroR, fitted on the {r['zeror_fitted_on'].split(' (')[0]} | {fmt(r['esconv_zeror']['f1_weighted'])} | "
            f"{fmt(r['esconv_zeror']['mse_initial'])} | "
            f"{fmt(r['esconv_zeror']['mse_final'])} | {fmt(r['esconv_zeror']['mse_change'])} | |"
        )
    first = results["runs"][names[0]]["failed"]
    lines += [
        "",
        f"### FailedESConv-dev, test part ({first['n_test']} chats; {first['final']['n']} with a final rating)",
        "",
        "| trained on | MSE final | constant (failed train mean) | mean predicted final | Pearson r final (p) | MSE change | constant | "
        "Pearson r change (p) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in names:
        f = results["runs"][name]["failed"]
        lines.append(
            f"| {name} | {fmt(f['final']['mse'])} | {fmt(f['final']['constant_mse'])} ({f['final']['constant']:.2f}) | "
            f"{fmt(f['final']['mean_predicted'], 2)} | {fmt(f['final']['pearson'], 3)} ({fmt(f['final']['pearson_p'], 3)}) | "
            f"{fmt(f['change']['mse'])} | {fmt(f['change']['constant_mse'])} ({f['change']['constant']:.2f}) | "
            f"{fmt(f['change']['pearson'], 3)} ({fmt(f['change']['pearson_p'], 3)}) |"
        )
    lines += [
        "",
        "### Calibration on the ESConv test split",
        "",
        "| trained on | temperature | ECE before | ECE after | initial 80% | initial 90% | final 80% | final 90% | change 80% | change "
        "90% |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in names:
        c = results["runs"][name]["calibration"]
        cov = " | ".join(fmt(c.get(f"coverage_{t}_{lv}"), 3) for t in ("initial", "final", "change") for lv in (80, 90))
        lines.append(f"| {name} | {c['temperature']:.3f} | {fmt(c['ece_before'])} | {fmt(c['ece_after'])} | {cov} |")
    r = results["runs"][names[-1]]
    vt = r["val_vs_test"]
    counts = ", ".join(f"{n} for {t}" for t, n in vt["n_residuals"].items())
    lines += [
        "",
        f"Intervals come from out-of-fold residuals of the ridge heads over train and val ({counts}). "
        f"ZeroR's initial MSE is {fmt(vt['zeror_mse_initial_val'])} on val and {fmt(vt['zeror_mse_initial_test'])} on test: "
        "the paper's test split is harder than the data the intervals are fitted on.",
        "",
        f"### The least text ({names[-1]}): min_words = {r['min_words']}",
        "",
        "Val texts cut to their first L words, against ZeroR (majority class; training mean):",
        "",
        "| words | accuracy | ZeroR accuracy | MSE initial | ZeroR MSE initial | beats ZeroR |",
        "|---|---|---|---|---|---|",
    ]
    for row in r["prefix_curve"]:
        lines.append(
            f"| {row['words']} | {fmt(row['accuracy'], 3)} | {fmt(row['zeror_accuracy'], 3)} | {fmt(row['mse_initial'])} | "
            f"{fmt(row['zeror_mse_initial'])} | {'yes' if row['beats_zeror'] else 'no'} |"
        )
    lines += [
        "",
        "Coverage of the initial-intensity intervals on ESConv test texts cut to L words (what a short text would be shown without the "
        "threshold):",
        "",
        "| words | 80% interval | 90% interval |",
        "|---|---|---|",
    ]
    for n, cov in r["short_text_coverage"].items():
        lines.append(f"| {n} | {fmt(cov['coverage_initial_80'], 3)} | {fmt(cov['coverage_initial_90'], 3)} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models-dir", help="where to build the models (default: a temporary folder)")
    ap.add_argument("--markdown-only", action="store_true", help="rewrite the markdown from bench/results/uncertainty.json")
    args = ap.parse_args()
    if args.markdown_only:
        write(json.loads((RESULTS / "uncertainty.json").read_text()))
        return 0
    apply_privacy_env()
    t0 = time.monotonic()
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(args.models_dir or tmp)
        for name, dataset in TRAININGS.items():
            folder = base / name.replace(" ", "").replace("+", "-")
            settings = load_settings(models_dir=folder, db_path=folder / "bench.sqlite", warm_predictions=False)
            studio = Studio(settings)
            if studio.sources.failed is None or studio.esconv.is_demo:
                print("needs ESConv and FailedESConv (space_config.yaml: esconv, failed_esconv)", file=sys.stderr)
                return 2
            runs[name] = one(studio, dataset)
            studio.close()
            print(name, json.dumps({k: runs[name][k] for k in ("esconv", "failed")}, default=str)[:400], file=sys.stderr)
    results = {"runs": runs, "seconds": time.monotonic() - t0}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "uncertainty.json").write_text(json.dumps(results, indent=2, default=str))
    write(results)
    return 0


def write(results: dict) -> None:
    md = markdown(results)
    (RESULTS / "uncertainty.md").write_text("# " + md.lstrip("# "))
    quality = RESULTS / "quality.md"
    start, end = "<!-- uncertainty: written by bench/uncertainty.py -->", "<!-- /uncertainty -->"
    text = quality.read_text() if quality.exists() else ""
    if start in text:
        text = text[: text.index(start)] + text[text.index(end) + len(end) :].lstrip("\n")
    quality.write_text(text.rstrip("\n") + f"\n\n{start}\n{md}{end}\n")
    print(md)


if __name__ == "__main__":
    raise SystemExit(main())
