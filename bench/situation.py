"""The seeker's pre-chat situation as an input (`train --situation`), each arm's seeds as one published ensemble.

Each (arm, seed) is `empathy-studio train --model minilm --dataset esconv --seed S --situation` (or `--no-situation`): the
default preset, as `bench/quality.py` trains it (its class weights included), scored on ESConv's val split (where an
option is chosen) and test split. A model that reads the situation is also scored on the seeker's words alone, as a typed
text reaches it. Each arm's seeds are then published as one model (`empathy-studio ensemble`) and scored the same way;
ZeroR in the same run. A model already in `--models-dir` is scored, not trained again.

    python bench/situation.py --arms on off --seeds 42 43 44 --models-dir DIR

Writes bench/results/situation.{json,md}.
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

from empathy_studio.services import COMMAND_LINE, EnsembleRequest, Studio, TrainRequest  # noqa: E402
from empathy_studio.settings import apply_privacy_env, load_settings  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
KEYS = ("f1_weighted", "f1_macro", "mse_initial", "mse_final", "mse_change")
SPLITS = ("val", "test")


def scores(studio: Studio, name: str, split: str) -> dict:
    res = studio.evaluate(name, "esconv", split)
    return {k: res[k] for k in KEYS}


def words_alone(studio: Studio, name: str, split: str) -> float:
    """Weighted F1 when the model is given the seeker's words without their situation (a typed text)."""
    splits, labels = studio.sources.examples("esconv")
    rows = splits[split]
    preds = studio.predict_texts(name, [e.text for e in rows])
    return float(f1_score([e.label for e in rows], [labels.index(p.emotion) for p in preds], average="weighted"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arms", nargs="+", choices=["on", "off"], default=["on", "off"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    ap.add_argument("--models-dir", type=Path, required=True)
    args = ap.parse_args()
    apply_privacy_env()
    tmp = Path(tempfile.mkdtemp(prefix="es-situation-"))
    studio = Studio(load_settings().replace(models_dir=args.models_dir, db_path=tmp / "s.sqlite", persistent_dir=None))
    out: dict = {"seeds": args.seeds, "arms": {}}
    for arm in args.arms:
        runs, names = [], []
        for seed in args.seeds:
            name = f"minilm-situation-{arm}-s{seed}"
            names.append(name)
            t0 = time.perf_counter()
            if not (args.models_dir / name / "manifest.json").exists():
                studio.train_and_register(TrainRequest(model="minilm", dataset="esconv", seed=seed, name=name, situation=arm == "on"))
            run = {"seed": seed, **{s: scores(studio, name, s) for s in SPLITS}}
            if arm == "on":
                run["words_alone"] = {s: words_alone(studio, name, s) for s in SPLITS}
            runs.append(run)
            val, test = run["val"]["f1_weighted"], run["test"]["f1_weighted"]
            print(f"{name}: val F1 {val:.4f}, test F1 {test:.4f} ({time.perf_counter() - t0:.0f} s)", flush=True)
        ens = f"minilm-situation-{arm}-x{len(names)}"
        if len(names) > 1:
            if not (args.models_dir / ens / "manifest.json").exists():
                studio.publish_ensemble(COMMAND_LINE, EnsembleRequest(members=tuple(names), name=ens))
            ensemble = {s: scores(studio, ens, s) for s in SPLITS}
        else:
            ensemble = None
        out["arms"][arm] = {"runs": runs, "ensemble": ensemble}
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "situation.json").write_text(json.dumps(out, indent=1))
    out["zeror"] = {s: scores(studio, "zeror", s) for s in SPLITS}
    (RESULTS / "situation.json").write_text(json.dumps(out, indent=1))
    (RESULTS / "situation.md").write_text(markdown(out, args))
    print(markdown(out, args))


def cell(values: list[float]) -> str:
    return f"{np.mean(values):.4f} ± {np.std(values):.4f}" if len(values) > 1 else f"{values[0]:.4f}"


def markdown(out: dict, args: argparse.Namespace) -> str:
    lines = [
        "# The seeker's situation as an input",
        "",
        f"Command: `python bench/situation.py --arms {' '.join(args.arms)} --seeds {' '.join(map(str, args.seeds))} --models-dir DIR` "
        "(CPU, 2 cores). The default preset on ESConv (the paper's split); mean ± std over the seeds; an option is chosen on "
        "val, test is reported beside it. Wang & Roman (CCN 2025) read the seeker's words alone.",
        "",
        "| model | split | " + " | ".join(k.replace("f1_", "F1 ").replace("mse_", "MSE ") for k in KEYS) + " |",
        "|---|---|" + "---|" * len(KEYS),
    ]
    label = {"on": "situation, then the words", "off": "the words alone"}
    for arm, res in out["arms"].items():
        for s in SPLITS:
            lines.append(f"| {label[arm]} | {s} | " + " | ".join(cell([r[s][k] for r in res["runs"]]) for k in KEYS) + " |")
        if res["ensemble"]:
            for s in SPLITS:
                e = res["ensemble"][s]
                lines.append(f"| {label[arm]}, the seeds as one model | {s} | " + " | ".join(f"{e[k]:.4f}" for k in KEYS) + " |")
    for s in SPLITS:
        z = out["zeror"][s]
        lines.append(f"| ZeroR | {s} | " + " | ".join(f"{z[k]:.4f}" for k in KEYS) + " |")
    if "on" in out["arms"]:
        alone = {s: [r["words_alone"][s] for r in out["arms"]["on"]["runs"]] for s in SPLITS}
        lines += [
            "",
            "Trained with the situation, given the words alone (as a typed text reaches it): weighted F1 "
            + ", ".join(f"{s} {cell(v)}" for s, v in alone.items())
            + ".",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
