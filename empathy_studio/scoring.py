"""Scoring at corpus scale: a file of (post, response) pairs or of texts in, a Parquet file of predictions out.

The input is read through `datasets` (Arrow, memory-mapped: a shard's rows are the
only ones held in memory) and cut into fixed shards of `shard_size` rows. Each shard
is scored and written on its own (`OUT.parquet.shards/shard-00000.parquet`, written
to a temporary name and renamed), so an interrupted run resumes from the shards
already on disk; a shard is computed the same way whichever run or process writes it,
so the output of a resumed run equals that of an uninterrupted one.

Under `accelerate launch` every process runs the same command: the shards still to
do are divided with accelerate's own `split_between_processes`, the processes meet
at `wait_for_everyone`, and the main process merges the shards, in order, into the
output and removes them. On one process (a plain command) the same code runs. On a
machine without GPUs the processes meet over gloo; note that accelerate's `--cpu`
launcher starts several processes only through MPI (`mpirun`), so without it
`accelerate launch --multi_gpu --num_processes N` (torchrun) is the way to start N.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from .errors import ConfigError, DataError

TASK_COLUMNS = {"empathy": ("post", "response"), "emotion-intensity": ("text",)}
INPUT_FORMATS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
MAX_SHARD_ROWS = 100_000

Scorer = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]


@dataclass
class ScoreRequest:
    """One corpus to score: which task and model, which file in, which Parquet file out."""

    task: str
    model: str
    input: str
    output: str
    shard_size: int = 1000

    def __post_init__(self) -> None:
        if self.task not in TASK_COLUMNS:
            raise ConfigError(f"task must be one of {', '.join(TASK_COLUMNS)}, got {self.task!r}")
        if Path(self.input).suffix.lower() not in INPUT_FORMATS:
            raise ConfigError(f"the input must be a {', '.join(INPUT_FORMATS)} file, got {Path(self.input).name!r}")
        if Path(self.output).suffix.lower() != ".parquet":
            raise ConfigError(f"the output must be a .parquet file, got {Path(self.output).name!r}")
        if not isinstance(self.shard_size, int) or isinstance(self.shard_size, bool) or not 1 <= self.shard_size <= MAX_SHARD_ROWS:
            raise ConfigError(f"shard size must be an integer from 1 to {MAX_SHARD_ROWS:,}, got {self.shard_size!r}")
        src = Path(self.input)  # checked before any model loads: a missing or empty input is one line, at once
        if not src.is_file():
            raise DataError(src.name, "file not found")
        if src.stat().st_size == 0:
            raise DataError(src.name, "the file is empty: no rows to score")

    @property
    def shards(self) -> Path:
        return Path(f"{self.output}.shards")


def _fingerprint(req: ScoreRequest, n_rows: int) -> dict[str, Any]:
    """What the shards on disk were written for: resuming with another input, model or shard size would mix outputs."""
    st = Path(req.input).stat()
    return {
        "task": req.task,
        "model": req.model,
        "input": Path(req.input).name,
        "input_bytes": st.st_size,
        "rows": n_rows,
        "shard_size": req.shard_size,
    }


def load_rows(path: Path | str, columns: Sequence[str], cache_dir: Path) -> Any:
    """The input as a memory-mapped `datasets.Dataset`, with the task's columns checked."""
    import datasets

    path = Path(path)
    if not path.is_file():
        raise DataError(path.name, "file not found")
    if path.stat().st_size == 0:
        raise DataError(path.name, "the file is empty: no rows to score")
    datasets.disable_progress_bars()
    try:
        ds = datasets.load_dataset(INPUT_FORMATS[path.suffix.lower()], data_files=str(path), split="train", cache_dir=str(cache_dir))
    except Exception as exc:  # datasets raises many kinds for a malformed file; the user needs its one line
        raise DataError(
            path.name, f"not a readable {path.suffix.lstrip('.')} file ({(str(exc).splitlines() or [type(exc).__name__])[0][:160]})"
        ) from None
    missing = [c for c in columns if c not in ds.column_names]
    if missing:
        raise DataError(
            path.name,
            f"missing column {', '.join(missing)}: this task reads {', '.join(columns)}; "
            f"the file has {', '.join(ds.column_names) or 'none'}",
        )
    return ds


