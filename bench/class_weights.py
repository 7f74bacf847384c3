"""Class weights for the seeker model's emotions (`train --class-weight P`): weighted F1 and the rare classes' F1.

Each (weight, seed) is `empathy-studio train --model minilm --dataset esconv --class-weight P --seed S` (the default
preset, as `bench/quality.py` trains it), scored on ESConv's val split (where a weight is chosen) and test split;
ZeroR in the same run, and each weight's seeds as one ensemble (their probabilities averaged). A model already in
`--models-dir` is scored, not trained again.

    python bench/class_weights.py --weights 0 0.5 --seeds 42 43 44 --models-dir DIR

Writes bench/results/class-weights.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from empathy_studio.services import Studio, TrainRequest  # noqa: E402
from empathy_studio.settings import apply_privacy_env, load_settings  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
RARE = ("disgust", "fear", "shame")


def scores(studio: Studio, name: str, split: str) -> dict:
    res = studio.evaluate(name, "esconv", split)
    out = {k: res[k] for k in ("f1_weighted", "f1_macro", "recall_weighted")}
    out.update({f"f1_{r['emotion']}": r["f1"] for r in res["per_class"]})
    return out


def ensemble(studio: Studio, names: list[str], split: str) -> dict:
    """The seeds' models as one: their emotion probabilities averaged."""
    splits, labels = studio.sources.examples("esconv")
    rows = splits[split]
    probs = np.mean([[[p.probs[lab] for lab in labels] for p in studio.predict_texts(n, [e.text for e in rows])] for n in names], axis=0)
    guess = probs.argmax(1)
    gold = [e.label for e in rows]
    return {
        "f1_weighted": f1_score(gold, guess, average="weighted"),
        "f1_macro": f1_score(gold, guess, average="macro"),
        **{f"f1_{labels[c]}": f for c, f in enumerate(f1_score(gold, guess, average=None, labels=range(len(labels))))},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.5])
    ap.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    ap.add_argument("--models-dir", type=Path, required=True)
    args = ap.parse_args()
    apply_privacy_env()
    tmp = Path(tempfile.mkdtemp(prefix="es-class-weights-"))
    studio = Studio(load_settings().replace(models_dir=args.models_dir, db_path=tmp / "cw.sqlite", persistent_dir=None))
    out: dict = {"weights": args.weights, "seeds": args.seeds, "groups": {}}
    for w in args.weights:
        runs = []
        for seed in args.seeds:
            name = f"minilm-cw{w:g}-s{seed}"
            t0 = time.perf_counter()
            if not (args.models_dir / name / "manifest.json").exists():
                studio.train_and_register(
                    TrainRequest(model="minilm", dataset="esconv", seed=seed, name=name, **({"class_weight": w} if w else {}))
                )
            runs.append({"seed": seed, "val": scores(studio, name, "val"), "test": scores(studio, name, "test")})
            print(f"{name}: test F1 {runs[-1]['test']['f1_weighted']:.4f} ({time.perf_counter() - t0:.0f} s)", flush=True)
        out["groups"][f"{w:g}"] = runs
        if len(args.seeds) > 1:
            out.setdefault("ensembles", {})[f"{w:g}"] = {
                split: ensemble(studio, [f"minilm-cw{w:g}-s{seed}" for seed in args.seeds], split) for split in ("val", "test")
            }
    out["zeror"] = {split: {k: v for k, v in scores(studio, "zeror", split).items()} for split in ("val", "test")}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "class-weights.json").write_text(json.dumps(out, indent=1))
    (RESULTS / "class-weights.md").write_text(markdown(out, args))
    print(markdown(out, args))


def markdown(out: dict, args: argparse.Namespace) -> str:
    keys = ["f1_weighted", "f1_macro", *(f"f1_{c}" for c in RARE)]
    lines = [
        "# Class weights for the seeker model's emotions",
        "",
        f"Command: `python bench/class_weights.py --weights {' '.join(f'{w:g}' for w in args.weights)} --seeds "
        f"{' '.join(map(str, args.seeds))} --models-dir DIR` (CPU, 2 cores). The default preset on ESConv; mean ± std over the "
        "seeds. A weight is chosen on val; test is reported beside it.",
        "",
        "| class weight | split | " + " | ".join(k.replace("f1_", "F1 ") for k in keys) + " |",
        "|---|---|" + "---|" * len(keys),
    ]
    for w, runs in out["groups"].items():
        for split in ("val", "test"):
            cells = []
            for k in keys:
                v = [r[split][k] for r in runs if r[split].get(k) is not None]
                cells.append(f"{np.mean(v):.4f} ± {np.std(v):.4f}" if len(v) > 1 else (f"{v[0]:.4f}" if v else "–"))
            lines.append(f"| {w} | {split} | " + " | ".join(cells) + " |")
    for w, by_split in out.get("ensembles", {}).items():
        for split, e in by_split.items():
            lines.append(f"| {w}, the seeds as one ensemble | {split} | " + " | ".join(f"{e[k]:.4f}" for k in keys) + " |")
    for split in ("val", "test"):
        z = out["zeror"][split]
        lines.append(f"| ZeroR | {split} | " + " | ".join(f"{z[k]:.4f}" if z.get(k) is not None else "–" for k in keys) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
