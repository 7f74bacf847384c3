"""Inference throughput on all 1,284 labelled ESConv dialogues, against a transformers.pipeline baseline.

In the same run, on the same encoder weights, texts and max_length:
- ours: `Predictor` (length-sorted buckets, inference_mode, the whole model with its heads);
- baseline: `transformers.pipeline("feature-extraction")` over the same encoder, batch 16,
  texts in file order (it runs the encoder only, so the comparison favours it slightly);
- the hardware limit: an fp32 matmul roofline measured here, and the GFLOP/s our encoder
  pass achieves on the real (unpadded) tokens;
- latency of one typed 100-word text, with the cache off;
- int8 dynamic quantization of the encoder (per-channel and per-tensor weights), adopted only
  if every probability and intensity stays within 0.01 of fp32 on the test split.

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
from empathy_studio.models.seeker_predictor import Predictor  # noqa: E402
from empathy_studio.services import Studio  # noqa: E402
from empathy_studio.settings import apply_privacy_env, load_settings  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TYPED = (
    "I have been feeling really anxious since I lost my job last month. I can't sleep, I keep checking my bank account "
    "and I am scared I will not be able to pay the rent. My partner tries to help but I feel like a burden and I don't "
    "want to talk to my friends because they all seem to be doing fine. Every morning I wake up with my heart racing "
    "and I don't know where to start."
)


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


def quantization_check(folder: Path, texts: list[str], bar: float = 0.01) -> list[dict]:
    """int8 dynamic quantization of the encoder's Linear layers against fp32, on the same texts."""
    from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig, quantize_dynamic

    ref_model = Predictor.from_folder(folder, max_length=256, batch_size=16, cache_size=0)
    ref_model.predict(texts[:16])
    t0 = time.perf_counter()
    ref = ref_model.predict(texts)
    t_ref = time.perf_counter() - t0
    rows = []
    for name, qconfig in (
        ("int8, per-channel weights", per_channel_dynamic_qconfig),
        ("int8, per-tensor weights", default_dynamic_qconfig),
    ):
        q = Predictor.from_folder(folder, max_length=256, batch_size=16, cache_size=0)
        q.model.encoder = quantize_dynamic(q.model.encoder, {torch.nn.Linear: qconfig}, dtype=torch.qint8)
        q.predict(texts[:16])
        t0 = time.perf_counter()
        out = q.predict(texts)
        t_q = time.perf_counter() - t0
        d_prob = max(abs(a.probs[k] - b.probs[k]) for a, b in zip(ref, out) for k in a.probs)
        d_int = max((abs(a.intensity_raw[k] - b.intensity_raw[k]) for a, b in zip(ref, out) for k in a.intensity_raw), default=0.0)
        rows.append(
            {
                "variant": name,
                "texts": len(texts),
                "speedup": round(t_ref / t_q, 2),
                "max_abs_prob_diff": round(d_prob, 4),
                "max_abs_intensity_diff": round(d_int, 4),
                "label_agreement": round(float(np.mean([a.emotion == b.emotion for a, b in zip(ref, out)])), 4),
                "within_bar": bool(d_prob <= bar and d_int <= bar),
            }
        )
    return rows


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
        rows.append(
            {
                "max_length": max_len,
                "texts": len(texts),
                "ours_texts_per_s": round(len(texts) / t_ours, 1),
                "pipeline_texts_per_s": round(len(texts) / t_pipe, 1),
                "speedup": round(t_pipe / t_ours, 2),
                "achieved_gflops": round(flops / t_ours / 1e9, 1),
                "roofline_gflops": round(peak, 1),
                "fraction_of_roofline": round(flops / t_ours / 1e9 / peak, 3),
                "median_tokens": int(np.median(lengths)),
            }
        )

    single = Predictor.from_folder(folder, max_length=256, cache_size=0)
    single.predict([TYPED])
    lat = []
    for _ in range(50):
        t0 = time.perf_counter()
        single.predict([TYPED])
        lat.append((time.perf_counter() - t0) * 1000)
    latency = {
        "words": len(TYPED.split()),
        "p50_ms": round(float(np.percentile(lat, 50)), 1),
        "p95_ms": round(float(np.percentile(lat, 95)), 1),
    }

    test = [d.seeker_text for d in studio.esconv.splits["test"]]
    quant = quantization_check(folder, test)
    out = {"model": args.model, "threads": torch.get_num_threads(), "throughput": rows, "single_text": latency, "quantization": quant}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "inference.json").write_text(json.dumps(out, indent=2))
    lines = [
        f"# Inference: {args.model} on all {len(texts)} labelled ESConv dialogues",
        "",
        f"Command: `python bench/inference.py --model {args.model}` (CPU, {out['threads']} threads; fp32; batch 16).",
        "",
        "| max_length | median tokens | ours texts/s | pipeline texts/s | ours / pipeline | achieved GFLOP/s | matmul roofline GFLOP/s | "
        "of roofline |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['max_length']} | {r['median_tokens']} | {r['ours_texts_per_s']} | {r['pipeline_texts_per_s']} | {r['speedup']}x | "
            f"{r['achieved_gflops']} | {r['roofline_gflops']} | {r['fraction_of_roofline']:.0%} |"
        )
    lines += [
        "",
        f"One typed text of {latency['words']} words, cache off: p50 {latency['p50_ms']} ms, p95 {latency['p95_ms']} ms.",
        "",
        f"Quantization check on the {len(test)} test dialogues (max_length 256), against fp32 in the same run; "
        "a variant is adopted only if every probability and intensity stays within 0.01:",
        "",
        "| variant | speed vs fp32 | max abs prob diff | max abs intensity diff | same label | within 0.01 |",
        "|---|---|---|---|---|---|",
    ]
    for q in quant:
        lines.append(
            f"| {q['variant']} | {q['speedup']}x | {q['max_abs_prob_diff']} | {q['max_abs_intensity_diff']} | "
            f"{q['label_agreement']:.1%} | {'yes' if q['within_bar'] else 'no'} |"
        )
    adopted = [q["variant"] for q in quant if q["within_bar"]]
    lines += ["", f"Adopted: {', '.join(adopted)}." if adopted else "Adopted: none; the Predictor stays fp32.", ""]
    (RESULTS / "inference.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
