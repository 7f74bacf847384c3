"""Figures: plotly for the app (violin, confusion, reliability, probabilities, trajectory); matplotlib for download
(seaborn draws the violin).

Builders take plain rows and return figures; they never import gradio. The
violin view is the paper's: one violin of predicted intensity per gold level,
with an OLS line through the (gold, predicted) points and r, p and n in the
title.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import plotly.graph_objects as go
from scipy import stats

from .labels import INTENSITY_MAX, INTENSITY_MIN
from .metrics import confusion_counts

QUANTITY = {"empathy": "Empathy"}  # a violin's title names its quantity; the intensity targets are "<Target> intensity"
LEVEL_COLORS = {1: "#5a9e6f", 2: "#9bbf5a", 3: "#e0b339", 4: "#e07b39", 5: "#c44e52"}


def _layout(fig: go.Figure, title: str, height: int = 380) -> go.Figure:
    fig.update_layout(
        title=dict(text=title, x=0.02, font=dict(size=15)),
        template="plotly_white",
        height=height,
        margin=dict(l=50, r=20, t=60, b=45),
        font=dict(family="Inter, system-ui, sans-serif", size=12),
    )
    return fig


def _pairs(gold: Sequence[float], pred: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    g, p = np.asarray(gold, dtype=float), np.asarray(pred, dtype=float)
    m = ~(np.isnan(g) | np.isnan(p))
    return g[m], p[m]


def regression_stats(gold: Sequence[float], pred: Sequence[float]) -> dict[str, float | int | None]:
    g, p = _pairs(gold, pred)
    out: dict[str, float | int | None] = {"n": len(g), "r": None, "p": None, "slope": None, "intercept": None}
    if len(g) > 2 and np.ptp(g) > 0 and np.ptp(p) > 0:
        lr = stats.linregress(g, p)
        out.update(r=float(lr.rvalue), p=float(lr.pvalue), slope=float(lr.slope), intercept=float(lr.intercept))
    return out


def _fmt_p(p: float | None) -> str:
    if p is None:
        return "n/a"
    return f"{p:.1e}" if p < 1e-3 else f"{p:.3f}"


fmt_p = _fmt_p  # p-values as tables show them: scientific below 0.001


@dataclass
class ViolinSpec:
    """Everything a violin figure shows, computed once; the screen (plotly) and the download (matplotlib) both draw it."""

    levels: list[int]
    groups: dict[int, np.ndarray]  # level -> predicted values (empty levels keep their place)
    stats: dict[str, Any]
    line: tuple[np.ndarray, np.ndarray] | None
    title: str
    x_title: str
    y_title: str
    y_range: tuple[float, float]

    def tick(self, level: int, newline: str) -> str:
        return f"{level}{newline}n = {len(self.groups[level])}"


def violin_spec(
    gold: Sequence[float],
    pred: Sequence[float],
    target: str,
    who: str = "predicted",
    full_scale: bool = False,
    x_title: str | None = None,
    y_title: str | None = None,
) -> ViolinSpec:
    g, p = _pairs(gold, pred)
    st = regression_stats(g, p)
    lo, hi = (INTENSITY_MIN - INTENSITY_MAX, INTENSITY_MAX - INTENSITY_MIN) if target == "change" else (INTENSITY_MIN, INTENSITY_MAX)
    present = {int(v) for v in g}
    levels = list(range(min([lo, *present]), max([hi, *present]) + 1))
    line = None
    if st["slope"] is not None:
        xs = np.array([min(present) - 0.4, max(present) + 0.4])
        line = (xs, st["intercept"] + st["slope"] * xs)
    if full_scale or not len(p):
        y_range = (lo - 0.5, hi + 0.5)
    else:
        pad = max(0.15, 0.08 * float(np.ptp(p)))
        y_range = (float(p.min()) - pad, float(p.max()) + pad)
    r = "n/a" if st["r"] is None else f"{st['r']:.2f}"
    return ViolinSpec(
        levels,
        {lv: p[g == lv] for lv in levels},
        st,
        line,
        f"{QUANTITY.get(target, f'{target.capitalize()} intensity')}: {who}  (r = {r}, p = {_fmt_p(st['p'])}, n = {st['n']})",
        x_title or f"self-reported {target} intensity",
        y_title or f"predicted {target} intensity",
        y_range,
    )


def violin(
    gold: Sequence[float],
    pred: Sequence[float],
    target: str,
    who: str = "predicted",
    full_scale: bool = False,
    x_title: str | None = None,
    y_title: str | None = None,
) -> go.Figure:
    """Violins of `pred` for each gold level, plus the OLS regression line; n under each level.

    Every level of the scale gets its place, an empty one with n = 0, so a gap is visible rather than
    silently closed. The y axis fits the data (the slope that r measures stays visible) unless
    `full_scale` asks for the whole scale. `export_violin` draws the same spec for download.
    """
    spec = violin_spec(gold, pred, target, who, full_scale, x_title, y_title)
    fig = go.Figure()
    for lv, vals in spec.groups.items():
        if not len(vals):
            continue
        fig.add_trace(
            go.Violin(
                x=[lv] * len(vals),
                y=vals,
                name=f"gold {lv}",
                box_visible=True,
                meanline_visible=True,
                points="all",
                pointpos=0,
                jitter=0.3,
                marker=dict(size=3, opacity=0.5),
                line_color=LEVEL_COLORS.get(abs(lv), "#3b6ea5"),
                spanmode="hard",
                scalemode="width",
                width=0.8,
                showlegend=False,
            )
        )
    if spec.line is not None:
        fig.add_trace(
            go.Scatter(x=spec.line[0], y=spec.line[1], mode="lines", name="OLS fit", line=dict(color="#222", width=2, dash="dash"))
        )
    _layout(fig, spec.title, height=420)
    fig.update_xaxes(
        title=spec.x_title,
        tickmode="array",
        tickvals=spec.levels,
        ticktext=[spec.tick(lv, "<br>") for lv in spec.levels],
        range=[spec.levels[0] - 0.6, spec.levels[-1] + 0.6],
    )
    fig.update_yaxes(title=spec.y_title, range=list(spec.y_range))
    fig.update_layout(legend=dict(orientation="h", y=-0.25))
    return fig


def reliability_diagram(
    rows: Sequence[dict[str, float]], after: Sequence[dict[str, float]] | None = None, title: str = "Reliability"
) -> go.Figure:
    """Accuracy against confidence per bin (`calibration.reliability` rows), before and after temperature scaling."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated", line=dict(color="#999", dash="dot")))
    for name, data, color in (("raw", rows, "#c44e52"), ("temperature-scaled", after or [], "#3b6ea5")):
        if data:
            fig.add_trace(
                go.Scatter(
                    x=[r["confidence"] for r in data],
                    y=[r["accuracy"] for r in data],
                    mode="lines+markers",
                    name=name,
                    marker=dict(size=[6 + 14 * (r["n"] / max(x["n"] for x in data)) ** 0.5 for r in data], color=color),
                    line=dict(color=color),
                    text=[f"n = {r['n']}" for r in data],
                    hovertemplate="confidence %{x:.2f}<br>accuracy %{y:.2f}<br>%{text}<extra></extra>",
                )
            )
    _layout(fig, title, height=380)
    fig.update_xaxes(title="confidence of the predicted emotion", range=[0, 1])
    fig.update_yaxes(title="accuracy in the bin", range=[0, 1])
    fig.update_layout(legend=dict(orientation="h", y=-0.22))
    return fig


