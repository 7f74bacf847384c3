"""The encoder-plus-heads model of Wang & Roman (CCN 2025), our head variants, save and load.

The paper's multi-task model reads the first token (CLS) of the encoder's last
hidden state into two kinds of heads:

- an emotion head, Linear(h, 256) -> Tanh -> Linear(256, C);
- three intensity heads (initial, final, change), Linear(h, 128) -> Tanh ->
  Linear(128, C), each giving one value *per emotion class*. Training puts the
  MSE on the gold emotion's output, evaluation reads the predicted emotion's.

Loss = 0.5 * CE + (0.5 / 3) * (MSE initial + MSE final + MSE change), NaN
targets masked out. `task="classify"` keeps the emotion head alone.

Our variants, selected in `HeadConfig` and kept only where the evaluation in
`bench/` shows them better: mean pooling, one shared intensity output, focal
loss. Intensity heads start at the training mean (output bias), so an
untrained head is the ZeroR predictor rather than a guess of 0.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_model, save_model
from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedTokenizerBase

from .errors import ConfigError, ModelUnavailable
from .labels import ESCONV_EMOTIONS, INTENSITY_TARGETS
from .lexical import LexicalIntensity
from .train_config import INTENSITY_HEADS, OBJECTIVES, POOLINGS, check_choice
from .registry import HEADS_FILE, LEXICAL_FILE, MANIFEST_FILE, WEIGHTS_FILE, read_manifest  # noqa: F401 - the folder format lives with the registry


@dataclass
class HeadConfig:
    """What sits on top of the encoder. Saved beside the weights as heads.json."""

    labels: list[str] = field(default_factory=lambda: list(ESCONV_EMOTIONS))
    task: str = "multitask"  # the objective: "multitask" or "classify" (the key keeps its name in heads.json)
    pooling: str = "cls"  # "cls" (the paper) or "mean"
    intensity_head: str = "per_emotion"  # "per_emotion" (the paper), "shared" (one MLP output) or "linear" (ridge-fitted)
    intensity_layer: int | None = None  # read intensity from this hidden layer (mean-pooled) instead of the last
    emotion_hidden: int = 256
    intensity_hidden: int = 128
    ce_weight: float = 0.5
    mse_weight: float = 0.5 / 3
    focal_gamma: float = 0.0  # 0 is plain cross-entropy
    intensity_init: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])

    def __post_init__(self) -> None:
        check_choice("task", self.task, OBJECTIVES)
        check_choice("pooling", self.pooling, POOLINGS)
        check_choice("intensity_head", self.intensity_head, INTENSITY_HEADS)
        if len(self.labels) < 2:
            raise ConfigError("at least two labels are needed")

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------
# heads


class EmotionHead(nn.Module):
    def __init__(self, hidden: int, inner: int, num_labels: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(hidden, inner), nn.Tanh(), nn.Linear(inner, num_labels))

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.net(pooled)


class IntensityHead(nn.Module):
    """One intensity target. Outputs (B, C) per emotion, or (B, 1) when shared; `linear` is one affine map, fitted by ridge."""

    def __init__(self, hidden: int, inner: int, outputs: int, init: float, linear: bool = False):
        super().__init__()
        self.net = nn.Linear(hidden, outputs) if linear else nn.Sequential(nn.Linear(hidden, inner), nn.Tanh(), nn.Linear(inner, outputs))
        last = self.net if linear else self.net[-1]
        with torch.no_grad():
            last.bias.fill_(init)
            if linear:
                last.weight.zero_()

    @property
    def last(self) -> nn.Linear:
        return self.net if isinstance(self.net, nn.Linear) else self.net[-1]

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.net(pooled)


def focal_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, gamma: float) -> torch.Tensor:
    log_p = torch.log_softmax(logits, dim=-1).gather(1, labels[:, None]).squeeze(1)
    if gamma == 0:
        return -log_p.mean()
    return (-((1 - log_p.exp()) ** gamma) * log_p).mean()


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, how: str) -> torch.Tensor:
    if how == "cls":
        return hidden[:, 0]
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


# ---------------------------------------------------------------------------
# the model


class EmotionIntensityModel(nn.Module):
    def __init__(self, encoder: nn.Module, heads: HeadConfig):
        super().__init__()
        self.encoder = encoder
        self.heads_config = heads
        hidden = encoder.config.hidden_size
        if heads.intensity_layer is not None and not 0 <= heads.intensity_layer <= encoder.config.num_hidden_layers:
            raise ConfigError(f"intensity_layer {heads.intensity_layer} is outside 0..{encoder.config.num_hidden_layers} for this encoder")
        self.emotion_head = EmotionHead(hidden, heads.emotion_hidden, heads.num_labels)
        if heads.task == "multitask":
            outputs = heads.num_labels if heads.intensity_head == "per_emotion" else 1
            linear = heads.intensity_head == "linear"
            self.intensity_heads = nn.ModuleDict(
                {t: IntensityHead(hidden, heads.intensity_hidden, outputs, heads.intensity_init[i], linear) for i, t in enumerate(INTENSITY_TARGETS)}
            )
        else:
            self.intensity_heads = None
        # TF-IDF terms added to the linear intensity heads; they read the text, so the Predictor applies them
        self.lexical: LexicalIntensity | None = None

    @property
    def config(self):  # Trainer and PEFT-style tools look for `.config`
        return self.encoder.config

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(pooled output for the emotion head, pooled features for the intensity heads)."""
        layer = self.heads_config.intensity_layer
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=layer is not None)
        pooled = pool(out.last_hidden_state, attention_mask, self.heads_config.pooling)
        if layer is None:
            return pooled, pooled
        return pooled, pool(out.hidden_states[layer], attention_mask, "mean")

    def heads_forward(self, pooled: torch.Tensor, pooled_intensity: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        out = {"logits": self.emotion_head(pooled), "pooled": pooled}
        if self.intensity_heads is not None:
            feats = pooled if pooled_intensity is None else pooled_intensity
            # (B, 3, C) or (B, 3, 1): one row per target, one column per emotion
            out["intensity"] = torch.stack([self.intensity_heads[t](feats) for t in INTENSITY_TARGETS], dim=1)
        return out

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        intensity: torch.Tensor | None = None,
        pooled: torch.Tensor | None = None,
        pooled_intensity: torch.Tensor | None = None,
        **_: Any,
    ) -> dict[str, torch.Tensor]:
        if pooled is None:
            pooled, pooled_intensity = self.encode(input_ids, attention_mask)
        out = self.heads_forward(pooled, pooled_intensity)
        if labels is not None:
            out["loss"] = self.loss(out, labels, intensity)
        return out

    def loss(self, out: dict[str, torch.Tensor], labels: torch.Tensor, intensity: torch.Tensor | None) -> torch.Tensor:
        cfg = self.heads_config
        ce = focal_cross_entropy(out["logits"], labels, cfg.focal_gamma)
        if self.intensity_heads is None or intensity is None:
            return ce
        pred = select_emotion(out["intensity"], labels)  # the gold emotion's output, (B, 3)
        mask = ~torch.isnan(intensity)
        mse = pred.new_zeros(())
        for t in range(len(INTENSITY_TARGETS)):
            m = mask[:, t]
            if m.any():
                mse = mse + ((pred[m, t] - intensity[m, t]) ** 2).mean()
        return cfg.ce_weight * ce + cfg.mse_weight * mse


