"""`empathy-studio score`: a corpus file to Parquet in shards, resumed after a kill, data-parallel under `accelerate launch`.

Without a GPU or MPI, accelerate's `--cpu` launcher starts one process; `--multi_gpu --num_processes 2`
starts two through torchrun, which meet over gloo on CPU (see `scoring.py`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from .conftest import wait_for

POSTS = ["i feel so alone", "my exam went badly and i am scared", "i lost my job today", "nobody listens to me at work"]
RESPONSES = ["that sounds hard, what happened?", "i am sorry", "ok", "you must feel lost. how are you coping with it?"]


@pytest.fixture
def corpus(tmp_path, tiny_encoder):
    from empathy_studio.models.rater import RaterConfig, build_rater, save_rater

    model, tok = build_rater(tiny_encoder, RaterConfig(hidden=8))
    save_rater(model, tok, tmp_path / "models" / "tiny-rater", {"name": "tiny-rater", "task": "empathy", "objective": "rater"})
    return tmp_path


def write_pairs(path: Path, n: int) -> Path:
    path.write_text(
        "".join(json.dumps({"post": POSTS[i % 4] + f" {i}", "response": RESPONSES[(i * 7) % 4] * (1 + i % 3)}) + "\n" for i in range(n))
    )
    return path


def command(folder: Path, *args: str, processes: int = 1) -> list[str]:
    base = ["-m", "empathy_studio", "score", "--models-dir", str(folder / "models"), "--db", str(folder / "db.sqlite"), *args]
    if processes == 1:
        return [sys.executable, *base]
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
        "--main_process_port",
        str(_free_port()),
        *base,
    ]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})


def table(path: Path):
    import pyarrow.parquet as pq

    return pq.read_table(path)


def test_two_processes_killed_and_resumed_write_what_an_uninterrupted_run_writes(corpus):
    pairs = write_pairs(corpus / "pairs.jsonl", 3000)
    args = ["--task", "empathy", "--model", "tiny-rater", "--input", str(pairs), "--shard-size", "10", "--json"]
    whole = run(command(corpus, *args, "--output", str(corpus / "whole.parquet"), processes=2))
    assert whole.returncode == 0, whole.stderr[-3000:]
    summary = json.loads(whole.stdout[whole.stdout.index("{") : whole.stdout.index("}") + 1])
    assert summary["processes"] == 2 and summary["shards"] == 300 and summary["rows"] == 3000
    out, shards = corpus / "resumed.parquet", corpus / "resumed.parquet.shards"
    proc = subprocess.Popen(
        command(corpus, *args, "--output", str(out), processes=2),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    try:
        assert wait_for(lambda: len(list(shards.glob("shard-*.parquet"))) >= 20 or proc.poll() is not None, timeout=240, every=0.01)
        # the launcher and both workers, mid-run (torchrun starts its workers in sessions of their own)
        family = [proc.pid, *(c.pid for c in psutil.Process(proc.pid).children(recursive=True))]
        for pid in family:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    finally:
        proc.wait(timeout=60)
    written = len(list(shards.glob("shard-*.parquet")))
    assert not out.exists() and 20 <= written < 300, written
    again = run(command(corpus, *args, "--output", str(out), processes=2))
    assert again.returncode == 0, again.stderr[-3000:]
    resumed = json.loads(again.stdout[again.stdout.index("{") : again.stdout.index("}") + 1])
    assert resumed["resumed_shards"] >= written and not shards.exists()
    a, b = table(corpus / "whole.parquet"), table(out)
    assert a.num_rows == b.num_rows == 3000 and a.equals(b)
    assert b.column("row").to_pylist() == list(range(3000))
    assert set(b.column_names) >= {
        "post",
        "response",
        "emotional_reactions",
        "interpretations",
        "explorations",
        "level4",
        "score",
        "skipped",
    }


def test_one_process_scores_and_refuses_bad_input_in_one_line(corpus):
    pairs = write_pairs(corpus / "pairs.jsonl", 25)
    with pairs.open("a") as fh:
        fh.write(json.dumps({"post": "   ", "response": "hello"}) + "\n")
    out = corpus / "one.parquet"
    ok = run(
        command(corpus, "--task", "empathy", "--model", "tiny-rater", "--input", str(pairs), "--output", str(out), "--shard-size", "7")
    )
    assert ok.returncode == 0, ok.stderr[-2000:]
    t = table(out).to_pylist()
    assert len(t) == 26 and t[-1]["skipped"] == "post is empty" and t[-1]["score"] is None and all(r["score"] is not None for r in t[:-1])
    (corpus / "cols.csv").write_text("seeker,reply\nhi,hello\n")
    for args, message in (
        (["--input", str(corpus / "cols.csv"), "--output", str(corpus / "x.parquet")], "missing column post, response"),
        (["--input", str(pairs), "--output", str(out)], "one.parquet exists already"),
        (["--input", str(pairs), "--output", str(corpus / "x.csv")], "the output must be a .parquet file"),
        (["--input", str(corpus / "nope.jsonl"), "--output", str(corpus / "y.parquet")], "file not found"),
        (["--input", str(pairs), "--output", str(corpus / "z.parquet"), "--shard-size", "0"], "shard size must be an integer"),
    ):
        bad = run(command(corpus, "--task", "empathy", "--model", "tiny-rater", *args))
        assert bad.returncode == 2 and message in bad.stderr and bad.stderr.strip().count("\n") == 0, (message, bad.stderr[-1500:])
    other = run(command(corpus, "--task", "empathy", "--model", "nope", "--input", str(pairs), "--output", str(corpus / "w.parquet")))
    assert other.returncode == 2 and "unknown model 'nope'" in other.stderr


def test_shards_of_another_run_are_never_mixed_in(corpus):
    from empathy_studio.services import ScoreRequest, Studio
    from empathy_studio.settings import load_settings

    studio = Studio(load_settings(models_dir=corpus / "models", db_path=corpus / "db.sqlite", persistent_dir=None))
    try:
        pairs = write_pairs(corpus / "pairs.jsonl", 12)
        req = ScoreRequest(task="empathy", model="tiny-rater", input=str(pairs), output=str(corpus / "o.parquet"), shard_size=5)
        req.shards.mkdir()
        (req.shards / "meta.json").write_text(json.dumps({"task": "empathy", "model": "another"}))
        with pytest.raises(Exception, match="holds shards of another run"):
            studio.score_corpus(req)
        (req.shards / "meta.json").unlink()
        summary = studio.score_corpus(req)
        assert summary["rows"] == 12 and summary["shards"] == 3 and table(corpus / "o.parquet").num_rows == 12
        with pytest.raises(Exception, match="is not an empathy rater|base encoder|unknown model"):
            studio.score_corpus(ScoreRequest(task="empathy", model="minilm", input=str(pairs), output=str(corpus / "p.parquet")))
    finally:
        studio.store.close()


def test_a_seeker_model_scores_a_csv_of_texts(tiny_studio, tmp_path):
    from empathy_studio.services import ScoreRequest

    texts = tmp_path / "texts.csv"
    texts.write_text(
        'text,source\n"I can\'t sleep since I lost my job, and I feel so anxious",forum\n"",forum\n"my exam went badly, i am scared",chat\n'
    )
    summary = tiny_studio.score_corpus(
        ScoreRequest(task="emotion-intensity", model="tiny", input=str(texts), output=str(tmp_path / "t.parquet"))
    )
    rows = table(tmp_path / "t.parquet").to_pylist()
    assert summary["rows"] == 3 and [r["row"] for r in rows] == [0, 1, 2]
    assert rows[1]["skipped"] == "text is empty" and rows[1]["emotion"] is None
    assert rows[0]["emotion"] and 1 <= rows[0]["pred_initial"] <= 5 and 0 < rows[0]["emotion_probability"] <= 1
    with pytest.raises(Exception, match="missing column text"):
        tiny_studio.score_corpus(
            ScoreRequest(
                task="emotion-intensity", model="tiny", input=str(write_pairs(tmp_path / "p.jsonl", 3)), output=str(tmp_path / "u.parquet")
            )
        )