def confusion(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str], title: str = "Confusion matrix") -> go.Figure:
    cm = np.array(confusion_counts(gold, pred, labels))
    norm = cm / np.clip(cm.sum(axis=1, keepdims=True), 1, None)
    text = [[f"{cm[i, j]}<br>{norm[i, j]:.0%}" for j in range(len(labels))] for i in range(len(labels))]
    fig = go.Figure(
        go.Heatmap(
            z=norm,
            x=list(labels),
            y=list(labels),
            text=text,
            texttemplate="%{text}",
            colorscale="Blues",
            zmin=0,
            zmax=1,
            colorbar=dict(title="row %"),
            hovertemplate="gold %{y}<br>pred %{x}<br>%{text}<extra></extra>",
        )
    )
    _layout(fig, title, height=460)
    fig.update_xaxes(title="predicted")
    fig.update_yaxes(title="gold", autorange="reversed")
    return fig


def probabilities(probs: dict[str, float], gold: str | None = None) -> go.Figure:
    names = list(probs)
    colors = ["#c44e52" if n == gold else "#3b6ea5" for n in names]
    fig = go.Figure(
        go.Bar(
            x=[probs[n] for n in names],
            y=names,
            orientation="h",
            marker_color=colors,
            text=[f"{probs[n]:.0%}" for n in names],
            textposition="outside",
        )
    )
    _layout(fig, "Emotion probabilities" + (" (gold in red)" if gold else ""), height=300)
    fig.update_xaxes(range=[0, 1.1], tickformat=".0%")
    fig.update_yaxes(autorange="reversed")
    return fig


