"""The whole dialogue in chunks at prediction time: does averaging a trained seeker model's emotion over windows help?

Each model predicts ESConv's val and test texts as it was trained to (the first 256 tokens), and again over
windows of `--words` words covering the whole text (about 256 tokens each), averaging the windows'
probabilities, or their log-probabilities. Weighted F1 of the three, per model.

    python bench/chunks.py --words 180 DIR/model-a DIR/model-b

Writes bench/results/chunks.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from empathy_studio.models.seeker_predictor import Predictor  # noqa: E402
from empathy_studio.services import Studio  # noqa: E402
from empathy_studio.settings import apply_privacy_env, load_settings  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def windows(text: str, size: int) -> list[str]:
    words = text.split()
    return [" ".join(words[s : s + size]) for s in range(0, max(len(words), 1), size)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--words", type=int, default=180)
    ap.add_argument("models", nargs="+", type=Path)
    args = ap.parse_args()
    apply_privacy_env()
    esconv, labels = Studio(load_settings()).sources.examples("esconv")
    out: dict = {"words": args.words, "models": {}}
    for folder in args.models:
        predictor = Predictor.from_folder(folder, cache_size=0)
        row = {}
        for split in ("val", "test"):
            rows = esconv[split]
            gold = [e.label for e in rows]
            first = [labels.index(p.emotion) for p in predictor.predict([e.text for e in rows])]
            chunks = [(i, w) for i, e in enumerate(rows) for w in windows(e.text, args.words)]
            probs = np.array([[p.probs[lab] for lab in labels] for p in predictor.predict([w for _, w in chunks])])
            owner = np.array([i for i, _ in chunks])
            mean_p = np.stack([probs[owner == i].mean(0) for i in range(len(rows))])
            mean_log = np.stack([np.log(probs[owner == i] + 1e-12).mean(0) for i in range(len(rows))])
            row[split] = {
                "first_256_tokens": f1_score(gold, first, average="weighted"),
                "chunks_mean_probability": f1_score(gold, mean_p.argmax(1), average="weighted"),
                "chunks_mean_log_probability": f1_score(gold, mean_log.argmax(1), average="weighted"),
                "chunks_per_text": len(chunks) / len(rows),
            }
        out["models"][folder.name] = row
        print(folder.name, json.dumps(row), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "chunks.json").write_text(json.dumps(out, indent=1))
    lines = [
        "# The whole dialogue in chunks, at prediction time",
        "",
        f"Command: `python bench/chunks.py --words {args.words} " + " ".join(f"DIR/{m.name}" for m in args.models) + "` (CPU, 2 cores). "
        "Weighted F1 on ESConv; each model was trained on the first 256 tokens.",
        "",
        "| model | split | first 256 tokens | chunks, mean probability | chunks, mean log-probability | chunks a text |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in out["models"].items():
        for split, r in row.items():
            lines.append(
                f"| {name} | {split} | {r['first_256_tokens']:.4f} | {r['chunks_mean_probability']:.4f} | "
                f"{r['chunks_mean_log_probability']:.4f} | {r['chunks_per_text']:.2f} |"
            )
    (RESULTS / "chunks.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
