"""A seed ensemble of seeker models, published as one model.

Models trained the same way on the same data with different seeds disagree on
the hard items, and their average is better than each (on ESConv's test split
the 3-seed ensemble of the default preset beats its members' mean emotion F1,
`bench/results/class-weights.md`). `SeekerEnsemble` holds the members and
answers as one `EmotionIntensityModel` does, so the predictor, the calibration
and the studio use it unchanged:

- emotion: the members' calibrated probabilities (each member's own
  temperature) averaged, returned as their log (a softmax of it gives the
  average back, and the ensemble's own temperature is fitted on it);
- intensity: the members' outputs averaged (linear, so the TF-IDF terms of
  linear heads merge into one `LexicalIntensity` with the averaged weights);
- the pooled features: the members' averaged.

Its folder is one model folder: the members' weights in one `model.safetensors`
(`members.0.…`, `members.1.…`), the shared `heads.json`, `ensemble.json` with
the members' names, and its own calibration and manifest.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from safetensors.torch import load_model
from torch import nn
from transformers import PreTrainedTokenizerBase

from ..errors import ConfigError, ModelUnavailable
from ..registry import ENSEMBLE_FILE, HEADS_FILE, LEXICAL_FILE, WEIGHTS_FILE
from .encoder import encoder_from_folder, save_folder
from .heads import MIN_ENSEMBLE_MEMBERS, HeadConfig
from .lexical import LexicalIntensity
from .seeker import EmotionIntensityModel, load

# what members must share to be averaged; the rest of a head config (class weights, focal gamma, the intensity
# heads' starting values) only says how a member was trained
SHARED_HEADS = (
    "labels",
    "task",
    "pooling",
    "intensity_head",
    "intensity_layer",
    "end_view",
    "situation",
    "emotion_hidden",
    "intensity_hidden",
)


class SeekerEnsemble(nn.Module):
    """Seeker models that answer as one: see the module docstring."""

    def __init__(self, members: Sequence[EmotionIntensityModel], temperatures: Sequence[float] | None = None):
        super().__init__()
        check_members(members)
        self.members = nn.ModuleList(members)
        # each member's calibrated temperature, saved with the weights: members of one seed run are not equally sharp
        temps = [1.0] * len(members) if temperatures is None else [float(t) for t in temperatures]
        if len(temps) != len(members) or min(temps) <= 0:
            raise ConfigError(f"an ensemble needs one positive temperature per model, got {temps}")
        self.register_buffer("temperatures", torch.tensor(temps, dtype=torch.float32))
        self.heads_config = members[0].heads_config
        self.intensity_heads = members[0].intensity_heads  # None for classification models (read, not trained)
        self.lexical = merge_lexical([m.lexical for m in members])

    @property
    def encoder(self) -> nn.Module:  # the first member's: its config and width are every member's
        return self.members[0].encoder

    @property
    def config(self):
        return self.encoder.config

    def end_targets(self) -> tuple[str, ...]:
        reading = {t for m in self.members for t in m.end_targets()}
        return tuple(t for t in ("initial", "final", "change") if t in reading)

    def encode(self, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """The members' pooled features, averaged (what the predictor embeds)."""
        pairs = [m.encode(*args, **kwargs) for m in self.members]
        return torch.stack([a for a, _ in pairs]).mean(0), torch.stack([b for _, b in pairs]).mean(0)

    def forward(self, **batch: Any) -> dict[str, torch.Tensor]:
        batch = {k: v for k, v in batch.items() if k not in ("labels", "intensity")}  # an ensemble predicts; it is never trained
        outs = [m(**batch) for m in self.members]
        probs = torch.stack([torch.softmax(o["logits"].float() / t, dim=-1) for o, t in zip(outs, self.temperatures)]).mean(0)
        res = {"logits": torch.log(probs.clamp_min(1e-12)), "pooled": torch.stack([o["pooled"] for o in outs]).mean(0)}
        if "intensity" in outs[0]:
            res["intensity"] = torch.stack([o["intensity"] for o in outs]).mean(0)
        return res