SHARD_WAIT_S = 600


def _await_shards(paths: Sequence[Path]) -> None:
    """Before the merge: every shard on disk. The barrier should see to it; a slow shared filesystem may lag behind it."""
    deadline = time.monotonic() + SHARD_WAIT_S
    while True:
        missing = [p for p in paths if not p.exists()]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise DataError(
                missing[0].parent.name,
                f"{len(missing)} shards were not written (e.g. {missing[0].name}); run the same command again to score them",
            )
        time.sleep(0.2)


def score_file(req: ScoreRequest, scorer: Scorer, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Score `req.input` into `req.output`, shard by shard, resuming from the shards already written; see the module docstring."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch
    from accelerate import PartialState

    # without a GPU, several launched processes meet over gloo (accelerate's MULTI_CPU) instead of each running alone
    state = PartialState(cpu=not torch.cuda.is_available())
    say = progress if progress and state.is_main_process else (lambda _: None)
    out, shards = Path(req.output), req.shards
    if out.exists() and not shards.exists():
        raise ConfigError(f"{out.name} exists already: choose another output, or remove it to score again")
    columns = TASK_COLUMNS[req.task]
    with state.main_process_first():  # one process builds the Arrow cache, the others map it
        if state.is_main_process:
            shards.mkdir(parents=True, exist_ok=True)
        ds = load_rows(req.input, columns, shards / ".cache")
    n = len(ds)
    if n == 0:
        raise DataError(Path(req.input).name, "no rows")
    meta_path, meta = shards / "meta.json", _fingerprint(req, n)
    if state.is_main_process:
        if meta_path.exists() and json.loads(meta_path.read_text()) != meta:
            raise ConfigError(
                f"{shards.name}/ holds shards of another run (input, model or shard size differ): remove it or choose another output"
            )
        meta_path.write_text(json.dumps(meta, indent=2))
    state.wait_for_everyone()
    count = math.ceil(n / req.shard_size)
    path_of = [shards / f"shard-{k:05d}.parquet" for k in range(count)]
    todo = [k for k in range(count) if not path_of[k].exists()]
    say(f"{n:,} rows in {count} shards; {count - len(todo)} already written")
    if state.num_processes > 1:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // state.num_processes))  # the cores shared, not oversubscribed
    t0, scored = time.monotonic(), 0
    with state.split_between_processes(todo) as mine:
        for done, k in enumerate(mine, 1):
            lo, hi = k * req.shard_size, min(n, (k + 1) * req.shard_size)
            rows = ds.select(range(lo, hi)).to_list()
            results = scorer([{c: r[c] for c in columns} for r in rows])
            table = pa.Table.from_pylist(
                [{"row": lo + i, **{c: r[c] for c in columns}, **res} for i, (r, res) in enumerate(zip(rows, results))]
            )
            tmp = path_of[k].with_suffix(f".{os.getpid()}.tmp")
            pq.write_table(table, tmp)
            os.replace(tmp, path_of[k])
            scored += hi - lo
            say(f"shard {k + 1} of {count} written ({done} of {len(mine)} of this process's)")
    seconds = time.monotonic() - t0
    state.wait_for_everyone()
    if state.is_main_process:
        _await_shards(path_of)
    summary = {
        **asdict(req),
        "rows": n,
        "shards": count,
        "resumed_shards": count - len(todo),
        "processes": state.num_processes,
        "seconds": round(seconds, 2),
        "rows_scored_here": scored,
        "rows_per_second_here": round(scored / seconds, 1) if seconds else None,
    }
    if state.is_main_process:
        tmp = out.with_suffix(f".{os.getpid()}.tmp")
        # a shard whose column is all empty has it as null: the types of all shards together hold for every one
        schema = pa.unify_schemas([pq.read_schema(path) for path in path_of], promote_options="permissive")
        with pq.ParquetWriter(tmp, schema) as writer:
            for path in path_of:  # one shard in memory at a time
                writer.write_table(pq.read_table(path).cast(schema))
        os.replace(tmp, out)
        shutil.rmtree(shards, ignore_errors=True)
        say(f"{out.name}: {n:,} rows")
    state.wait_for_everyone()
    return summary
