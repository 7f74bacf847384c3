"""Write `retrain-expected.json`: what this code gives after training the tiny models of `test_families.py` with seed 42.

Run when a change is meant to move those numbers (and say why in its commit); the tests then hold the
code to them. The seeker models train on the demo set through the studio (the default preset, 3 steps;
the quick preset, 3 epochs), the rater on the synthetic pairs (the rater preset, 3 steps).

    python tests/data/make_retrain_expected.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from empathy_studio import registry as R  # noqa: E402
from empathy_studio.data import DEMO_PATH  # noqa: E402
from empathy_studio.models.rater_predictor import RaterPredictor  # noqa: E402
from empathy_studio.services import Studio, TrainRequest  # noqa: E402
from empathy_studio.settings import Settings  # noqa: E402
from empathy_studio.training.config import preset  # noqa: E402
from empathy_studio.training.families import FAMILIES  # noqa: E402
from empathy_studio.training.family import TrainData  # noqa: E402
from empathy_studio.training.rater import rater_metrics  # noqa: E402
from empathy_studio.training.trainer import train  # noqa: E402
from tests import test_families as T  # noqa: E402
from tests.conftest import ROOT, make_tiny_encoder  # noqa: E402

SEEKERS = {"default": {"preset": "default", "max_steps": 3, "max_length": 32}, "quick": {"preset": "quick", "epochs": 3, "max_length": 32}}
RATER = {"preset": "rater", "max_steps": 3, "max_length": 32, "batch_size": 8}


def main() -> int:
    tmp = Path(tempfile.mkdtemp())
    encoder = make_tiny_encoder(tmp / "tiny-bert-6", layers=6)
    R.BASE_MODELS["tiny6"] = R.ModelSpec("tiny6", "encoder", str(encoder))
    settings = Settings(
        root=ROOT,
        esconv_file=DEMO_PATH,
        failed_esconv=(),
        models_dir=tmp / "models",
        db_path=tmp / "db.sqlite",
        warm_predictions=False,
        persistent_dir=None,
    )
    studio = Studio(settings)
    out = {}
    for name, request in SEEKERS.items():
        manifest = studio.train_and_register(TrainRequest(model="tiny6", name=f"again-{name}", **request))
        metrics = {k: v for k, v in manifest["metrics"].items() if k in T.RETRAIN[f"seeker-{name}"]["metrics"]}
        out[f"seeker-{name}"] = {
            "request": request,
            "metrics": metrics,
            "predictions": [p.to_dict() for p in studio.predict_texts(f"again-{name}", T.TEXTS)],
        }
    studio.close()
    pairs, rater = T._synthetic_pairs(), FAMILIES["rater"]
    options = {k: v for k, v in RATER.items() if k != "preset"}
    config = preset(RATER["preset"], str(encoder), objective="rater", output_dir=str(tmp / "t"), **options)
    result = train(config, rater, TrainData(pairs[:16], pairs[16:], (), rater.head_options(TrainRequest(model="m", task="empathy"))))
    preds = RaterPredictor(result.model, result.tokenizer, max_length=32, cache_size=0).predict([(p.post, p.response) for p in pairs])
    out["rater"] = {
        "config": RATER,
        "metrics": rater_metrics(preds, pairs),
        "predictions": [
            {"levels": d["pred_levels"], "probs": d["probs"], "level4": d["pred_level4"], "score": d["pred_score"]}
            for d in (p.to_dict() for p in preds)
        ],
    }
    (HERE / "retrain-expected.json").write_text(json.dumps(out, indent=1))
    print("wrote", HERE / "retrain-expected.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