def trajectory(points: Sequence[dict[str, Any]], gold_initial: float | None = None, gold_final: float | None = None) -> go.Figure:
    turns = [p["turn"] for p in points]
    fig = go.Figure()
    # a prefix with too little text for the model has no prediction to draw (the model says so rather than guess)
    short = [p.get("too_little_text") for p in points]
    for key, name, color in (("pred_initial", "predicted initial", "#e07b39"), ("pred_final", "predicted final", "#3b6ea5")):
        fig.add_trace(
            go.Scatter(
                x=turns,
                y=[None if too_short else p.get(key) for p, too_short in zip(points, short)],
                mode="lines+markers",
                name=name,
                line=dict(color=color),
                hovertext=[p["text"][:120] for p in points],
                hoverinfo="text+y",
            )
        )
    last = turns[-1] if turns else 1
    for value, name, color, x in ((gold_initial, "gold initial", "#e07b39", 1), (gold_final, "gold final", "#3b6ea5", last)):
        if value is not None and not math.isnan(value):
            fig.add_trace(
                go.Scatter(
                    x=[x],
                    y=[value],
                    mode="markers",
                    name=name,
                    marker=dict(symbol="star", size=16, color=color, line=dict(color="#222", width=1)),
                )
            )
    # from the first prefix longer than the first view, a final head that reads the end view reads the last turns as well
    outgrown = next((p["turn"] for p in points if "final" in (p.get("reads_end") or ())), None)
    if outgrown is not None:
        fig.add_vline(x=outgrown - 0.5, line=dict(color="#3b6ea5", dash="dot", width=1))
        fig.add_annotation(
            x=outgrown - 0.5, y=5.4, text="from here final reads the last turns too", showarrow=False, xanchor="left",
            font=dict(size=11, color="#3b6ea5"),
        )  # fmt: skip
    skipped = sum(bool(x) for x in short)
    title = "Intensity trajectory: prediction after each seeker turn"
    if skipped:
        title += f"<br><sup>the first {skipped} turn{'s' if skipped != 1 else ''}: too little text to read, not drawn</sup>"
    _layout(fig, title, height=340)
    fig.update_xaxes(title="seeker turn", tickmode="auto", nticks=12, tickangle=0)
    fig.update_yaxes(title="intensity", range=[0.5, 5.5])
    return fig


def qwk_heatmap(names: Sequence[str], values: Sequence[Sequence[float | None]], title: str) -> go.Figure:
    """Pairwise quadratic-weighted kappa between annotators (blank where two share too few items)."""
    z = [[None if v is None else float(v) for v in row] for row in values]
    text = [["" if v is None else f"{v:.2f}" for v in row] for row in z]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(names),
            y=list(names),
            text=text,
            texttemplate="%{text}",
            colorscale="RdBu",
            zmin=-1,
            zmax=1,
            colorbar=dict(title="QWK"),
            hovertemplate="%{y} × %{x}<br>QWK %{text}<extra></extra>",
        )
    )
    _layout(fig, title, height=max(300, 60 + 36 * len(names)))
    fig.update_yaxes(autorange="reversed")
    return fig


EMPATHY_MECHANISM_NAMES = {
    "emotional_reactions": "emotional reactions (ER)",
    "interpretations": "interpretations (IP)",
    "explorations": "explorations (EX)",
}


