"""The `empathy-studio` command: the ZeroR row, JSON contracts, help text, and bad input as one line with exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from empathy_studio.cli import build_parser

from .conftest import ESCONV, ROOT, needs_esconv


def run(*args: str, tmp_path=None) -> subprocess.CompletedProcess:
    extra = ["--db", str(tmp_path / "cli.sqlite"), "--models-dir", str(tmp_path / "models")] if tmp_path is not None else []
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "empathy_studio.cli", *args, *extra], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300
    )


@needs_esconv
def test_zeror_row_matches_the_paper_to_4_decimals(tmp_path):
    res = run(
        "evaluate", "--model", "zeror", "--dataset", "esconv", "--split", "test", "--json", "--esconv", str(ESCONV), tmp_path=tmp_path
    )
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert (out["model"], out["dataset"], out["split"], out["n"]) == ("zeror", "esconv", "test", 258)
    expected = {"f1_weighted": 0.1188, "recall_weighted": 0.2752, "mse_initial": 0.7606, "mse_final": 0.8265, "mse_change": 0.9485}
    assert {k: round(out[k], 4) for k in expected} == expected
    assert out["n_initial"] == 258 and out["n_final"] == 232 and out["pearson_initial"] is None
    for t in ("initial", "final", "change"):
        assert {f"mse_{t}", f"mae_{t}", f"pearson_{t}", f"pearson_p_{t}", f"spearman_{t}", f"n_{t}"} <= set(out)


def test_models_json_lists_every_row_with_availability(tmp_path):
    res = run("models", "--json", tmp_path=tmp_path)
    assert res.returncode == 0, res.stderr
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert rows["minilm"]["availability"] == "available"
    assert {"mental-roberta", "mental-bert", "modernbert", "minilm-quick"} <= set(rows)
    assert all("availability" in r for r in rows.values())


@pytest.mark.parametrize(
    "args, message",
    [
        (["predict", "--model", "gpt-9", "--text", "hi"], "unknown model 'gpt-9'"),
        (["train", "--model", "mental-roberta", "--max-steps", "1"], "not available offline"),
        (["predict", "--model", "minilm", "--text", "hi"], "base encoder"),
        (["evaluate", "--model", "zeror", "--dataset", "/nonexistent/file.json"], "file not found"),
        (["evaluate", "--model", "zeror", "--split", "holdout"], "invalid choice"),
        (["train", "--model", "minilm", "--epochs", "0", "--max-steps", "1"], "epochs must be a number above 0"),
        (["ratings", "import", "--file", "/nonexistent.csv"], "file not found"),
        (["ratings", "export"], "export needs --out"),
        (["annotators", "add", "--name", "  "], "annotator name is empty"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    res = run(*args, tmp_path=tmp_path) if args[0] != "frobnicate" else run(*args)
    assert res.returncode == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert message in lines[0] and res.stdout == ""


def test_malformed_esconv_file_names_record_and_field(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"emotion_type": "anger", "dialog": [{"speaker": "robot", "content": "x"}]}]))
    res = run("evaluate", "--model", "zeror", "--dataset", str(bad), tmp_path=tmp_path)
    assert res.returncode == 2
    assert f"{bad}: record 0, field 'dialog[0].speaker': unknown role 'robot'" in res.stderr.strip()


def test_every_command_and_option_has_help():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, sp in sub.choices.items():
        assert sp.description, name
        for action in sp._actions:
            if action.dest != "help" and action.help != "==SUPPRESS==":
                assert action.help, f"{name} {action.dest}"


def test_demo_set_is_announced_when_no_esconv(tmp_path):
    cfg = tmp_path / "space_config.yaml"
    cfg.write_text("esconv: []\n")
    env = {**os.environ, "EMPATHY_STUDIO_CONFIG": str(cfg)}
    env.pop("EMPATHY_STUDIO_ESCONV", None)
    res = subprocess.run(
        [sys.executable, "-m", "empathy_studio.cli", "evaluate", "--model", "zeror", "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert "demo set" in res.stderr and json.loads(res.stdout)["n"] > 0


def test_ratings_import_report_export_and_agreement(tmp_path):
    from empathy_studio.data import DEMO_PATH

    common = ["--esconv", str(DEMO_PATH)]
    assert run("annotators", "add", "--name", "ana", "--password", "pw", tmp_path=tmp_path).returncode == 0
    rows = [
        {"annotator": "ana", "item_id": "demo-0", "initial": 4, "final": 2},
        {"annotator": "ana", "item_id": "demo-1", "initial": 6, "final": 2},
        {"annotator": "ana", "item_id": "demo-2", "initial": 3, "final": 2, "emotion": "joy"},
        {"annotator": "nobody", "item_id": "demo-3", "initial": 3, "final": 2},
        {"annotator": "ana", "item_id": "demo-4", "initial": 3, "final": 2, "note": "x" * 5001},
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in rows))
    dry = run("ratings", "import", "--file", str(src), "--dry-run", "--json", *common, tmp_path=tmp_path)
    assert dry.returncode == 0, dry.stderr
    report = json.loads(dry.stdout)
    assert report["ok"] == 1 and report["written"] == 0
    assert [r["row"] for r in report["rejected"]] == [2, 3, 4, 5]
    real = json.loads(run("ratings", "import", "--file", str(src), "--json", *common, tmp_path=tmp_path).stdout)
    assert real["written"] == 1
    out = tmp_path / "out.csv"
    assert run("ratings", "export", "--format", "csv", "--out", str(out), tmp_path=tmp_path).returncode == 0
    assert out.read_text().count("\n") == 2
    agree = run("ratings", "agreement", "--json", "--n-boot", "10", tmp_path=tmp_path)
    assert agree.returncode == 0, agree.stderr
    assert json.loads(agree.stdout)["n_ratings"] == 1


def test_releases_audit_and_quality_from_the_command_line(tmp_path):
    from empathy_studio.data import DEMO_PATH
    from empathy_studio.services import CampaignRequest, Studio
    from empathy_studio.settings import Settings

    studio = Studio(
        Settings(
            root=ROOT,
            models_dir=tmp_path / "models",
            db_path=tmp_path / "cli.sqlite",
            persistent_dir=None,
            warm_predictions=False,
            build_starter=False,
            esconv_file=DEMO_PATH,
        )
    )
    root = studio.add_annotator("root", "admin", "pw")
    studio.create_campaign(root, CampaignRequest(name="pilot", k=2, source="ids", ids="demo-1 demo-2", blind=False))
    for name, values in (("ana", (5, 2)), ("ben", (2, 2))):
        who = studio.add_annotator(name, "annotator", "pw")
        for item in ("demo-1", "demo-2"):
            studio.annotation.rate(who, item, values[0] if item == "demo-1" else 3, values[1], campaign="pilot")
    studio.store.close()
    res = run("annotators", "add", "--name", "rev", "--role", "reviewer", tmp_path=tmp_path)
    assert res.returncode == 0 and res.stdout.strip() == "rev (reviewer)", res.stderr
    res = run("releases", "create", "--name", "cli-v1", "--campaign", "pilot", "--method", "median", "--json", tmp_path=tmp_path)
    assert res.returncode == 0, res.stderr
    rel = json.loads(res.stdout)
    assert rel["id"].startswith("cli-v1-") and rel["n_items"] == 2 and rel["summary"]["provenance"]["initial"]["unresolved"] == 1
    listed = run("releases", "list", tmp_path=tmp_path)
    assert rel["id"] in listed.stdout and "pilot v1" in listed.stdout
    shown = run("releases", "show", "--id", rel["id"], tmp_path=tmp_path)
    assert "## Provenance" in shown.stdout and rel["content_hash"] in shown.stdout
    exported = run("releases", "export", "--id", rel["id"], "--to", f"file://{tmp_path / 'out'}", tmp_path=tmp_path)
    assert exported.returncode == 0 and (tmp_path / "out" / rel["id"] / "labels.jsonl").exists()
    for args, message in (
        (("releases", "show", "--id", "nope-000000000000"), "unknown release"),
        (("releases", "create", "--name", "../up", "--campaign", "pilot"), "is not allowed"),
        (("ratings", "agreement", "--guideline-version", "1"), "add --campaign"),
    ):
        bad = run(*args, tmp_path=tmp_path)
        assert bad.returncode == 2 and message in bad.stderr and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    audit = json.loads(run("audit", "--json", tmp_path=tmp_path).stdout)
    assert {"release created", "account created", "campaign created", "rating created"} <= {r["action"] for r in audit}
    quality = json.loads(run("ratings", "quality", "--campaign", "pilot", "--json", tmp_path=tmp_path).stdout)
    assert [r["annotator"] for r in quality["raters"]] == ["ana", "ben"] and quality["raters"][0]["items"] == 2
