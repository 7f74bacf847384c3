"""ESConv test-split report: our trained models next to the paper's Tables 2 and 3 and ZeroR.

Every number in our rows is measured here, by evaluating each registered model
on the paper's 258-dialogue test split (seed-42 split). The paper's rows are
the published values (PAPER-NOTES). Training wall time comes from each model's
manifest, where `empathy-studio train` recorded it.

    python bench/esconv_report.py minilm-esconv minilm-esconv-paperheads minilm-quick
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from empathy_studio.services import Studio  # noqa: E402
from empathy_studio.settings import apply_privacy_env, load_settings  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
PAPER = [  # backbone, task, F1, recall, MSE initial, final, change (Tables 2 and 3, ESConv test split)
    ("MentalRoBERTa-base", "classify", 0.5881, 0.6163, None, None, None),
    ("MentalBERT-base", "classify", 0.5033, 0.5465, None, None, None),
    ("ModernBERT-base", "classify", 0.5075, 0.5426, None, None, None),
    ("MentalRoBERTa", "multitask", 0.6279, 0.6318, 1.4290, 1.0760, 1.0700),
    ("MentalBERT", "multitask", 0.5745, 0.5775, 1.6874, 1.4091, 1.3838),
    ("ModernBERT", "multitask", 0.5112, 0.5116, 1.3074, 1.0467, 1.0771),
]


def fmt(v) -> str:
    return "–" if v is None else f"{v:.4f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", help="registry names to evaluate")
    ap.add_argument("--out", default="esconv-minilm", help="stem of the result files in bench/results/")
    args = ap.parse_args()
    apply_privacy_env()
    studio = Studio(load_settings())
    rows = []
    zeror = studio.evaluate("zeror", "esconv", "test")
    for name in args.models:
        t0 = time.perf_counter()
        m = studio.evaluate(name, "esconv", "test")
        m.pop("per_class")
        manifest = studio.registry.get(name).manifest
        hyper = {k: v for k, v in manifest.get("hyperparameters", {}).items() if k not in ("encoder", "output_dir", "local_files_only")}
        rows.append(
            {
                "model": name,
                "eval_seconds": round(time.perf_counter() - t0, 1),
                "train_seconds": manifest.get("train_seconds"),
                "hyperparameters": hyper,
                "ridge": manifest.get("ridge"),
                **m,
            }
        )
    zeror.pop("per_class")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps({"zeror": zeror, "models": rows}, indent=2, default=str))

    lines = [
        f"# ESConv test split (258 dialogues): {', '.join(args.models)}",
        "",
        f"Command: `python bench/esconv_report.py {' '.join(args.models)}` (CPU, 2 cores). Our rows are evaluated by that command; "
        "the paper's rows are its published Tables 2 and 3.",
        "",
        "| model | task | F1 (weighted) | recall (weighted) | MSE initial | MSE final | MSE change | r initial | r final | train wall "
        "time |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        task = r["hyperparameters"].get("task", "multitask")
        secs = r.get("train_seconds")
        wall = "–" if not secs else (f"{secs / 60:.1f} min" if secs >= 60 else f"{secs:.0f} s (heads; plus the embedding pass)")
        lines.append(
            f"| **{r['model']}** (ours) | {task} | {fmt(r['f1_weighted'])} | {fmt(r['recall_weighted'])} | {fmt(r['mse_initial'])} | "
            f"{fmt(r['mse_final'])} | {fmt(r['mse_change'])} | {fmt(r['pearson_initial'])} | {fmt(r['pearson_final'])} | {wall} |"
        )
    for name, task, f1, rec, mi, mf, mc in PAPER:
        lines.append(f"| {name} (paper) | {task} | {fmt(f1)} | {fmt(rec)} | {fmt(mi)} | {fmt(mf)} | {fmt(mc)} | – | – | – |")
    lines.append(
        f"| ZeroR (measured here) | – | {fmt(zeror['f1_weighted'])} | {fmt(zeror['recall_weighted'])} | {fmt(zeror['mse_initial'])} | "
        f"{fmt(zeror['mse_final'])} | {fmt(zeror['mse_change'])} | – | – | – |"
    )
    lines += ["", "How each of our models was built (from its manifest):", ""]
    for r in rows:
        h = r["hyperparameters"]
        how = (
            "frozen encoder, heads on cached embeddings"
            if h.get("freeze_encoder")
            else f"fine-tuned, bottom {h.get('freeze_layers', 0)} layers frozen"
            if h.get("freeze_layers")
            else "fine-tuned, every layer"
        )
        alphas = ", ".join(str(v["alpha"]) for v in (r.get("ridge") or {}).values())
        scales = ", ".join(str(v["lexical_scale"]) for v in (r.get("ridge") or {}).values())
        ridge = f", ridge-fitted (alpha {alphas})" if r.get("ridge") else ""
        lexical = f" with TF-IDF terms (scale {scales})" if h.get("lexical_intensity") else ""
        lines.append(
            f"- {r['model']}: {how}; pooling {h.get('pooling')}; intensity head {h.get('intensity_head')}"
            f"{' on layer ' + str(h['intensity_layer']) if h.get('intensity_layer') is not None else ''}"
            f"{ridge}{lexical}; "
            f"lr {h.get('learning_rate')} / heads {h.get('head_learning_rate')}, batch {h.get('batch_size')}, max_length "
            f"{h.get('max_length')}, "
            f"up to {h.get('epochs')} epochs, patience {h.get('patience')} on val {h.get('select_metric')}"
        )
    lines += [
        "",
        "Commands: `empathy-studio train --model minilm --dataset esconv --name minilm-esconv` (the default preset); "
        "`empathy-studio train --model minilm --dataset esconv --preset paper-heads --name minilm-esconv-mt`; "
        "`minilm-quick` is built on first use (`empathy-studio predict --model minilm-quick --text ...`).",
        "",
    ]
    lines += ["Below ZeroR on intensity (lower MSE is better):", ""]
    for r in rows:
        marks = ", ".join(f"{t} {'yes' if (r[f'mse_{t}'] or 9) < zeror[f'mse_{t}'] else 'no'}" for t in ("initial", "final", "change"))
        lines.append(f"- {r['model']}: {marks}")
    (RESULTS / f"{args.out}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
