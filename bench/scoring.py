"""Corpus scoring: rows per second of `empathy-studio score` with 1 and with 2 processes, in the same run.

The corpus is ESConv's supporter side (each supporter turn with the three seeker turns before it, as Explore
rates them), written as JSONL; the rater is any trained one in --models-dir. Each run is the whole command,
wall clock included (start-up, loading, merging); the 1-process run is the baseline.

    python bench/scoring.py --models-dir DIR --model minilm-rater-quick [--rows 4000] [--shard-size 250]

Writes bench/results/scoring.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from empathy_studio.services import Studio  # noqa: E402
from empathy_studio.services.empathy import supporter_turns  # noqa: E402
from empathy_studio.settings import apply_privacy_env, load_settings  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def launch(processes: int, args: list[str]) -> list[str]:
    if processes == 1:
        return [sys.executable, "-m", "empathy_studio", *args]
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        str(processes),
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "-m",
        "empathy_studio",
        *args,
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models-dir", required=True)
    ap.add_argument("--model", default="minilm-rater-quick")
    ap.add_argument("--rows", type=int, default=4000)
    ap.add_argument("--shard-size", type=int, default=250)
    args = ap.parse_args()
    apply_privacy_env()
    studio = Studio(load_settings())
    rows = [t for d in studio.esconv.dialogues for t in supporter_turns(d)][: args.rows]
    studio.store.close()
    tmp = Path(tempfile.mkdtemp(prefix="es-score-"))
    corpus = tmp / "pairs.jsonl"
    corpus.write_text("".join(json.dumps({"post": r["post"], "response": r["response"]}) + "\n" for r in rows))
    runs = {}
    for processes in (1, 2):
        out = tmp / f"out-{processes}.parquet"
        cmd = launch(
            processes,
            [
                "score",
                "--task",
                "empathy",
                "--model",
                args.model,
                "--input",
                str(corpus),
                "--output",
                str(out),
                "--shard-size",
                str(args.shard_size),
                "--models-dir",
                args.models_dir,
                "--db",
                str(tmp / "db.sqlite"),
                "--json",
            ],
        )
        t0 = time.monotonic()
        done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        wall = time.monotonic() - t0
        if done.returncode:
            print(done.stderr[-3000:], file=sys.stderr)
            return 1
        summary = json.loads(done.stdout[done.stdout.index("{") : done.stdout.index("}") + 1])
        runs[processes] = {
            "wall_seconds": round(wall, 1),
            "rows_per_second": round(len(rows) / wall, 1),
            "scoring_seconds_main_process": summary["seconds"],
        }
        print(processes, runs[processes], file=sys.stderr)
    import pyarrow.parquet as pq

    same = pq.read_table(tmp / "out-1.parquet").drop(["score"]).equals(pq.read_table(tmp / "out-2.parquet").drop(["score"]))
    result = {
        "rows": len(rows),
        "model": args.model,
        "shard_size": args.shard_size,
        "cpu_count": os.cpu_count(),
        "runs": runs,
        "speedup": round(runs[2]["rows_per_second"] / runs[1]["rows_per_second"], 2),
        "same_levels": same,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scoring.json").write_text(json.dumps(result, indent=2))
    lines = [
        "# Corpus scoring: 1 and 2 processes",
        "",
        f"Command: `python bench/scoring.py --models-dir DIR --model {args.model} --rows {args.rows} --shard-size {args.shard_size}` "
        f"({os.cpu_count()} CPU cores, no GPU). Corpus: the first {len(rows):,} ESConv supporter turns with their seeker context, as "
        "JSONL. "
        "Each run is the whole `empathy-studio score` command, start-up and merge included; 2 processes are started by "
        "`accelerate launch --multi_gpu --num_processes 2` (torchrun; the processes meet over gloo on CPU).",
        "",
        "| processes | wall (s) | rows per second |",
        "|---|---|---|",
    ]
    lines += [f"| {p} | {r['wall_seconds']} | {r['rows_per_second']} |" for p, r in runs.items()]
    lines += [
        "",
        f"Speed-up with 2 processes: {result['speedup']}×. Mechanism levels and 4-level labels identical between the two outputs: {same}.",
    ]
    (RESULTS / "scoring.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