def select_emotion(intensity: torch.Tensor, emotion: torch.Tensor) -> torch.Tensor:
    """(B, 3, C) -> (B, 3): each row's value for the given emotion (shared heads pass through)."""
    if intensity.shape[-1] == 1:
        return intensity[..., 0]
    return intensity.gather(2, emotion[:, None, None].expand(-1, intensity.shape[1], 1)).squeeze(-1)


# ---------------------------------------------------------------------------
# building, saving, loading


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


def build_model(encoder_source: str | Path, heads: HeadConfig, local_files_only: bool = True) -> tuple[EmotionIntensityModel, PreTrainedTokenizerBase]:
    encoder, tokenizer = encoder_and_tokenizer(encoder_source, local_files_only)
    return EmotionIntensityModel(encoder, heads), tokenizer


def save_folder(model: nn.Module, tokenizer: PreTrainedTokenizerBase, folder: Path | str, files: dict[str, str],
                manifest: dict[str, Any] | None = None) -> Path:
    """A Hugging Face-style folder: the encoder's config.json, the heads' own `files`, model.safetensors, tokenizer, manifest.json."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.encoder.config.save_pretrained(folder)
    for name, text in files.items():
        (folder / name).write_text(text)
    save_model(model, str(folder / WEIGHTS_FILE))
    tokenizer.save_pretrained(folder)
    if manifest is not None:
        (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, default=_json_default))
    return folder


def save(model: EmotionIntensityModel, tokenizer: PreTrainedTokenizerBase, folder: Path | str, manifest: dict[str, Any] | None = None) -> Path:
    """The seeker model's folder: heads.json beside the weights (and lexical.json for TF-IDF terms)."""
    folder = save_folder(model, tokenizer, folder, {HEADS_FILE: json.dumps(model.heads_config.to_dict(), indent=2)}, manifest)
    if model.lexical is not None:
        model.lexical.save(folder / LEXICAL_FILE)
    return folder


def load(folder: Path | str, device: str | torch.device = "cpu") -> tuple[EmotionIntensityModel, PreTrainedTokenizerBase]:
    folder = Path(folder)
    if not (folder / HEADS_FILE).exists() or not (folder / WEIGHTS_FILE).exists():
        raise ModelUnavailable(f"{folder}: not an Empathy Studio model folder (needs {HEADS_FILE} and {WEIGHTS_FILE})")
    heads = HeadConfig(**json.loads((folder / HEADS_FILE).read_text()))
    encoder = AutoModel.from_config(AutoConfig.from_pretrained(folder, local_files_only=True))
    model = EmotionIntensityModel(encoder, heads)
    load_model(model, str(folder / WEIGHTS_FILE), device=str(device))
    if (folder / LEXICAL_FILE).exists():
        model.lexical = LexicalIntensity.load(folder / LEXICAL_FILE)
    model.to(device).eval()
    return model, AutoTokenizer.from_pretrained(folder, local_files_only=True)


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
