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
