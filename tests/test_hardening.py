"""Hostile names, broken files and databases, sign-in attacks, and jobs whose server dies: one clear message, nothing lost."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from empathy_studio.data import DEMO_PATH
from empathy_studio.errors import PermissionDenied, StoreError
from empathy_studio.services import Studio, TrainRequest, download_folder
from empathy_studio.store import Store
from empathy_studio.throttle import SignInThrottle

from .conftest import ROOT, save_tiny_model, wait_for

DEEP = "[" * 300_000 + "]" * 300_000


def cli(*args: str, env: dict | None = None, user: str | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "empathy_studio.cli", *args]
    if user:
        cmd = ["setpriv", f"--reuid={user}", "--regid=65534", "--clear-groups", *cmd]
    return subprocess.run(
        cmd, capture_output=True, text=True, cwd=ROOT, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    )


def one_line(res: subprocess.CompletedProcess, code: int = 2) -> str:
    lines = [ln for ln in res.stderr.splitlines() if ln.strip() and not ln.startswith("note:")]
    assert res.returncode == code and len(lines) == 1 and "Traceback" not in res.stderr, res.stderr[-3000:]
    return lines[0]


# -- names that become paths ------------------------------------------------------


@pytest.mark.parametrize("name", ["../../x", "/tmp/abs-model", "a/b", ".hidden", "x" * 65, "ok\nname", ""])
def test_model_names_are_checked_before_any_work(tmp_path, name):
    res = cli(
        "train",
        "--model",
        "minilm",
        "--name",
        name,
        "--max-steps",
        "1",
        "--models-dir",
        str(tmp_path / "models"),
        "--db",
        str(tmp_path / "db.sqlite"),
        "--esconv",
        str(DEMO_PATH),
    )
    assert "is not allowed" in one_line(res)
    assert not (tmp_path / "models").exists() and not Path("/tmp/abs-model").exists() and not (tmp_path / "x").exists()


def test_a_derived_name_from_an_odd_file_name_stays_inside(tiny_studio, tmp_path):
    odd = tmp_path / "we ird ..name!.json"
    shutil.copy(DEMO_PATH, odd)
    manifest = tiny_studio.train_and_register(TrainRequest(model="tiny", dataset=str(odd), max_steps=1))
    assert (tiny_studio.settings.models_dir / manifest["name"]).is_dir() and "/" not in manifest["name"]


# -- accounts ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, message",
    [
        ("ana\u200b", "invisible or control character (U+200B)"),
        ("ana\u202egnp", "U+202E"),
        ("ana\nben", "U+000A"),
        ("a" * 100_000, "100,000 characters; the limit is 64"),
        ("   ", "annotator name is empty"),
    ],
)
def test_look_alike_and_hostile_account_names_are_refused(fresh_db, name, message):
    fresh_db.add_annotator("ana", "annotator", "pw")
    with pytest.raises(StoreError, match=message.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        fresh_db.add_annotator(name, "annotator", "x")
    assert [a.name for a in fresh_db.annotators()] == ["ana"]


def test_one_account_per_name_whatever_its_case_or_width(fresh_db):
    fresh_db.add_annotator("Ana", "annotator", "pw")
    again = fresh_db.add_annotator("ａｎａ", "admin", None)  # fullwidth letters, NFKC-equal; a role change keeps the password
    assert again.name == "Ana" and [a.name for a in fresh_db.annotators()] == ["Ana"]
    assert fresh_db.authenticate("ANA", "pw").role == "admin" and fresh_db.authenticate("ana\u200b", "pw") is None


def test_unknown_names_cost_one_scrypt_like_known_ones(fresh_db, monkeypatch):
    import hashlib

    fresh_db.add_annotator("ana", "annotator", "pw")
    fresh_db.authenticate("warm-up", "x")  # the dummy hash is made once
    calls = []
    real = hashlib.scrypt
    monkeypatch.setattr(hashlib, "scrypt", lambda *a, **k: calls.append(1) or real(*a, **k))
    for name in ("ana", "nobody", "ana\u200b", "x" * 500):
        calls.clear()
        assert fresh_db.authenticate(name, "wrong") is None
        assert len(calls) == 1, name


def test_sign_in_backs_off_per_account_and_per_address(fresh_db):
    from empathy_studio.annotation import Annotation
    from empathy_studio.registry import Registry
    from empathy_studio.settings import Settings

    now = [1000.0]
    ann = Annotation(fresh_db, Settings(), Registry(Path("/nonexistent")), SignInThrottle(clock=lambda: now[0]))
    fresh_db.add_annotator("ana", "annotator", "pw")
    for _ in range(5):  # five mistakes are free
        with pytest.raises(PermissionDenied, match="wrong password"):
            ann.login("ana", "guess", client="10.0.0.9")
    with pytest.raises(PermissionDenied, match="try again in 1 s"):
        ann.login("ana", "pw", client="10.0.0.9")  # then even the right password waits, unchecked
    with pytest.raises(PermissionDenied, match="try again in"):
        ann.login("ben", "pw", client="10.0.0.9")  # the same address, another name
    with pytest.raises(PermissionDenied, match="try again in"):
        ann.login("ANA", "pw", client="10.9.9.9")  # the same account, another address
    now[0] += 1.5
    with pytest.raises(PermissionDenied, match="wrong password"):
        ann.login("ana", "guess", client="10.0.0.9")
    with pytest.raises(PermissionDenied, match="try again in 2 s"):
        ann.login("ana", "pw", client="10.0.0.9")  # the wait doubled
    now[0] += 2.5
    assert ann.login("ana", "pw", client="10.0.0.9").name == "ana"  # success clears both
    with pytest.raises(PermissionDenied, match="wrong password"):
        ann.login("ana", "guess", client="10.0.0.9")
    for _ in range(20):  # the wait doubles up to five minutes
        now[0] += 400
        with pytest.raises(PermissionDenied, match="wrong password"):
            ann.login("ghost", "x")
    with pytest.raises(PermissionDenied, match="try again in 300 s"):
        ann.login("ghost", "x")


# -- databases and files ------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [["annotators", "add", "--name", "ana"], ["ratings", "export", "--out", "x.csv"], ["ratings", "agreement"], ["serve", "--port", "1"]],
)
def test_a_file_that_is_not_sqlite_is_refused_in_one_line(tmp_path, command):
    fake = tmp_path / "notes.sqlite"
    fake.write_text("these are my notes, not a database\n" * 10)
    line = one_line(
        cli(*command, "--db", str(fake), "--esconv", str(DEMO_PATH)) if command[0] == "serve" else cli(*command, "--db", str(fake))
    )
    assert line == f"empathy-studio: error: {fake}: not an SQLite database"
    assert fake.read_text().startswith("these are my notes")  # untouched


def _can_run_as_nobody() -> bool:
    if shutil.which("setpriv") is None:
        return False
    probe = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=65534", "--clear-groups", sys.executable, "-c", "import empathy_studio"],
        capture_output=True,
        cwd=ROOT,
        timeout=60,
    )
    return probe.returncode == 0


@pytest.mark.skipif(not _can_run_as_nobody(), reason="needs setpriv, and a checkout and interpreter that the user nobody can read")
def test_read_only_database_and_folder_as_a_normal_user():
    tmp_path = Path(tempfile.mkdtemp(prefix="es-readonly-"))  # pytest's own folders are closed to other users
    tmp_path.chmod(0o755)
    ro_file = tmp_path / "ro" / "studio.sqlite"
    Store(ro_file).close()
    ro_file.chmod(0o444)
    line = one_line(cli("annotators", "add", "--name", "ana", "--db", str(ro_file), user="nobody"))
    assert line == f"empathy-studio: error: {ro_file}: the database is read-only; the studio needs to write to it"
    folder = tmp_path / "locked"
    folder.mkdir(mode=0o755)
    line = one_line(cli("ratings", "agreement", "--db", str(folder / "new" / "studio.sqlite"), user="nobody"))
    assert line == f"empathy-studio: error: {folder / 'new'}: cannot create the database folder (Permission denied)"
    line = one_line(cli("ratings", "agreement", "--db", str(folder / "studio.sqlite"), user="nobody"))
    assert line == f"empathy-studio: error: {folder}: the folder is read-only; the studio needs to write its database there"
    shutil.rmtree(tmp_path)


@pytest.mark.parametrize(
    "command",
    [["predict", "--model", "minilm-quick", "--file"], ["evaluate", "--model", "zeror", "--dataset"], ["serve", "--port", "1", "--esconv"]],
)
def test_deeply_nested_json_is_one_line(tmp_path, command):
    deep = tmp_path / "deep.json"
    deep.write_text(DEEP)
    line = one_line(cli(*command, str(deep), "--db", str(tmp_path / "db.sqlite"), "--models-dir", str(tmp_path / "m")))
    assert line == f"empathy-studio: error: {deep}: nested too deeply to be a dialogue file"


def test_a_file_too_small_for_the_split_says_how_small(tmp_path):
    three = tmp_path / "three.json"
    three.write_text(json.dumps(json.loads(DEMO_PATH.read_text())[:3]))
    line = one_line(cli("serve", "--port", "1", "--esconv", str(three), "--db", str(tmp_path / "db.sqlite")))
    assert line == (
        f"empathy-studio: error: {three}: 3 labelled records; the paper's split (70% train, 10% val, 20% test) needs at least 10"
    )


def test_csv_import_rejects_bad_rows_by_number_and_keeps_the_good(tmp_path):
    db = ["--db", str(tmp_path / "db.sqlite")]
    assert cli("annotators", "add", "--name", "ana", "--password", "pw", *db).returncode == 0
    src = tmp_path / "in.csv"
    src.write_text(
        "annotator,item_id,initial,final,note\n"
        "ana,demo-0,4,2,fine\n"
        "ana,demo-1,nan,2,\n"
        "ana,demo-2,inf,2,\n"
        f"ana,demo-3,3,2,{'x' * 1_000_000}\n"
        "ana,demo-4,3,-inf,\n"
        "ana,demo-5,3,1,also fine\n"
    )
    reports = []
    for extra in (["--dry-run"], []):
        res = cli("ratings", "import", "--file", str(src), "--json", "--esconv", str(DEMO_PATH), *extra, *db)
        assert res.returncode == 0, res.stderr[-2000:]
        reports.append(json.loads(res.stdout))
    dry, real = reports
    assert dry["rejected"] == real["rejected"] and (dry["ok"], dry["written"], real["written"]) == (2, 0, 2)
    assert [(r["row"], r["reason"]) for r in real["rejected"]] == [
        (2, "initial intensity must be an integer from 1 to 5, got 'nan'"),
        (3, "initial intensity must be an integer from 1 to 5, got 'inf'"),
        (4, "note is 1,000,000 characters; the limit is 5,000"),
        (5, "final intensity must be an integer from 1 to 5, got '-inf'"),
    ]
    store = Store(tmp_path / "db.sqlite")
    assert [(r["item_id"], r["note"]) for r in store.ratings()] == [("demo-0", "fine"), ("demo-5", "also fine")]
    store.close()


def test_upload_errors_name_the_file_not_the_servers_upload_folder(tmp_path, settings):
    upload = tmp_path / "gradio-tmp" / "0123abcd" / "broken.json"
    upload.parent.mkdir(parents=True)
    upload.write_text(DEEP)
    studio = Studio(settings.replace(esconv_file=DEMO_PATH))
    with pytest.raises(Exception) as err:
        studio.load_upload(upload)
    assert str(err.value) == "broken.json: nested too deeply to be a dialogue file"
    studio.store.close()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--batch-size", "0"], "batch_size must be an integer from 1 to 4096, got 0"),
        (["--epochs", "-1"], "epochs must be a number above 0, at most 10000, got -1.0"),
        (["--max-length", "4"], "max_length must be an integer from 8 to 8192, got 4"),
        (["--learning-rate", "0"], "learning_rate must be a number above 0, at most 1, got 0.0"),
        (["--seed", "-5"], "seed must be an integer from 0 to 4294967295, got -5"),
        (["--min-annotators", "0"], "min_annotators must be an integer from 1 to 10000, got 0"),
    ],
)
def test_out_of_range_training_options_are_refused(tmp_path, args, message):
    line = one_line(cli("train", "--model", "minilm", *args, "--db", str(tmp_path / "db.sqlite"), "--models-dir", str(tmp_path / "m")))
    assert line == f"empathy-studio: error: {message}"


# -- jobs and their server ---------------------------------------------------------

SERVER = textwrap.dedent("""
    import signal, sys
    from pathlib import Path
    from empathy_studio.services import Studio, TrainRequest
    from empathy_studio.settings import Settings
    settings = Settings(models_dir=Path(sys.argv[1]), db_path=Path(sys.argv[2]), persistent_dir=None, esconv_file=Path(sys.argv[3]))
    studio = Studio(settings)
    studio.start()
    root = studio.annotation.login("root", "pw")
    req = TrainRequest(model="tiny", epochs=2000, preset="paper", patience=0, name="orphan", max_length=32, batch_size=8)
    job = studio.submit_training(root, req)
    print(job, flush=True)
    signal.pause()  # a server until it is killed
