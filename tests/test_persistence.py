"""The database survives a Space restart: on a persistent volume, or through snapshots to a stand-in remote folder."""

from __future__ import annotations

import shutil

from empathy_studio.data import DEMO_PATH
from empathy_studio.services import Studio


def _rate(studio: Studio) -> None:
    studio.store.add_annotator("ana", "annotator", "pw")
    studio.annotation.rate(studio.annotation.login("ana", "pw"), "demo-0", 4, 2, note="keep me")


def test_persistent_volume_holds_the_database(settings, tmp_path):
    volume = tmp_path / "data"
    volume.mkdir()
    cfg = settings.replace(persistent_dir=volume)
    first = Studio(cfg.replace(esconv_file=DEMO_PATH))
    first.start()
    _rate(first)
    first.store.close()
    assert cfg.effective_db_path.parent.parent == volume and not cfg.db_path.exists()
    shutil.rmtree(cfg.db_path.parent, ignore_errors=True)  # the Space's own disk is wiped
    again = Studio(cfg.replace(esconv_file=DEMO_PATH))
    again.start()
    assert [r["note"] for r in again.store.ratings()] == ["keep me"]
    again.store.close()


def test_snapshot_restores_every_rating_after_a_wiped_disk(settings, tmp_path):
    remote = tmp_path / "remote-dataset-repo"
    cfg = settings.replace(snapshot_repo=f"file://{remote}", snapshot_every_minutes=60)
    first = Studio(cfg.replace(esconv_file=DEMO_PATH))
    first.start()
    _rate(first)
    first.snapshots.snapshot_now()
    first.snapshots.stop()
    first.store.close()
    shutil.rmtree(cfg.db_path.parent)  # restart: the disk comes up empty
    again = Studio(cfg.replace(esconv_file=DEMO_PATH))
    again.start()
    rows = again.store.ratings()
    assert [(r["annotator"], r["item_id"], r["initial"], r["final"], r["note"]) for r in rows] == [("ana", "demo-0", 4, 2, "keep me")]
    assert again.store.integrity_check() == "ok"
    again.snapshots.stop()
    again.store.close()


def test_sigterm_snapshots_every_acknowledged_rating_and_a_restart_restores_them(tmp_path):
    """A Space without a volume: rate, stop the server as a Space does (SIGTERM), lose the disk, start again."""
    import os
    import signal
    import subprocess
    import sys

    from gradio_client import Client

    from empathy_studio.store import Store

    from .conftest import ROOT, free_port, wait_for

    remote, db = tmp_path / "remote", tmp_path / "disk" / "studio.sqlite"
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "EMPATHY_STUDIO_SNAPSHOT_REPO": f"file://{remote}",
        "EMPATHY_STUDIO_SNAPSHOT_EVERY_MINUTES": "60",
        "EMPATHY_STUDIO_SNAPSHOT_DEBOUNCE_SECONDS": "600",
        "EMPATHY_STUDIO_PERSISTENT_DIR": str(tmp_path / "no-volume"),
        "EMPATHY_STUDIO_BUILD_STARTER": "false",
    }

    def serve():
        port = free_port()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "empathy_studio.cli",
                "serve",
                "--port",
                str(port),
                "--db",
                str(db),
                "--esconv",
                str(DEMO_PATH),
                "--models-dir",
                str(tmp_path / "models"),
                "--auth",
                "ana:pw",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

        def up() -> bool:
            try:
                return Client(f"http://127.0.0.1:{port}/", verbose=False) is not None
            except Exception:  # noqa: BLE001 - not up yet
                return False

        assert wait_for(up, timeout=120, every=0.5), proc.stderr.read() if proc.poll() is not None else "not up"
        return proc, Client(f"http://127.0.0.1:{port}/", verbose=False)

    proc, client = serve()
    client.predict("ana", "pw", {}, api_name="/sign_in")
    sess = client.predict({}, api_name="/next_item")[-2]
    acknowledged = []
    for ini, fin in ((4, 2), (5, 3), (2, 1)):
        out = client.predict("default", str(ini), str(fin), "", "", None, f"note {ini}", sess, api_name="/submit_rating")
        acknowledged.append((ini, fin, f"note {ini}"))
        sess = out[-1]
    assert not (remote / "studio.sqlite").exists()  # the debounce (600 s) and the schedule (60 min) have not come yet
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    assert (remote / "studio.sqlite").exists()  # taken at shutdown
    log = proc.stderr.read()
    assert f"database {db} (named explicitly)" in log  # the log says which database is in use
    assert "No admin account yet. Create one: " in log and "annotators add --name admin" in log  # ana is no admin
    for path in db.parent.iterdir():
        path.unlink()  # the Space's disk is wiped
    proc, _ = serve()
    try:
        store = Store(db)
        assert [(r["initial"], r["final"], r["note"]) for r in store.ratings()] == acknowledged
        store.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def test_a_write_is_snapshotted_within_the_debounce(settings, tmp_path):
    from .conftest import wait_for

    remote = tmp_path / "remote"
    cfg = settings.replace(snapshot_repo=f"file://{remote}", snapshot_every_minutes=60, snapshot_debounce_seconds=0.5)
    studio = Studio(cfg.replace(esconv_file=DEMO_PATH))
    studio.start()
    _rate(studio)
    assert wait_for(lambda: (remote / "studio.sqlite").exists(), timeout=20)
    studio.close()


def test_an_explicit_database_wins_over_the_persistent_volume(tmp_path):
    from empathy_studio.settings import load_settings

    volume = tmp_path / "data"
    volume.mkdir()
    env = {"EMPATHY_STUDIO_CONFIG": str(tmp_path / "none.yaml"), "EMPATHY_STUDIO_PERSISTENT_DIR": str(volume)}
    assert load_settings(env=env).effective_db_path.is_relative_to(volume)
    mine = tmp_path / "mine.sqlite"
    named = load_settings(env=env, db_path=mine)
    assert named.effective_db_path == mine and "named explicitly" in named.describe_db()
    assert load_settings(env={**env, "EMPATHY_STUDIO_DB_PATH": str(mine)}).effective_db_path == mine