def bland_altman(a: Sequence[float], b: Sequence[float], name_a: str, name_b: str, target: str) -> go.Figure:
    """Bland-Altman: the difference of two annotators against their mean, with the mean difference and 95% limits of agreement."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    mean, diff = (x + y) / 2, x - y
    fig = go.Figure(
        go.Scatter(
            x=mean + np.random.default_rng(0).uniform(-0.08, 0.08, len(mean)),
            y=diff,
            mode="markers",
            marker=dict(size=8, opacity=0.6, color="#3b6ea5"),
            name="items",
            hovertemplate="mean %{x:.1f}<br>diff %{y}<extra></extra>",
        )
    )
    if len(diff):
        md, sd = float(diff.mean()), float(diff.std(ddof=1)) if len(diff) > 1 else 0.0
        for yv, label, dash in (
            (md, f"mean {md:+.2f}", "solid"),
            (md + 1.96 * sd, f"+1.96 sd {md + 1.96 * sd:+.2f}", "dash"),
            (md - 1.96 * sd, f"-1.96 sd {md - 1.96 * sd:+.2f}", "dash"),
        ):
            fig.add_hline(
                y=yv,
                line=dict(color="#c44e52" if dash == "solid" else "#888", dash=dash),
                annotation_text=label,
                annotation_position="right",
            )
    levels = target in EMPATHY_MECHANISM_NAMES  # a mechanism's 0-2 levels, or an intensity's 1-5
    what = f"{EMPATHY_MECHANISM_NAMES[target]} (0-2)" if levels else f"{target} intensity"
    _layout(fig, f"Bland-Altman, {what}: {name_a} − {name_b} (n = {len(diff)})", height=360)
    fig.update_xaxes(title=f"mean of the two ratings ({what})", range=[-0.5, 2.5] if levels else [0.5, 5.5])
    fig.update_yaxes(title=f"{name_a} − {name_b}", range=[-2.5, 2.5] if levels else [-4.5, 4.5], zeroline=True)
    fig.update_layout(showlegend=False, margin=dict(r=130))  # room for the labels of the three lines
    return fig


# ---------------------------------------------------------------------------
# publication export (matplotlib)


def rater_distributions(raters: Sequence[dict[str, Any]], scale: str) -> go.Figure:
    """Each rater's answers on one scale, side by side (a straight-liner is one tall bar); flagged raters marked ⚑."""
    fig = go.Figure()
    levels = sorted({int(v) for r in raters for v in r["distribution"]})
    for r in raters:
        counts = [r["distribution"].get(str(v), 0) for v in levels]
        total = sum(counts) or 1
        fig.add_bar(x=[str(v) for v in levels], y=[c / total for c in counts], name=r["annotator"] + (" ⚑" if r["flags"] else ""))
    fig.update_layout(barmode="group", yaxis_title="share of their answers", xaxis_title=scale, legend_title_text="rater")
    return _layout(fig, f"Each rater's answers ({scale}); ⚑ flagged", height=320)


def drift(batches: Sequence[dict[str, Any]], raters: dict[str, Sequence[float]], batch: int) -> go.Figure:
    """Krippendorff's alpha per batch of items with its 95% CI, and each rater's mean distance from the consensus per batch
    of their own ratings (second axis)."""
    fig = go.Figure()
    x = [b["batch"] for b in batches]
    alpha = [b["alpha"] for b in batches]
    lo = [a - b["ci95"][0] if a is not None and b["ci95"][0] is not None else None for a, b in zip(alpha, batches)]
    hi = [b["ci95"][1] - a if a is not None and b["ci95"][1] is not None else None for a, b in zip(alpha, batches)]
    fig.add_scatter(
        x=x,
        y=alpha,
        mode="lines+markers",
        name="alpha (team)",
        line=dict(color="#2b6cb0", width=3),
        error_y=dict(type="data", array=hi, arrayminus=lo, visible=True),
    )
    for name, values in raters.items():
        fig.add_scatter(
            x=list(range(1, len(values) + 1)),
            y=list(values),
            mode="lines+markers",
            name=f"{name}: distance",
            yaxis="y2",
            line=dict(dash="dot"),
        )
    fig.update_layout(
        xaxis_title=f"batch of {batch} items (time order)",
        yaxis_title="Krippendorff's alpha (95% CI)",
        yaxis2=dict(title="mean distance from the consensus", overlaying="y", side="right"),
        legend=dict(orientation="h", y=-0.3),
    )
    return _layout(fig, "Drift: agreement per batch, and each rater against the consensus", height=360)


