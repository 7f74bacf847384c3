"""Models are live: warmed in the background once published, managed by admins, compared with the model that matters."""

from __future__ import annotations

import time

import pytest

from empathy_studio.errors import ConfigError, NotFound, PermissionDenied
from empathy_studio.services import TrainRequest
from empathy_studio.warming import Warmer

from .conftest import save_tiny_model


def test_a_published_model_is_warmed_in_a_niced_child_and_analyze_then_answers_at_once(tiny_studio, tiny_encoder):
    save_tiny_model(tiny_encoder, tiny_studio.settings.models_dir / "fresh", task="emotion-intensity")
    pending = dict(tiny_studio.warm_pending())
    assert "fresh" in pending and "tiny" in pending
    warmer = Warmer(tiny_studio.settings, tiny_studio.warm_pending, tiny_studio.jobs_active)
    assert warmer.step() in pending
    while warmer.step():
        pass
    assert tiny_studio.warm_pending() == [] and set(warmer.warmed) >= {"fresh", "tiny"}
    tiny_studio._predictors.clear()  # as in a server that never loaded the model: Analyze reads the cache alone
    t0 = time.perf_counter()
    result = tiny_studio.analyze("fresh", "all")
    assert time.perf_counter() - t0 < 2 and len(result["rows"]) == 30
    assert "fresh" not in tiny_studio._predictors


def test_the_warmer_waits_while_a_job_trains_and_skips_a_model_it_could_not_warm(tiny_studio, tiny_encoder):
    busy = Warmer(tiny_studio.settings, tiny_studio.warm_pending, lambda: True)
    assert busy.step() is None
    broken = tiny_studio.settings.models_dir / "broken"
    save_tiny_model(tiny_encoder, broken)
    (broken / "model.safetensors").write_bytes(b"not weights")
    warmer = Warmer(tiny_studio.settings, lambda: [("broken", broken)], lambda: False)
    assert warmer.step() is None and warmer.step() is None and list(warmer._failed) == ["broken"]


def test_admins_set_the_default_rename_and_delete_with_the_name_rule(tiny_studio, tiny_encoder):
    root, ana = tiny_studio.annotation.login("root", "pw"), tiny_studio.annotation.login("ana", "pw")
    save_tiny_model(tiny_encoder, tiny_studio.settings.models_dir / "tiny-b")
    tiny_studio.split_predictions("tiny-b", "test")
    for call in (
        lambda: tiny_studio.set_default_model(ana, "tiny-b"),
        lambda: tiny_studio.rename_model(ana, "tiny-b", "x"),
        lambda: tiny_studio.delete_model(None, "tiny-b"),
    ):
        with pytest.raises(PermissionDenied):
            call()
    assert tiny_studio.set_default_model(root, "tiny-b") == "tiny-b" and tiny_studio.default_model() == "tiny-b"
    for bad in ("../x", ".hidden", "a/b", ""):
        with pytest.raises(ConfigError, match="not allowed"):
            tiny_studio.rename_model(root, "tiny-b", bad)
    with pytest.raises(ConfigError, match="already exists"):
        tiny_studio.rename_model(root, "tiny-b", "tiny")
    with pytest.raises(ConfigError, match="registry row"):
        tiny_studio.rename_model(root, "minilm", "mine")
    n = len(tiny_studio.store.cached_hashes("tiny-b"))
    assert tiny_studio.rename_model(root, "tiny-b", "tiny-renamed") == "tiny-renamed"
    assert tiny_studio.default_model() == "tiny-renamed" and len(tiny_studio.store.cached_hashes("tiny-renamed")) == n > 0
    assert tiny_studio.registry.get("tiny-renamed").manifest["renamed_from"] == "tiny-b"
    tiny_studio.delete_model(root, "tiny-renamed")
    assert "tiny-renamed" not in tiny_studio.model_choices() and not tiny_studio.store.cached_hashes("tiny-renamed")
    assert tiny_studio.default_model() != "tiny-renamed"
    with pytest.raises(NotFound):
        tiny_studio.delete_model(root, "tiny-renamed")


def test_a_model_started_from_a_bare_encoder_is_compared_with_the_default_of_that_time(tiny_studio, tiny_encoder):
    root = tiny_studio.annotation.login("root", "pw")
    tiny_studio.set_default_model(root, "tiny")
    req = tiny_studio.comparison_for(TrainRequest(model="minilm"))
    assert req.compare_with == "tiny"  # minilm has no test metrics; the default model does
    assert tiny_studio.comparison_for(TrainRequest(model="tiny")).compare_with == "tiny"  # a parent with metrics is the comparison
    with pytest.raises(Exception, match="unknown model"):
        tiny_studio.comparison_for(TrainRequest(model="tiny", compare_with="nope"))
