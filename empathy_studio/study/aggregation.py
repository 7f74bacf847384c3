"""Aggregation: many raters' values of one scale into one value per item, and each rater's estimated competence.

Every method but the median is a rater model from `crowd-kit`, none written here:

- categorical scales (an emotion; EPITOME's 0-2 levels) take the model's most probable label;
- ordinal intensity (1-5) takes the posterior mean over the levels for the models that give a posterior
  (Dawid-Skene, GLAD, MACE), which is what minimises the squared error, and RASA's reliability-weighted mean;
- competence is each model's own estimate of a rater (MACE: the posterior of not spamming; GLAD: ability;
  Dawid-Skene: expected accuracy under the class prior; RASA: reliability), and for the median and majority vote
  the share of a rater's values that equal the consensus. A rater is *flagged* when their competence is below half
  the median rater's.

`bench/aggregation.py` compares the methods on simulated raters with a known truth and chose `DEFAULT_METHOD`, "auto":
MACE on ordinal intensity, Dawid-Skene on categorical scales (MACE is the worst of them on EPITOME's 0-2 levels).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError

FLAG_BELOW = 0.5  # a rater whose competence is below this share of the median rater's is flagged


@dataclass(frozen=True)
class Result:
    values: dict[Any, Any]  # item -> consensus value (a label; a float for an ordinal scale's posterior mean)
    competence: dict[str, float]  # rater -> estimated competence (0-1 for every method)

    def flagged(self) -> list[str]:
        if not self.competence:
            return []
        mid = float(np.median(list(self.competence.values())))
        return sorted(r for r, c in self.competence.items() if mid > 0 and c < FLAG_BELOW * mid)


def _frame(rows: Sequence[tuple[str, Any, Any]]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=["worker", "task", "label"])


def _agreement_competence(df: pd.DataFrame, values: dict[Any, Any]) -> dict[str, float]:
    target = df["task"].map(values)
    hit = (df["label"].astype(float).round() == pd.to_numeric(target, errors="coerce").round()) if _numeric(df) else df["label"] == target
    return {str(w): float(v) for w, v in hit.groupby(df["worker"]).mean().items()}


def _numeric(df: pd.DataFrame) -> bool:
    return pd.api.types.is_numeric_dtype(df["label"])


def _posterior(model: Any, ordinal: bool) -> dict[Any, Any]:
    """An ordinal scale's posterior mean over its levels; a categorical scale's most probable label."""
    if not ordinal:
        return dict(model.labels_.items())
    probas = model.probas_.fillna(0)
    means = probas.to_numpy() @ probas.columns.to_numpy(dtype=float) / probas.sum(axis=1).to_numpy()
    return {t: float(v) for t, v in zip(probas.index, means)}


def median(df: pd.DataFrame, ordinal: bool) -> Result:
    """The median of an ordinal scale; for a categorical one, the most frequent label when one is most frequent."""
    if ordinal:
        values = {t: float(v) for t, v in df.groupby("task")["label"].median().items()}
    else:
        values = {}
        for t, labels in df.groupby("task")["label"]:
            counts = labels.value_counts()
            values[t] = counts.index[0] if len(counts) == 1 or counts.iloc[0] > counts.iloc[1] else None
    return Result(values, _agreement_competence(df, values))


def majority_vote(df: pd.DataFrame, ordinal: bool) -> Result:
    from crowdkit.aggregation import MajorityVote

    values = dict(MajorityVote().fit_predict(df).items())
    return Result(values, _agreement_competence(df, values))


def dawid_skene(df: pd.DataFrame, ordinal: bool) -> Result:
    from crowdkit.aggregation import DawidSkene

    model = DawidSkene(n_iter=100).fit(df)
    errors, priors = model.errors_, model.priors_
    competence = {}
    for w, table in errors.groupby(level="worker"):
        confusion = table.droplevel("worker")
        diag = [float(confusion.loc[c, c]) if c in confusion.index and c in confusion.columns else 0.0 for c in priors.index]
        competence[str(w)] = float(np.dot(diag, priors.to_numpy()))
    return Result(_posterior(model, ordinal), competence)


def glad(df: pd.DataFrame, ordinal: bool) -> Result:
    from crowdkit.aggregation import GLAD

    model = GLAD(n_iter=100, silent=True).fit(df)
    ability = model.alphas_
    return Result(_posterior(model, ordinal), {str(w): float(1 / (1 + np.exp(-a))) for w, a in ability.items()})


def mace(df: pd.DataFrame, ordinal: bool) -> Result:
    from crowdkit.aggregation import MACE

    model = MACE(n_iter=50, n_restarts=5, random_state=0).fit(df)
    workers = pd.factorize(df["worker"])[1]
    spam = np.asarray(model.spamming_, dtype=float)
    competence = spam[:, 1] / spam.sum(axis=1)  # the posterior weight of "answers the truth" over "spams"
    return Result(_posterior(model, ordinal), {str(w): float(c) for w, c in zip(workers, competence)})


def rasa(df: pd.DataFrame, ordinal: bool) -> Result:
    """RASA's reliability-weighted mean, the values as one-dimensional embeddings (ordinal scales only)."""
    from crowdkit.aggregation import RASA

    if not ordinal:
        raise ConfigError("rasa averages values: it aggregates ordinal scales only")
    data = df.assign(embedding=df["label"].astype(float).map(lambda v: np.array([v])), output=df["label"])
    model = RASA(n_iter=100).fit(data)
    skills = model.skills_
    top = float(skills.max()) or 1.0
    return Result({t: float(v[0]) for t, v in model.aggregated_embeddings_.items()}, {str(w): float(s / top) for w, s in skills.items()})


def auto(df: pd.DataFrame, ordinal: bool) -> Result:
    """Each kind of scale its bench winner: MACE on the ordinal 1-5 intensities (the only method past the bar at k = 3 with
    20% careless raters), Dawid-Skene on the categorical scales (the lowest error on EPITOME's levels in every cell)."""
    return mace(df, ordinal) if ordinal else dawid_skene(df, ordinal)


METHODS: dict[str, Callable[[pd.DataFrame, bool], Result]] = {
    "auto": auto,
    "median": median,
    "majority-vote": majority_vote,
    "dawid-skene": dawid_skene,
    "glad": glad,
    "mace": mace,
    "rasa": rasa,
}
DEFAULT_METHOD = "auto"  # chosen by bench/aggregation.py (bench/results/aggregation.md)


def aggregate(rows: Sequence[tuple[str, Any, Any]], method: str = DEFAULT_METHOD, ordinal: bool = True) -> Result:
    """(rater, item, value) rows of one scale to a `Result`. An item rated once is its own value under every method."""
    if method not in METHODS:
        raise ConfigError(f"aggregation must be one of {', '.join(METHODS)}, got {method!r}")
    df = _frame(rows)
    if df.empty:
        return Result({}, {})
    if method == "rasa" and not ordinal:
        method = "median"
    if df["worker"].nunique() < 2 or method == "median":
        return median(df, ordinal)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return METHODS[method](df, ordinal)
