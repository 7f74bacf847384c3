"""The external check of an empathy rater, and its speed over the whole ESConv supporter side.

For every ESConv dialogue with the seeker's own rating of the supporter's empathy (1-5), and the same on
FailedESConv-dev: the mean predicted empathy score over its supporter turns (each rated against the seeker
turns before it) against that rating, with OLS r, p and Spearman's rho. Speed: pairs per second over all
those supporter turns with the `RaterPredictor` (length-sorted batches), against two baselines in the same
run on the first 3,000 turns: the same model in batches of the turns' own order, and a loop over
`transformers.pipeline("feature-extraction")` on the rater's encoder, one pair at a time (mean-pooled,
then the rater's heads), the way a plain transformers user would run it.

    python bench/empathy_check.py --models-dir DIR --rater NAME

Writes bench/results/empathy-check.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from inference import encoder_flops, roofline  # noqa: E402  (bench/inference.py, beside this script)

from empathy_studio.services import Studio  # noqa: E402
from empathy_studio.services.empathy import supporter_turns  # noqa: E402
from empathy_studio.settings import apply_privacy_env, load_settings  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models-dir", required=True)
    ap.add_argument("--rater", required=True)
    ap.add_argument(
        "--trained-by",
        default="empathy-studio train --task empathy --model minilm --name minilm-rater",
        help="the command that trained the rater, for the record",
    )
    args = ap.parse_args()
    apply_privacy_env()
    with tempfile.TemporaryDirectory() as tmp:
        studio = Studio(load_settings(models_dir=Path(args.models_dir), db_path=Path(tmp) / "bench.sqlite", warm_predictions=False))
        rater = studio.rater(args.rater)
        turns = [(t["post"], t["response"]) for d in studio.esconv.dialogues for t in supporter_turns(d)]
        t0 = time.perf_counter()
        rater.predict(turns)
        sorted_s = time.perf_counter() - t0
        # the hardware's limit, measured in the same run: the fp32 matmul roofline, and the GFLOP/s the sorted pass reached
        peak = roofline()
        lengths = [len(ids) for row in rater.encode(turns) for ids in row.values()]  # one or two sequences per pair
        achieved = encoder_flops(lengths, rater.model.encoder.config) / sorted_s / 1e9
        sample = turns[:3000]  # the baseline on a slice: in file order, each batch pads to its longest pair
        import torch

        from empathy_studio.models.predictor import pad

        rows = rater.encode(sample)

        def collate(batch):
            return pad(rater.tokenizer, batch)

        t0 = time.perf_counter()
        with torch.inference_mode():
            for start in range(0, len(rows), rater.batch_size):
                rater.model(**collate(rows[start : start + rater.batch_size]))
        plain_s = time.perf_counter() - t0
        from transformers import pipeline

        pipe = pipeline(
            "feature-extraction",
            model=rater.model.encoder,
            tokenizer=rater.tokenizer,
            device=-1,
            tokenize_kwargs={"truncation": True, "max_length": rater.max_length},
        )
        head = rater.model
        t0 = time.perf_counter()
        with torch.inference_mode():
            for post, response in sample:
                if head.config.arch == "bi":
                    u, v = (torch.tensor(pipe(text)[0]).mean(0, keepdim=True) for text in (post, response))
                    x = torch.cat([u, v, (u - v).abs(), u * v], dim=-1)
                else:
                    x = torch.tensor(pipe(f"{post} {rater.tokenizer.sep_token} {response}")[0]).mean(0, keepdim=True)
                [head.mechanisms[m](x) for m in head.mechanisms], head.level4(x), head.score(x)
        pipeline_s = time.perf_counter() - t0
        checks = {}
        for dataset in ("esconv", "failed"):
            c = studio.empathy_check(args.rater, dataset)
            checks[dataset] = {k: c[k] for k in ("dialogues", "turns", "ols_r", "ols_p", "ols_n", "spearman", "spearman_p")}
            checks[dataset]["mean_self_rated"] = sum(c["self_rated"]) / len(c["self_rated"])
            checks[dataset]["mean_predicted"] = sum(c["predicted"]) / len(c["predicted"])
            fb = c["feedback"]
            checks[dataset]["feedback"] = {k: fb[k] for k in ("ols_r", "ols_p", "ols_n")}
        studio.close()
    out = {
        "rater": args.rater,
        "turns": len(turns),
        "sorted_pairs_per_s": len(turns) / sorted_s,
        "sorted_seconds": sorted_s,
        "plain_pairs_per_s": len(sample) / plain_s,
        "pipeline_pairs_per_s": len(sample) / pipeline_s,
        "sorted_vs_pipeline": (len(turns) / sorted_s) / (len(sample) / pipeline_s),
        "achieved_gflops": achieved,
        "roofline_gflops": peak,
        "fraction_of_roofline": achieved / peak,
        "checks": checks,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "empathy-check.json").write_text(json.dumps(out, indent=2))

    def f(v, d=3):
        return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else (f"{v:.1e}" if d == "p" else f"{v:.{d}f}")

    lines = [
        "# The empathy rater: external check and speed",
        "",
        f"Command: `python bench/empathy_check.py --models-dir DIR --rater {args.rater}` (CPU, 2 cores), for the rater trained by "
        f"`{args.trained_by}`.",
        "",
        "| conversations | dialogues | supporter turns | mean self-rated empathy | mean predicted score | OLS r | p | Spearman rho | p |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, c in checks.items():
        lines.append(
            f"| {name} | {c['dialogues']} | {c['turns']} | {c['mean_self_rated']:.2f} | {c['mean_predicted']:.3f} | {f(c['ols_r'])} | "
            f"{f(c['ols_p'], 'p')} | {f(c['spearman'])} | {f(c['spearman_p'], 'p')} |"
        )
    lines += [
        "",
        "Per-turn feedback (seeker turns with their own 1-5 rating; the supporter turn just before them, rated by the model):",
        "",
        "| conversations | turns with feedback | OLS r | p |",
        "|---|---|---|---|",
    ]
    for name, c in checks.items():
        fb = c["feedback"]
        lines.append(f"| {name} | {fb['ols_n']} | {f(fb['ols_r'])} | {f(fb['ols_p'], 'p')} |")
    lines += [
        "",
        "| speed, all ESConv supporter turns | pairs per second |",
        "|---|---|",
        f"| `RaterPredictor` (length-sorted batches of 32), {len(turns):,} pairs in {sorted_s:.0f} s | {out['sorted_pairs_per_s']:.1f} |",
        f"| baseline: the same model, batches in file order (first {len(sample):,} pairs) | {out['plain_pairs_per_s']:.1f} |",
        f"| baseline: `transformers.pipeline('feature-extraction')` on the encoder, one pair at a time, then the heads "
        f"(first {len(sample):,} pairs) | {out['pipeline_pairs_per_s']:.1f} |",
        "",
        f"`RaterPredictor` against the pipeline: {out['sorted_vs_pipeline']:.2f}x (the target: at least 1.5x). The sorted pass reached "
        f"{achieved:.1f} GFLOP/s of encoder matmuls, {out['fraction_of_roofline']:.0%} of this machine's fp32 matmul roofline "
        f"({peak:.1f} GFLOP/s, a 2048 × 1536 × 1536 matmul measured in the same run).",
    ]
    (RESULTS / "empathy-check.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