def check_members(members: Sequence[EmotionIntensityModel]) -> None:
    """Members that can be averaged: at least two, with the same heads, encoder shape and (for TF-IDF terms) vocabulary."""
    if len(members) < MIN_ENSEMBLE_MEMBERS:
        raise ConfigError(f"an ensemble needs at least {MIN_ENSEMBLE_MEMBERS} models, got {len(members)}")
    first = members[0]
    for i, m in enumerate(members[1:], start=1):
        differ = [k for k in SHARED_HEADS if getattr(m.heads_config, k) != getattr(first.heads_config, k)]
        if differ:
            raise ConfigError(f"the ensemble's models differ in their heads ({', '.join(differ)}): member {i + 1} against member 1")
        if _shapes(m.encoder) != _shapes(first.encoder) or m.encoder.config.model_type != first.encoder.config.model_type:
            raise ConfigError(f"the ensemble's models are built on different encoders: member {i + 1} against member 1")
        if (m.lexical is None) != (first.lexical is None):
            raise ConfigError("some of the ensemble's models have TF-IDF intensity terms and some do not")


def _shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def merge_lexical(parts: Sequence[LexicalIntensity | None]) -> LexicalIntensity | None:
    """The members' TF-IDF terms as one: the same vocabulary and idf (they were fitted on the same texts), weights averaged."""
    if parts[0] is None:
        return None
    first = parts[0]
    for p in parts[1:]:
        if p.vocabulary != first.vocabulary or not np.array_equal(p.idf, first.idf):
            raise ConfigError("the ensemble's models fitted their TF-IDF terms on different texts: a seed ensemble shares its training set")
    return LexicalIntensity(first.vocabulary, first.idf, np.mean([p.weights for p in parts], axis=0))


def is_ensemble(folder: Path | str) -> bool:
    return (Path(folder) / ENSEMBLE_FILE).exists()


def save_ensemble(
    model: SeekerEnsemble, tokenizer: PreTrainedTokenizerBase, folder: Path | str, member_names: Sequence[str], manifest: dict[str, Any]
) -> Path:
    """The ensemble's folder: one model folder whose weights are every member's."""
    files = {
        HEADS_FILE: json.dumps(model.heads_config.to_dict(), indent=2),
        ENSEMBLE_FILE: json.dumps({"members": list(member_names)}, indent=2),
    }
    folder = save_folder(model, tokenizer, folder, files, manifest)
    if model.lexical is not None:
        model.lexical.save(folder / LEXICAL_FILE)
    return folder


def load_ensemble(folder: Path | str, device: str | torch.device = "cpu") -> tuple[SeekerEnsemble, PreTrainedTokenizerBase]:
    folder = Path(folder)
    try:
        names = json.loads((folder / ENSEMBLE_FILE).read_text())["members"]
        heads = HeadConfig(**json.loads((folder / HEADS_FILE).read_text()))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelUnavailable(f"{folder.name}: not an ensemble folder ({exc.__class__.__name__})") from None
    members, tokenizer = [], None
    for _ in names:
        encoder, tokenizer = encoder_from_folder(folder)
        members.append(EmotionIntensityModel(encoder, HeadConfig(**heads.to_dict())))
    model = SeekerEnsemble(members)
    load_model(model, str(folder / WEIGHTS_FILE), device=str(device))
    model.lexical = LexicalIntensity.load(folder / LEXICAL_FILE) if (folder / LEXICAL_FILE).exists() else None  # the members' merged
    return model.to(device).eval(), tokenizer


def load_seeker(folder: Path | str, device: str | torch.device = "cpu") -> tuple[nn.Module, PreTrainedTokenizerBase]:
    """A seeker model folder, a single model or an ensemble."""
    return (load_ensemble if is_ensemble(folder) else load)(folder, device)