def export_violin(
    gold: Sequence[float],
    pred: Sequence[float],
    target: str,
    folder: Path | str,
    stem: str,
    who: str = "predicted",
    full_scale: bool = False,
    x_title: str | None = None,
    y_title: str | None = None,
) -> list[Path]:
    """The on-screen violin (the same `violin_spec`) drawn with seaborn on matplotlib, as PNG and SVG: one violin per gold level
    at its own position on the scale (`native_scale`), its points jittered over it, and the mean of each level marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    spec = violin_spec(gold, pred, target, who, full_scale, x_title, y_title)
    fig, ax = plt.subplots(figsize=(6.5, 4.2), dpi=150)
    filled = [lv for lv in spec.levels if len(spec.groups[lv])]
    if filled:
        xs = [lv for lv in filled for _ in spec.groups[lv]]
        ys = [float(v) for lv in filled for v in spec.groups[lv]]
        colors = {str(lv): LEVEL_COLORS.get(abs(lv), "#3b6ea5") for lv in filled}
        sns.violinplot(
            x=xs,
            y=ys,
            hue=[str(x) for x in xs],
            palette=colors,
            native_scale=True,
            width=0.8,
            inner=None,
            cut=0,
            density_norm="width",
            alpha=0.45,
            linewidth=0.6,
            legend=False,
            ax=ax,
        )
        sns.stripplot(x=xs, y=ys, native_scale=True, color="#333", size=1.8, alpha=0.4, jitter=0.12, ax=ax)
        ax.scatter(filled, [float(np.mean(spec.groups[lv])) for lv in filled], marker="_", s=260, color="#111", zorder=3, label="mean")
    if spec.line is not None:
        ax.plot(*spec.line, "k--", lw=1.5, label="OLS fit")
        ax.legend(loc="upper left", frameon=False)
    ax.set_xticks(spec.levels, [spec.tick(lv, "\n") for lv in spec.levels], fontsize=8)
    ax.set_xlim(spec.levels[0] - 0.6, spec.levels[-1] + 0.6)
    ax.set_ylim(*spec.y_range)
    ax.set_title(spec.title, fontsize=9)
    ax.set_xlabel(spec.x_title)
    ax.set_ylabel(spec.y_title)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    return _save(fig, folder, stem)


def export_confusion(
    gold: Sequence[str], pred: Sequence[str], labels: Sequence[str], folder: Path | str, stem: str, title: str = "Confusion matrix"
) -> list[Path]:
    """The on-screen confusion matrix (row shares as colour, count and share as text, same title) as PNG and SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.array(confusion_counts(gold, pred, labels))
    norm = cm / np.clip(cm.sum(axis=1, keepdims=True), 1, None)
    fig, ax = plt.subplots(figsize=(6.5, 5.5), dpi=150)
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(
                j, i, f"{cm[i, j]}\n{norm[i, j]:.0%}", ha="center", va="center", fontsize=7, color="white" if norm[i, j] > 0.6 else "#222"
            )
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, label="row %")
    fig.tight_layout()
    return _save(fig, folder, stem)


def export_reliability(
    before: Sequence[dict[str, float]], after: Sequence[dict[str, float]], folder: Path | str, stem: str, title: str = "Reliability"
) -> list[Path]:
    """The on-screen reliability diagram (accuracy against confidence per bin, before and after temperature scaling) as PNG and SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 4.6), dpi=150)
    ax.plot([0, 1], [0, 1], ":", color="#999", label="perfectly calibrated")
    for name, data, color in (("raw", before, "#c44e52"), ("temperature-scaled", after, "#3b6ea5")):
        if data:
            biggest = max(r["n"] for r in data)
            ax.plot([r["confidence"] for r in data], [r["accuracy"] for r in data], "-", color=color, label=name)
            ax.scatter(
                [r["confidence"] for r in data],
                [r["accuracy"] for r in data],
                s=[12 + 80 * (r["n"] / biggest) ** 0.5 for r in data],
                color=color,
            )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence of the predicted emotion")
    ax.set_ylabel("accuracy in the bin")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper left", frameon=False, fontsize=8)
    fig.tight_layout()
    return _save(fig, folder, stem)


def _save(fig: Any, folder: Path | str, stem: str) -> list[Path]:
    import matplotlib.pyplot as plt

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{stem}.png", folder / f"{stem}.svg"]
    for path in paths:
        fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return paths
