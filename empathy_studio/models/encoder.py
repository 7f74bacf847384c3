"""What every studio model is built on: a pretrained encoder and its tokenizer, pooling, the focal loss, the folder format.

A model folder is a Hugging Face-style folder: the encoder's `config.json`, the
family's heads file (`heads.json` or `rater.json`), `model.safetensors`, the
tokenizer and `manifest.json`. The file names live with the registry.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from safetensors.torch import save_model
from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedTokenizerBase

from ..registry import MANIFEST_FILE, WEIGHTS_FILE


def load_encoder(name_or_path: str | Path, local_files_only: bool = True, config: Any = None) -> nn.Module:
    """A pretrained encoder; attention dropout is set to 0 so SDPA keeps its fused path in training."""
    cfg = config or AutoConfig.from_pretrained(str(name_or_path), local_files_only=local_files_only)
    for key in ("attention_probs_dropout_prob", "attention_dropout"):
        if hasattr(cfg, key):
            setattr(cfg, key, 0.0)
    return AutoModel.from_pretrained(str(name_or_path), config=cfg, local_files_only=local_files_only)


def encoder_and_tokenizer(encoder_source: str | Path, local_files_only: bool = True) -> tuple[nn.Module, PreTrainedTokenizerBase]:
    """A pretrained encoder and its tokenizer: what every studio model (the seeker's, the empathy rater) is built on."""
    tokenizer = AutoTokenizer.from_pretrained(str(encoder_source), local_files_only=local_files_only)
    return load_encoder(encoder_source, local_files_only), tokenizer


def encoder_from_folder(folder: Path) -> tuple[nn.Module, PreTrainedTokenizerBase]:
    """The encoder's architecture from a model folder's config.json (weights are loaded with the heads), and its tokenizer."""
    encoder = AutoModel.from_config(AutoConfig.from_pretrained(folder, local_files_only=True))
    return encoder, AutoTokenizer.from_pretrained(folder, local_files_only=True)


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, how: str) -> torch.Tensor:
    """The first token ("cls") or the mean over the real tokens ("mean")."""
    if how == "cls":
        return hidden[:, 0]
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def focal_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, gamma: float, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy (gamma 0) or focal loss; with `weight` (one per class) the mean weighted by each row's class, as torch's
    `cross_entropy(weight=...)` weights it."""
    log_p = torch.log_softmax(logits, dim=-1).gather(1, labels[:, None]).squeeze(1)
    per = -log_p if gamma == 0 else -((1 - log_p.exp()) ** gamma) * log_p
    if weight is None:
        return per.mean()
    w = weight.to(per)[labels]
    return (per * w).sum() / w.sum()


def balanced_weights(labels: Sequence[int], classes: int, power: float) -> list[float]:
    """One weight per class: scikit-learn's "balanced" weights, n / (classes present · count), raised to `power` (0: all 1,
    1: balanced, 0.5: its square root); a class absent from `labels` gets 1."""
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(np.asarray(labels, dtype=int))
    weights = np.ones(classes)
    weights[present] = compute_class_weight("balanced", classes=present, y=np.asarray(labels, dtype=int)) ** power
    return [float(w) for w in weights]


def save_folder(
    model: nn.Module, tokenizer: PreTrainedTokenizerBase, folder: Path | str, files: dict[str, str], manifest: dict[str, Any] | None = None
) -> Path:
    """A Hugging Face-style folder: the encoder's config.json, the heads' own `files`, model.safetensors, tokenizer, manifest.json."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.encoder.config.save_pretrained(folder)
    for name, text in files.items():
        (folder / name).write_text(text)
    save_model(model, str(folder / WEIGHTS_FILE))
    tokenizer.save_pretrained(folder)
    if manifest is not None:
        (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, default=json_default))
    return folder


def json_default(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
