"""The encoder-plus-heads model of Wang & Roman (CCN 2025), our head variants, save and load.

The paper's multi-task model reads the first token (CLS) of the encoder's last
hidden state into two kinds of heads:

- an emotion head, Linear(h, 256) -> Tanh -> Linear(256, C);
- three intensity heads (initial, final, change), Linear(h, 128) -> Tanh ->
  Linear(128, C), each giving one value *per emotion class*. Training puts the
  MSE on the gold emotion's output, evaluation reads the predicted emotion's.

Loss = 0.5 * CE + (0.5 / 3) * (MSE initial + MSE final + MSE change), NaN
targets masked out. `task="classify"` keeps the emotion head alone.

Our variants, selected in `HeadConfig` (`heads.py`) and made defaults only where the
evaluation in `bench/` shows them better: mean pooling, one shared intensity output,
focal loss, class weights, linear intensity heads on a lower layer, and the end view,
where the linear heads read the text's last max_length tokens beside its first (how a
chat ended is in its last turns; an option, with no gain measured in
`bench/results/endings.md`). Intensity heads start at the training mean (output bias),
so an untrained head is the ZeroR predictor rather than a guess of 0.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_model
from torch import nn
from transformers import PreTrainedTokenizerBase

from ..errors import ConfigError, ModelUnavailable
from ..labels import INTENSITY_TARGETS
from ..registry import HEADS_FILE, LEXICAL_FILE, WEIGHTS_FILE
from .encoder import encoder_and_tokenizer, encoder_from_folder, focal_cross_entropy, pool, save_folder
from .heads import HeadConfig
from .lexical import LexicalIntensity

__all__ = ["HeadConfig", "EmotionIntensityModel", "build_model", "save", "load", "select_emotion", "rows_differ"]


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
            features = hidden * (2 if heads.end_view else 1)
            self.intensity_heads = nn.ModuleDict(
                {
                    t: IntensityHead(features, heads.intensity_hidden, outputs, heads.intensity_init[i], linear)
                    for i, t in enumerate(INTENSITY_TARGETS)
                }
            )
        else:
            self.intensity_heads = None
        # TF-IDF terms added to the linear intensity heads; they read the text, so the Predictor applies them
        self.lexical: LexicalIntensity | None = None

    @property
    def config(self):  # Trainer and PEFT-style tools look for `.config`
        return self.encoder.config

    def encode(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        end_input_ids: torch.Tensor | None = None,
        end_attention_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(pooled output for the emotion head, pooled features for the intensity heads).

        With the end view the intensity features are the first view's joined by the end view's. The end
        view is encoded only for rows whose ids differ from the first view's (texts longer than max_length);
        a text that fits, or a batch with no end ids (training, where the ridge heads are fitted later on
        the real end view), has one view for both.
        """
        pooled, out = self._encode(input_ids, attention_mask)
        first = self._intensity_features(out, attention_mask, pooled)
        if not self.heads_config.end_view:
            return pooled, first
        end = first.clone()
        if end_input_ids is not None:
            differs = rows_differ(input_ids, attention_mask, end_input_ids, end_attention_mask)
            if differs.any():
                ids, mask = end_input_ids[differs], end_attention_mask[differs]
                width = int(mask.sum(1).max())
                end_pooled, end_out = self._encode(ids[:, :width], mask[:, :width])
                end[differs] = self._intensity_features(end_out, mask[:, :width], end_pooled)
        return pooled, torch.cat([first, end], dim=-1)

    def end_targets(self) -> tuple[str, ...]:
        """The intensity targets whose heads read the end view (a nonzero weight on its half of the features)."""
        if not self.heads_config.end_view or self.intensity_heads is None:
            return ()
        h = self.encoder.config.hidden_size
        return tuple(t for t in INTENSITY_TARGETS if bool(self.intensity_heads[t].last.weight[:, h:].abs().sum() > 0))

    def _encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, Any]:
        out = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=self.heads_config.intensity_layer is not None
        )
        return pool(out.last_hidden_state, attention_mask, self.heads_config.pooling), out

    def _intensity_features(self, out: Any, attention_mask: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        layer = self.heads_config.intensity_layer
        return pooled if layer is None else pool(out.hidden_states[layer], attention_mask, "mean")

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
        end_input_ids: torch.Tensor | None = None,
        end_attention_mask: torch.Tensor | None = None,
        **_: Any,
    ) -> dict[str, torch.Tensor]:
        if pooled is None:
            pooled, pooled_intensity = self.encode(input_ids, attention_mask, end_input_ids, end_attention_mask)
        out = self.heads_forward(pooled, pooled_intensity)
        if labels is not None:
            out["loss"] = self.loss(out, labels, intensity)
        return out

    def loss(self, out: dict[str, torch.Tensor], labels: torch.Tensor, intensity: torch.Tensor | None) -> torch.Tensor:
        cfg = self.heads_config
        weight = None if cfg.class_weights is None else torch.tensor(cfg.class_weights, dtype=torch.float32)
        ce = focal_cross_entropy(out["logits"], labels, cfg.focal_gamma, weight)
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


def rows_differ(a: torch.Tensor, mask_a: torch.Tensor, b: torch.Tensor, mask_b: torch.Tensor) -> torch.Tensor:
    """(B,) whether each row of two padded id batches holds other tokens (padding, of any id, aside)."""
    width = max(a.shape[1], b.shape[1])
    a, b = ((torch.nn.functional.pad(x * m, (0, width - x.shape[1]))) for x, m in ((a, mask_a), (b, mask_b)))
    return (mask_a.sum(1) != mask_b.sum(1)) | (a != b).any(1)


def select_emotion(intensity: torch.Tensor, emotion: torch.Tensor) -> torch.Tensor:
    """(B, 3, C) -> (B, 3): each row's value for the given emotion (shared heads pass through)."""
    if intensity.shape[-1] == 1:
        return intensity[..., 0]
    return intensity.gather(2, emotion[:, None, None].expand(-1, intensity.shape[1], 1)).squeeze(-1)


# ---------------------------------------------------------------------------
# building, saving, loading


def build_model(
    encoder_source: str | Path, heads: HeadConfig, local_files_only: bool = True
) -> tuple[EmotionIntensityModel, PreTrainedTokenizerBase]:
    encoder, tokenizer = encoder_and_tokenizer(encoder_source, local_files_only)
    return EmotionIntensityModel(encoder, heads), tokenizer


def save(
    model: EmotionIntensityModel, tokenizer: PreTrainedTokenizerBase, folder: Path | str, manifest: dict[str, Any] | None = None
) -> Path:
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
    encoder, tokenizer = encoder_from_folder(folder)
    model = EmotionIntensityModel(encoder, heads)
    load_model(model, str(folder / WEIGHTS_FILE), device=str(device))
    if (folder / LEXICAL_FILE).exists():
        model.lexical = LexicalIntensity.load(folder / LEXICAL_FILE)
    model.to(device).eval()
    return model, tokenizer
