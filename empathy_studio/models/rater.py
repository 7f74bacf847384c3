"""The empathy rater: how empathic is a supporter's response to a seeker's post (EPITOME's three mechanisms).

Two architectures over one encoder, as in the empathy-rater report:

- **cross**: `post [SEP] response` as one sequence, mean-pooled;
- **bi**: the post and the response embedded separately by the shared encoder,
  and the heads read `[u, v, |u - v|, u * v]` (SBERT's pair features). With
  `attention` (Sharma et al. 2020's design) each response token also attends to
  the post's tokens (one attention layer, added to its state) before the
  response is pooled and its rationale words are tagged.

Both carry the same heads: three 3-way mechanism heads (none/weak/strong), the
4-level head (sum of levels, capped at 3) and a 0-1 score head (sum / 6), with
one weighted multi-task loss. Classification losses: cross-entropy, focal
(gamma), or KL divergence to soft labels (the gold level smoothed toward its
neighbours); the score: MSE or MAE. Saved as a Hugging Face-style folder with
`rater.json` (`heads.RaterConfig`) beside the weights.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import torch
from safetensors.torch import load_model
from torch import nn

from ..epitome import LEVEL4
from ..errors import ModelUnavailable
from ..labels import EPITOME_LEVELS, EPITOME_MECHANISMS
from ..rationales import Span, touches
from ..registry import RATER_FILE, WEIGHTS_FILE
from .encoder import encoder_and_tokenizer, encoder_from_folder, focal_cross_entropy, pool, save_folder
from .heads import RaterConfig

IGNORE = -100  # a rationale label no loss reads


def soft_labels(labels: torch.Tensor, classes: int, smoothing: float) -> torch.Tensor:
    """The gold level keeps 1 - smoothing; its neighbours on the ordinal scale share the rest."""
    eye = torch.eye(classes, device=labels.device)
    near = torch.roll(eye, 1, 1) + torch.roll(eye, -1, 1)
    near[0, -1] = near[-1, 0] = 0  # no wrap-around: 0 and the top level are not neighbours
    near = near / near.sum(1, keepdim=True)
    table = (1 - smoothing) * eye + smoothing * near
    return table[labels]


def rationale_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy per (token, mechanism) over the labelled positions (IGNORE: a post token, padding, or a pair whose
    rationales are not known); zero when a batch has none."""
    known = labels != IGNORE
    if not known.any():
        return logits.sum() * 0.0
    return nn.functional.binary_cross_entropy_with_logits(logits.float()[known], labels.float()[known])


__all__ = [
    "RaterConfig",
    "EmpathyRater",
    "build_rater",
    "save_rater",
    "load_rater",
    "encode_pairs",
    "soft_labels",
    "rationale_labels",
    "rationale_loss",
    "response_tokens",
]


def _head(inputs: int, hidden: int, outputs: int) -> nn.Module:
    return nn.Sequential(nn.Dropout(0.1), nn.Linear(inputs, hidden), nn.Tanh(), nn.Linear(hidden, outputs))