""")


def test_a_job_dies_with_its_server_and_the_queue_moves_on(tmp_path, tiny_encoder):
    models, db = tmp_path / "models", tmp_path / "db.sqlite"
    save_tiny_model(tiny_encoder, models / "tiny")
    store = Store(db)
    store.add_annotator("root", "admin", "pw")
    store.close()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(models), str(db), str(DEMO_PATH)], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    job_id = int(server.stdout.readline())
    store = Store(db)
    assert wait_for(lambda: (store.job(job_id)["progress"] or 0) > 0, timeout=120)
    child = store.job(job_id)["pid"]
    os.kill(server.pid, signal.SIGKILL)
    server.wait()
    assert wait_for(lambda: not Path(f"/proc/{child}").exists() or Path(f"/proc/{child}/stat").read_text().split()[2] == "Z", timeout=30)
    assert not (models / "orphan").exists() and not list(models.glob(".trainer-*"))  # it left through its clean-up

    studio = Studio(Settings_for(models, db))
    studio.start()  # the restart settles the job and the queue moves on
    job = studio.store.job(job_id)
    assert job["state"] == "failed" and "the server stopped during the job" in job["error"]
    root = studio.annotation.login("root", "pw")
    nxt = studio.submit_training(root, TrainRequest(model="tiny", max_steps=1, name="after", max_length=32))
    assert studio.jobs.wait(nxt, timeout=240)["state"] == "succeeded" and (models / "after").is_dir()
    assert not list((models / ".logs").rglob("*.log"))  # each job's log goes when it ends; its tail is in the row
    studio.store.close()
    store.close()


def Settings_for(models: Path, db: Path):
    from empathy_studio.settings import Settings

    return Settings(models_dir=models, db_path=db, persistent_dir=None, esconv_file=DEMO_PATH)


def test_a_restart_counts_a_model_published_just_before_the_crash(tiny_studio):
    store = tiny_studio.store
    job_id = store.create_job(TrainRequest(model="tiny", name="made-it").to_dict(), "root")
    store.claim_next_job()
    shutil.copytree(tiny_studio.settings.models_dir / "tiny", tiny_studio.settings.models_dir / "made-it")
    store.update_job(job_id, pid=4_000_000 - 7, model_name="made-it")  # published, then the server died before the row said so
    (tiny_studio.settings.models_dir / ".trainer-3999993-abcd").mkdir()
    fresh = Studio(tiny_studio.settings)
    assert fresh.jobs.recover() == [job_id]
    assert fresh.store.job(job_id)["state"] == "succeeded"
    assert not (tiny_studio.settings.models_dir / ".trainer-3999993-abcd").exists()


def test_two_servers_sharing_a_models_folder_keep_separate_logs(settings, tmp_path):
    a = Studio(settings)
    b = Studio(settings.replace(db_path=tmp_path / "other.sqlite"))
    assert a.jobs.logs_dir != b.jobs.logs_dir and a.jobs.logs_dir.parent == b.jobs.logs_dir.parent
    a.store.close()
    b.store.close()


def test_download_folders_older_than_an_hour_are_removed(tmp_path):
    old = download_folder(tmp_path)
    (old / "fig.png").write_bytes(b"x")
    hour_ago = time.time() - 3700
    os.utime(old, (hour_ago, hour_ago))
    new = download_folder(tmp_path)
    assert new.is_dir() and not old.exists()
