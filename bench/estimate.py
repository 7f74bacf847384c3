"""The Train tab's duration estimate against the actual duration, phase by phase, on trainings of different shapes.

Each run asks `Finetuner.estimate` (a timed probe on this machine, cached per shape) and then trains
the same request, timing the whole of it; the manifest's `phases_s` says what each phase took
(loading, tokenising, embedding, training, evaluating, the intensity heads, calibrating, testing),
beside the estimate's own phase. The baseline is the estimate before it counted the passes after
training (steps × seconds per step, what the tab showed earlier), recomputed from the same probe.
The runs: the seeker's quick and default presets, and the starter rater's preset (rater-quick).

    python bench/estimate.py

Writes bench/results/estimate.{json,md}.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from empathy_studio.services import Studio, TrainRequest  # noqa: E402
from empathy_studio.settings import apply_privacy_env, load_settings  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
RUNS = {
    "quick preset (frozen encoder)": dict(preset="quick"),
    "default preset, 1 epoch, 128 tokens": dict(epochs=1, max_length=128),
    "default preset, 40 steps, 256 tokens": dict(max_steps=40, max_length=256),
    "rater-quick preset (the starter rater)": dict(task="empathy", preset="rater-quick"),
}
PHASES = ("loading", "embedding", "training", "evaluating", "fitting intensity heads", "calibrating", "testing")
TOLERANCE = 0.25  # the target: the estimate within ±25% of the actual time


def main() -> int:
    apply_privacy_env()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(models_dir=Path(tmp) / "models", db_path=Path(tmp) / "bench.sqlite", warm_predictions=False)
        studio = Studio(settings)
        for i, (label, options) in enumerate(RUNS.items()):
            req = TrainRequest(model="minilm", name=f"estimate-{i}", **options)  # ESConv (+ FailedESConv) or EPITOME, as configured
            t0 = time.monotonic()
            est = studio.finetune.estimate(req)
            probe_s = time.monotonic() - t0
            t0 = time.monotonic()
            manifest = studio.train_and_register(req)
            actual = time.monotonic() - t0
            steps_only = est["steps"] * est["seconds_per_step"]
            rows.append(
                {
                    "run": label,
                    "estimated_s": est["estimated_seconds"],
                    "phases": est["phases"],
                    "after_training_s": est["after_training_s"],
                    "steps_only_s": round(steps_only),
                    "actual_s": round(actual, 1),
                    "ratio": round(actual / max(est["estimated_seconds"], 1), 2),
                    "steps_only_ratio": round(actual / max(steps_only, 1), 2),
                    "probe_s": round(probe_s, 1),
                    "actual_phases": manifest["phases_s"],
                    "within_tolerance": abs(actual / max(est["estimated_seconds"], 1) - 1) <= TOLERANCE,
                }
            )
            print(rows[-1], file=sys.stderr)
        studio.close()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "estimate.json").write_text(json.dumps(rows, indent=2))
    lines = [
        "# Training duration: estimate against actual",
        "",
        "Command: `python bench/estimate.py` (CPU, 2 cores). Estimate: the timed probe (cached per shape of training) times every phase; "
        "baseline: steps × seconds per step alone, from the same probe.",
        "",
        "| run | estimate | of which after training | baseline (steps only) | actual | actual / estimate | actual / baseline | probe |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        after = r["after_training_s"]
        lines.append(
            f"| {r['run']} | {r['estimated_s']} s | {after:.0f} s | {r['steps_only_s']} s | {r['actual_s']:.0f} s | {r['ratio']:.2f} | "
            f"{r['steps_only_ratio']:.2f} | {r['probe_s']:.0f} s |"
        )
    lines += [
        "",
        f"Within ±{TOLERANCE:.0%}: {sum(r['within_tolerance'] for r in rows)} of {len(rows)} runs.",
        "",
        "Each phase, estimated / actual (seconds; the actual from the manifest's `phases_s`):",
        "",
        "| run | " + " | ".join(PHASES) + " |",
        "|---|" + "---|" * len(PHASES),
    ]
    for r in rows:
        cells = [f"{r['phases'].get(k, 0):.0f} / {r['actual_phases'].get(k, 0):.0f}" for k in PHASES]
        lines.append(f"| {r['run']} | " + " | ".join(cells) + " |")
    (RESULTS / "estimate.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