class EmpathyRater(nn.Module):
    def __init__(self, encoder: nn.Module, config: RaterConfig):
        super().__init__()
        self.encoder, self.config = encoder, config
        h = encoder.config.hidden_size
        features = 4 * h if config.arch == "bi" else h
        self.mechanisms = nn.ModuleDict({m: _head(features, config.hidden, len(EPITOME_LEVELS)) for m in EPITOME_MECHANISMS})
        self.level4 = _head(features, config.hidden, len(LEVEL4))
        self.score = _head(features, config.hidden, 1)
        if config.rationale_weight > 0:  # per token of the response (the whole sequence for cross), a logit per mechanism
            self.rationale = nn.Sequential(nn.Dropout(0.1), nn.Linear(h, len(EPITOME_MECHANISMS)))
        if config.attention:  # the response's tokens attend to the post's (bi only: a cross-encoder's layers already do)
            self.attend = nn.MultiheadAttention(h, num_heads=1, dropout=0.1, batch_first=True)
            self.attend_dropout = nn.Dropout(0.1)

    def _states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(token states, mean-pooled)."""
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return states, pool(states, attention_mask, "mean")

    def features(self, **batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(the heads' pair features, the token states the rationale head reads)."""
        if self.config.arch == "bi":
            post, u = self._states(batch["post_input_ids"], batch["post_attention_mask"])
            states, v = self._states(batch["response_input_ids"], batch["response_attention_mask"])
            if self.config.attention:
                seen, _ = self.attend(states, post, post, key_padding_mask=batch["post_attention_mask"] == 0, need_weights=False)
                states = states + self.attend_dropout(seen)
                v = pool(states, batch["response_attention_mask"], "mean")
            return torch.cat([u, v, (u - v).abs(), u * v], dim=-1), states
        states, x = self._states(batch["input_ids"], batch["attention_mask"])
        return x, states

    def forward(
        self,
        levels: torch.Tensor | None = None,
        level4: torch.Tensor | None = None,
        score: torch.Tensor | None = None,
        rationale: torch.Tensor | None = None,
        **batch: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        x, states = self.features(**batch)
        out = {
            "mechanism_logits": torch.stack([self.mechanisms[m](x) for m in EPITOME_MECHANISMS], dim=1),  # (B, 3, 3)
            "level4_logits": self.level4(x),
            "score": torch.sigmoid(self.score(x)).squeeze(-1),
        }
        if self.config.rationale_weight > 0:
            out["rationale_logits"] = self.rationale(states)  # (B, T, 3)
        if levels is not None:
            out["loss"] = self.loss(out, levels, level4, score, rationale)
        return out

    def _classification(self, logits: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        cfg = self.config
        if cfg.loss == "focal":
            return focal_cross_entropy(logits, labels, cfg.focal_gamma, weight)
        if cfg.loss == "kl":
            target = soft_labels(labels, logits.shape[-1], cfg.kl_smoothing)
            return nn.functional.kl_div(torch.log_softmax(logits.float(), -1), target, reduction="batchmean")
        return nn.functional.cross_entropy(logits.float(), labels, weight=None if weight is None else weight.to(logits.device))

    def loss(
        self,
        out: dict[str, torch.Tensor],
        levels: torch.Tensor,
        level4: torch.Tensor,
        score: torch.Tensor,
        rationale: torch.Tensor | None = None,
    ) -> torch.Tensor:
        cfg = self.config
        weights = [torch.tensor(w) for w in cfg.class_weights] if cfg.class_weights else [None] * len(EPITOME_MECHANISMS)
        mech = sum(
            self._classification(out["mechanism_logits"][:, k], levels[:, k], weights[k]) for k in range(len(EPITOME_MECHANISMS))
        ) / len(EPITOME_MECHANISMS)
        diff = out["score"].float() - score.float()
        reg = (diff**2).mean() if cfg.score_loss == "mse" else diff.abs().mean()
        level4_loss = self._classification(out["level4_logits"], level4)
        total = cfg.mechanism_weight * mech + cfg.level4_weight * level4_loss + cfg.score_weight * reg
        if rationale is not None and "rationale_logits" in out:
            total = total + cfg.rationale_weight * rationale_loss(out["rationale_logits"], rationale)
        return total


def rationale_labels(pairs: Sequence[Any], rows: Sequence[dict[str, Any]], tokenizer: Any, arch: str, max_length: int) -> None:
    """Add to each row its response tokens' rationale labels (T, 3): 1 where a token touches one of the mechanism's
    spans, 0 elsewhere; IGNORE on special and post tokens, for a mechanism the pair does not show (level none: the head
    learns which words show a mechanism given that it is there, and the page marks words only for a level above none),
    and for a pair whose rationales are not known."""
    for pair, row, tokens in zip(pairs, rows, response_tokens([(p.post, p.response) for p in pairs], tokenizer, arch, max_length)):
        labels = []
        for span in tokens:
            if span is None or pair.rationales is None:
                labels.append([IGNORE] * len(EPITOME_MECHANISMS))
            else:  # which words show a mechanism, where the response shows it: a pair at level none does not say
                shown = zip(pair.rationales, pair.levels)
                labels.append([int(touches(*span, spans)) if level else IGNORE for spans, level in shown])
        row["rationale"] = labels


def response_tokens(pairs: Sequence[tuple[str, str]], tokenizer: Any, arch: str, max_length: int) -> list[list[Span | None]]:
    """For each pair, each position of the sequence the rationale head reads (the response for bi, the pair for cross):
    the characters of the response the token covers, or None (a special token, a post token)."""
    posts, responses = [p for p, _ in pairs], [r for _, r in pairs]
    if arch == "cross":
        enc = tokenizer(posts, responses, truncation="longest_first", max_length=max_length, return_offsets_mapping=True)
    else:
        enc = tokenizer(responses, truncation=True, max_length=max_length, return_offsets_mapping=True)
    side = 1 if arch == "cross" else 0
    return [
        [tuple(span) if seq == side else None for span, seq in zip(enc["offset_mapping"][i], enc.sequence_ids(i))]
        for i in range(len(pairs))
    ]


def build_rater(encoder_source: str | Path, config: RaterConfig, local_files_only: bool = True) -> tuple[EmpathyRater, Any]:
    encoder, tokenizer = encoder_and_tokenizer(encoder_source, local_files_only)
    return EmpathyRater(encoder, config), tokenizer


def save_rater(model: EmpathyRater, tokenizer: Any, folder: Path | str, manifest: dict[str, Any] | None = None) -> Path:
    """A rater's folder: rater.json beside the weights, in the layout of every studio model."""
    return save_folder(model, tokenizer, folder, {RATER_FILE: json.dumps(model.config.to_dict(), indent=2)}, manifest)


def load_rater(folder: Path | str, device: str = "cpu") -> tuple[EmpathyRater, Any]:
    folder = Path(folder)
    if not (folder / RATER_FILE).exists() or not (folder / WEIGHTS_FILE).exists():
        raise ModelUnavailable(f"{folder.name}: not an empathy rater (needs {RATER_FILE} and {WEIGHTS_FILE})")
    try:
        config = RaterConfig(**json.loads((folder / RATER_FILE).read_text()))
    except (ValueError, TypeError) as exc:
        raise ModelUnavailable(f"{folder.name}/{RATER_FILE}: {exc}") from None
    encoder, tokenizer = encoder_from_folder(folder)
    model = EmpathyRater(encoder, config)
    load_model(model, str(folder / WEIGHTS_FILE), device=device)
    return model.to(device).eval(), tokenizer


def encode_pairs(pairs: Sequence[tuple[str, str]], tokenizer: Any, arch: str, max_length: int) -> list[dict[str, Any]]:
    """Token ids of each pair: one `post [SEP] response` sequence (cross), or the two texts apart (bi)."""
    posts, responses = [p for p, _ in pairs], [r for _, r in pairs]
    if arch == "cross":
        ids = tokenizer(posts, responses, truncation="longest_first", max_length=max_length)["input_ids"]
        return [{"input_ids": i} for i in ids]
    a = tokenizer(posts, truncation=True, max_length=max_length)["input_ids"]
    b = tokenizer(responses, truncation=True, max_length=max_length)["input_ids"]
    return [{"post_input_ids": x, "response_input_ids": y} for x, y in zip(a, b)]
