"""Training speed: seconds per step, samples/s, seconds per epoch and peak memory, ours against a baseline.

Both configurations fine-tune the bundled MiniLM with the multi-task heads on
real ESConv training batches (batch 16, max_length 256), measured in the same
run, each in its own process so that peak RSS belongs to it alone:

- baseline: what a plain fine-tune does (attention dropout 0.1, every layer
  trained, batches in random order, so each pads to its longest text);
- ours: the default preset (attention dropout 0 so SDPA keeps its fused path,
  embeddings and the bottom 4 layers frozen, length-bucketed batches).

Uses CUDA when there is one. Writes bench/results/training.{json,md}.

    python bench/training.py [--steps 8]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent
BATCH, MAX_LEN = 16, 256


def one(config: str, steps: int) -> dict:
    import numpy as np
    import torch
    from transformers import AutoConfig

    from empathy_studio import data as D
    from empathy_studio.labels import ESCONV_EMOTIONS
    from empathy_studio.models.seeker import EmotionIntensityModel, HeadConfig
    from empathy_studio.registry import bundled_minilm_path
    from empathy_studio.settings import load_settings
    from empathy_studio.training.families import FAMILIES
    from empathy_studio.training.trainer import freeze_bottom

    settings = load_settings()
    from empathy_studio.sources import resolve_esconv

    src = resolve_esconv(settings.esconv)
    train = D.to_examples(src.splits["train"])
    path = bundled_minilm_path()
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    cfg = AutoConfig.from_pretrained(path)
    ours = config == "ours"
    cfg.attention_probs_dropout_prob = 0.0 if ours else 0.1
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    model = EmotionIntensityModel(
        AutoModel.from_pretrained(path, config=cfg),
        HeadConfig(
            labels=list(ESCONV_EMOTIONS),
            pooling="mean" if ours else "cls",
            intensity_head="linear" if ours else "per_emotion",
            intensity_layer=4 if ours else None,
        ),
    ).to(device)
    if ours:
        freeze_bottom(model.encoder, 4)
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-5)
    seeker = FAMILIES["seeker"]
    rows = seeker.rows(train, model, tok, SimpleNamespace(max_length=MAX_LEN))
    order = list(range(len(rows)))
    random.Random(0).shuffle(order)
    if ours:  # length buckets: neighbours in length share a batch, batches in random order
        order = sorted(order, key=lambda i: len(rows[i]["input_ids"]))
        batches = [order[k : k + BATCH] for k in range(0, len(order), BATCH)]
        random.Random(0).shuffle(batches)
    else:
        batches = [order[k : k + BATCH] for k in range(0, len(order), BATCH)]

    def collate(batch):
        return seeker.collate(batch, tok)

    bf16 = device == "cuda" and torch.cuda.is_bf16_supported()
    times = []
    for b in batches[: steps + 2]:
        batch = {k: v.to(device) for k, v in collate([rows[i] for i in b]).items()}
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16):
            loss = model(**batch)["loss"]
        loss.backward()
        opt.step()
        opt.zero_grad()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    step = float(np.mean(times[2:]))
    steps_per_epoch = len(batches)
    return {
        "config": config,
        "device": device,
        "precision": "bf16" if bf16 else "fp32",
        "seconds_per_step": round(step, 3),
        "samples_per_second": round(BATCH / step, 2),
        "seconds_per_epoch": round(step * steps_per_epoch, 1),
        "steps_measured": steps,
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=8, help="timed steps per configuration (after 2 warm-up steps)")
    ap.add_argument("--one", choices=["baseline", "ours"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.steps)))
        return
    res = []
    for config in ("baseline", "ours"):
        out = subprocess.run(
            [sys.executable, __file__, "--one", config, "--steps", str(args.steps)], capture_output=True, text=True, cwd=ROOT
        )
        if out.returncode != 0:
            sys.exit(f"{config} failed: {out.stderr.strip().splitlines()[-1]}")
        res.append(json.loads(out.stdout.strip().splitlines()[-1]))
    base, ours = res
    report = {
        "machine": {"python": platform.python_version(), "processor": platform.processor() or platform.machine()},
        "batch_size": BATCH,
        "max_length": MAX_LEN,
        "results": res,
        "speedup": round(base["seconds_per_step"] / ours["seconds_per_step"], 2),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "training.json").write_text(json.dumps(report, indent=2))
    lines = [
        "# Training speed (MiniLM multi-task, ESConv train split)",
        "",
        f"Command: `python bench/training.py --steps {args.steps}`; batch {BATCH}, max_length {MAX_LEN}, {res[0]['device']}, "
        f"{res[0]['threads']} threads. Seconds per epoch = measured s/step x "
        f"{int(round(ours['seconds_per_epoch'] / ours['seconds_per_step']))} steps.",
        "",
        "| configuration | device | precision | s/step | samples/s | s/epoch | peak RSS GB |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in res:
        lines.append(
            f"| {r['config']} | {r['device']} | {r['precision']} | {r['seconds_per_step']} | {r['samples_per_second']} | "
            f"{r['seconds_per_epoch']} | {r['peak_rss_gb']} |"
        )
    lines += ["", f"Ours is {report['speedup']}x the baseline per step.", ""]
    (RESULTS / "training.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
