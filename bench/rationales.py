"""The rater against EPITOME's authors: per-mechanism accuracy and macro-F1 with CIs, and the rationale head against its floors.

Each group is a set of trained raters (one per seed) of one configuration, scored on our test split
(`assets/epitome-split.csv`; `--split val` scores the val split, where configurations are chosen): per
mechanism, accuracy and macro-F1 as mean ± std over the seeds, with
the bootstrap 95% CI of the first seed's; the 4-level weighted F1; and for raters with a rationale
head, token F1 and IOU F1 against EPITOME's rationales on the test pairs that have one. Floors in the
same run, fitted on the training split: every word of the response, and the lexicon of words marked
in at least half their training occurrences (`rationales.RationaleLexicon`). Sharma et al. (EMNLP
2020) beside, on their own split (never released), so not the same test items.

    python bench/rationales.py --models-dir DIR --group "rater-quick, rationale head" q1 q2 q3 --group "rater-quick" p1 p2 p3 \
        [--name quick] [--epitome ../shared/data/epitome]

Writes bench/results/rationales-NAME.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from empathy_studio import rationales as R  # noqa: E402
from empathy_studio.epitome import SHARMA_2020, epitome_pairs, split_pairs  # noqa: E402
from empathy_studio.labels import EPITOME_MECHANISMS  # noqa: E402
from empathy_studio.models.rater_predictor import RaterPredictor  # noqa: E402
from empathy_studio.training.rater import rater_metrics  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SHORT = {"emotional_reactions": "ER", "interpretations": "IP", "explorations": "EX"}


def floors(train, test) -> dict[str, dict[str, dict[str, float]]]:
    out: dict[str, dict[str, dict[str, float]]] = {"every word": {}, "rationale lexicon": {}}
    known = [p for p in test if p.rationales]
    texts = [p.response for p in known]
    for k, m in enumerate(EPITOME_MECHANISMS):
        gold = [p.rationales[k] for p in known]
        out["every word"][m] = R.score(texts, gold, [[(0, len(t))] for t in texts])
        lex = R.RationaleLexicon().fit([p.response for p in train], [p.rationales[k] for p in train])
        out["rationale lexicon"][m] = R.score(texts, gold, [lex.predict(t) for t in texts])
    return out


def score_group(folders: list[Path], test) -> dict:
    runs = []
    for folder in folders:
        predictor = RaterPredictor.from_folder(
            folder, max_length=json.loads((folder / "manifest.json").read_text())["hyperparameters"]["max_length"]
        )
        runs.append(rater_metrics(predictor.predict([(p.post, p.response) for p in test]), test))
    keys = [k for k, v in runs[0].items() if isinstance(v, float)]
    return {
        "models": [f.name for f in folders],
        "mean": {k: float(np.mean([r[k] for r in runs])) for k in keys},
        "std": {k: float(np.std([r[k] for r in runs])) for k in keys},
        "ci95_first": {k: v for k, v in runs[0].items() if k.endswith("_ci95")},
        "runs": runs,
    }


def cell(g: dict, key: str) -> str:
    if key not in g["mean"]:
        return "–"
    return f"{g['mean'][key]:.4f} ± {g['std'][key]:.4f}" if len(g["models"]) > 1 else f"{g['mean'][key]:.4f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models-dir", required=True)
    ap.add_argument("--group", nargs="+", action="append", required=True, metavar="LABEL MODEL", help="a label, then its raters")
    ap.add_argument("--name", default="rater")
    ap.add_argument("--epitome", default=str(ROOT.parent / "shared" / "data" / "epitome"))
    ap.add_argument("--split", default="test", choices=["test", "val"], help="score on this split (val: to choose between groups)")
    args = ap.parse_args()
    split = split_pairs(epitome_pairs(args.epitome))
    test = split[args.split]
    groups = {g[0]: score_group([Path(args.models_dir) / n for n in g[1:]], test) for g in args.group}
    base = floors(split["train"], test)
    out = {"split": args.split, "pairs": len(test), "groups": groups, "floors": base, "sharma_2020": SHARMA_2020}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"rationales-{args.name}.json").write_text(json.dumps(out, indent=1))
    cmd = " ".join(
        [
            "python bench/rationales.py",
            "--models-dir DIR",
            *(f'--group "{g[0]}" {" ".join(g[1:])}' for g in args.group),
            f"--name {args.name}",
            *([f"--split {args.split}"] if args.split != "test" else []),
        ]
    )
    lines = [
        f"# The rater on our EPITOME {args.split} split ({len(test)} pairs), against Sharma et al. 2020",
        "",
        f"Command: `{cmd}` (CPU, 2 cores). Mean ± std over the seeds of each group. Sharma et al. 2020 scored their own 75:5:20 split, "
        "which was never released: their figures are beside ours, not on the same items. Our split's ids: `assets/epitome-split.csv`.",
        "",
        "| model | 4-level F1 (w) | " + " | ".join(f"{SHORT[m]} acc | {SHORT[m]} F1 (macro)" for m in EPITOME_MECHANISMS) + " |",
        "|---|---|" + "---|---|" * len(EPITOME_MECHANISMS),
    ]
    for label, g in groups.items():
        mech = " | ".join(f"{cell(g, f'{m}_accuracy')} | {cell(g, f'{m}_f1_macro')}" for m in EPITOME_MECHANISMS)
        lines.append(f"| {label} ({len(g['models'])} seeds) | {cell(g, 'level4_f1_weighted')} | {mech} |")
    sharma = " | ".join(f"{SHARMA_2020[m][0] / 100:.4f} | {SHARMA_2020[m][1] / 100:.4f}" for m in EPITOME_MECHANISMS)
    lines += [f"| Sharma et al. 2020 (RoBERTa, their split) | – | {sharma} |", ""]
    first = next(iter(groups.values()))
    lines += [
        f"Bootstrap 95% CIs of the first seed of the first group (1,000 resamples of the {args.split} pairs):",
        "",
        "| mechanism | accuracy | F1 (macro) |",
        "|---|---|---|",
    ]
    for m in EPITOME_MECHANISMS:
        a, f = first["ci95_first"][f"{m}_accuracy_ci95"], first["ci95_first"][f"{m}_f1_macro_ci95"]
        lines.append(f"| {SHORT[m]} | {a[0]:.4f} to {a[1]:.4f} | {f[0]:.4f} to {f[1]:.4f} |")
    lines += [
        "",
        f"Rationales: token F1 / IOU F1 on the {args.split} pairs with a gold rationale for that mechanism (n per mechanism below); "
        "words are "
        "runs of non-space characters; a predicted span matches a gold one at IOU 0.5 or more.",
        "",
        "| model | " + " | ".join(f"{SHORT[m]} token F1 | {SHORT[m]} IOU F1" for m in EPITOME_MECHANISMS) + " |",
        "|---|" + "---|---|" * len(EPITOME_MECHANISMS),
    ]
    for label, g in groups.items():
        if f"{EPITOME_MECHANISMS[0]}_rationale_token_f1" in g["mean"]:
            row = " | ".join(f"{cell(g, f'{m}_rationale_token_f1')} | {cell(g, f'{m}_rationale_iou_f1')}" for m in EPITOME_MECHANISMS)
            lines.append(f"| {label} | {row} |")
    for label, f in base.items():
        lines.append(
            f"| floor: {label} | " + " | ".join(f"{f[m]['token_f1']:.4f} | {f[m]['iou_f1']:.4f}" for m in EPITOME_MECHANISMS) + " |"
        )
    lines += ["", "Pairs scored per mechanism: " + ", ".join(f"{SHORT[m]} {base['every word'][m]['n']}" for m in EPITOME_MECHANISMS), ""]
    (RESULTS / f"rationales-{args.name}.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
