"""Inference throughput on all 1,284 labelled ESConv dialogues, against a transformers.pipeline baseline.

In the same run, on the same encoder weights, texts and max_length:
- ours: `Predictor` (length-sorted buckets, inference_mode, the whole model with its heads);
- baseline: `transformers.pipeline("feature-extraction")` over the same encoder, batch 16,
  texts in file order (it runs the encoder only, so the comparison favours it slightly);
- the hardware limit: an fp32 matmul roofline measured here, and the GFLOP/s our encoder
  pass achieves on the real (unpadded) tokens;
- latency of one typed 100-word text, with the cache off.

Writes bench/results/inference.{json,md}.

    python bench/inference.py [--model minilm-esconv]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from empathy_studio import data as D  # noqa: E402
from empathy_studio.inference import Predictor  # noqa: E402
from empathy_studio.services import Studio  # noqa: E402
from empathy_studio.settings import apply_privacy_env, load_settings  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TYPED = ("I have been feeling really anxious since I lost my job last month. I can't sleep, I keep checking my bank account "
         "and I am scared I will not be able to pay the rent. My partner tries to help but I feel like a burden and I don't "
         "want to talk to my friends because they all seem to be doing fine. Every morning I wake up with my heart racing "
         "and I don't know where to start.")


def roofline(seconds: float = 3.0) -> float:
    """Sustained fp32 GFLOP/s of a square-ish matmul on this machine (the encoder's dominant operation)."""
    a, b = torch.randn(2048, 1536), torch.randn(1536, 1536)
    for _ in range(3):
        a @ b
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        n += 1
    return 2 * 2048 * 1536 * 1536 * n / (time.perf_counter() - t0) / 1e9


def encoder_flops(lengths: list[int], cfg) -> float:
    """Forward FLOPs of a BERT-style encoder on sequences of these lengths (matmuls only)."""
    h, f, layers = cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers
    total = 0.0
    for n in lengths:
        total += layers * (2 * n * (4 * h * h + 2 * h * f) + 4 * n * n * h)
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="minilm-esconv", help="registry name of a trained model")
    args = ap.parse_args()
    apply_privacy_env()
    studio = Studio(load_settings())
    texts = [d.seeker_text for d in D.labelled(studio.esconv.dialogues)]
    folder = studio.registry.get(args.model).path
    from transformers import pipeline

    peak = roofline()
    rows = []
    for max_len in (256, 512):
        ours = Predictor.from_folder(folder, max_length=max_len, batch_size=16, cache_size=0)
        ours.predict(texts[:32])  # warm-up
        t0 = time.perf_counter()
        ours.predict(texts)
        t_ours = time.perf_counter() - t0
        lengths = [len(ids) for ids in ours.tokenizer(texts, truncation=True, max_length=max_len)["input_ids"]]
        flops = encoder_flops(lengths, ours.model.encoder.config)

        pipe = pipeline("feature-extraction", model=ours.model.encoder, tokenizer=ours.tokenizer, framework="pt", device=-1)
        kw = {"truncation": True, "max_length": max_len, "padding": True}
        pipe(texts[:32], batch_size=16, tokenize_kwargs=kw)
        t0 = time.perf_counter()
        with torch.inference_mode():
            pipe(texts, batch_size=16, tokenize_kwargs=kw)
        t_pipe = time.perf_counter() - t0
        rows.append({"max_length": max_len, "texts": len(texts), "ours_texts_per_s": round(len(texts) / t_ours, 1),
                     "pipeline_texts_per_s": round(len(texts) / t_pipe, 1), "speedup": round(t_pipe / t_ours, 2),
                     "achieved_gflops": round(flops / t_ours / 1e9, 1), "roofline_gflops": round(peak, 1),
                     "fraction_of_roofline": round(flops / t_ours / 1e9 / peak, 3), "median_tokens": int(np.median(lengths))})

    single = Predictor.from_folder(folder, max_length=256, cache_size=0)
    single.predict([TYPED])
    lat = []
    for _ in range(50):
        t0 = time.perf_counter()
        single.predict([TYPED])
        lat.append((time.perf_counter() - t0) * 1000)
    latency = {"words": len(TYPED.split()), "p50_ms": round(float(np.percentile(lat, 50)), 1), "p95_ms": round(float(np.percentile(lat, 95)), 1)}

    out = {"model": args.model, "threads": torch.get_num_threads(), "throughput": rows, "single_text": latency}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "inference.json").write_text(json.dumps(out, indent=2))
    lines = [f"# Inference: {args.model} on all {len(texts)} labelled ESConv dialogues", "",
             f"Command: `python bench/inference.py --model {args.model}` (CPU, {out['threads']} threads; fp32; batch 16).", "",
             "| max_length | median tokens | ours texts/s | pipeline texts/s | ours / pipeline | achieved GFLOP/s | matmul roofline GFLOP/s | of roofline |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['max_length']} | {r['median_tokens']} | {r['ours_texts_per_s']} | {r['pipeline_texts_per_s']} | {r['speedup']}x | "
                     f"{r['achieved_gflops']} | {r['roofline_gflops']} | {r['fraction_of_roofline']:.0%} |")
    lines += ["", f"One typed text of {latency['words']} words, cache off: p50 {latency['p50_ms']} ms, p95 {latency['p95_ms']} ms.", "",
              "Quantization and ONNX are not used: no variant was checked against the 0.01 agreement bar yet.", ""]
    (RESULTS / "inference.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
