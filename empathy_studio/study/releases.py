"""Releases: a frozen, content-hashed set of consensus labels, written as a `datasets` folder with CSV, JSONL and a
dataset card, and exported to a folder or pushed to the Hub.

A release's id is its name and the first 12 hex digits of its content hash, so the same labels under the same name
are the same release; the store refuses to write an id twice, and nothing ever edits one. The hash covers the
method, the campaigns with their guideline versions, and every item's labels in a canonical order: rebuilding a
model's training set from the release it names reads the same rows and gets the same hash.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..errors import ConfigError
from ..labels import EPITOME_MECHANISMS
from ..names import check_name

LICENSE_NOTE = {
    "intensity": "ESConv (Liu et al., 2021; CC BY-NC 4.0 as distributed by its authors): non-commercial research use.",
    "empathy": "EPITOME (Sharma et al., 2020; Reddit posts, academic licence of its authors): non-commercial research use.",
}


def content_hash(method: str, campaigns: Sequence[Mapping[str, Any]], items: Sequence[Mapping[str, Any]]) -> str:
    body = {
        "method": method,
        "campaigns": [{"name": c["name"], "guideline_version": c["guideline_version"]} for c in campaigns],
        "items": sorted(
            ({"campaign": it["campaign"], "item_id": it["item_id"], "labels": it["labels"]} for it in items),
            key=lambda it: (it["campaign"], it["item_id"]),
        ),
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def release_id(name: str, digest: str) -> str:
    check_name(name, "release name")
    return f"{name}-{digest[:12]}"


def training_labels(items: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """A release's settled labels as training labels: item -> {"initial", "final", "emotion", "n"} (intensity) or
    {"levels", "n"} (response empathy). An item whose scale that training needs is `unresolved` is left out."""
    out: dict[str, dict[str, Any]] = {}
    for it in items:
        labels = it["labels"]
        if all(m in labels for m in EPITOME_MECHANISMS):
            if all(labels[m]["source"] != "unresolved" for m in EPITOME_MECHANISMS):
                out[it["item_id"]] = {
                    "levels": [int(round(labels[m]["value"])) for m in EPITOME_MECHANISMS],
                    "n": labels[EPITOME_MECHANISMS[0]]["n"],
                }
        elif all(t in labels and labels[t]["source"] != "unresolved" for t in ("initial", "final")):
            emotion = labels.get("emotion")
            out[it["item_id"]] = {
                "initial": float(labels["initial"]["value"]),
                "final": float(labels["final"]["value"]),
                "emotion": emotion["value"] if emotion and emotion["source"] != "unresolved" else None,
                "n": labels["initial"]["n"],
            }
    return out


def latest(releases: Sequence[Mapping[str, Any]], kind: str) -> str | None:
    """The newest release of a kind (intensity or empathy), the one training uses when none is named."""
    of_kind = [r for r in releases if r["summary"]["kind"] == kind]
    return of_kind[-1]["id"] if of_kind else None


def flat_rows(
    items: Sequence[Mapping[str, Any]], texts: Mapping[str, Mapping[str, Any]], scales: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """One row per item: its text, then per scale (in `scales`' order) `consensus_<scale>`, `source_<scale>`, `n_<scale>`,
    `spread_<scale>`."""
    rows = []
    for it in items:
        row = {"campaign": it["campaign"], "item_id": it["item_id"], **texts.get(it["item_id"], {})}
        order = [s for s in scales if s in it["labels"]] + [s for s in it["labels"] if s not in scales]
        for scale, label in ((s, it["labels"][s]) for s in order):
            row.update(
                {
                    f"consensus_{scale}": label["value"],
                    f"source_{scale}": label["source"],
                    f"n_{scale}": label["n"],
                    f"spread_{scale}": label["spread"],
                }
            )
        rows.append(row)
    return rows


def card(release: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> str:
    """The dataset card (README.md): what a lab needs to cite, read and reuse the release."""
    s = release["summary"]
    columns = list(rows[0]) if rows else []
    lines = [
        "---",
        f"pretty_name: {release['name']}",
        "license: other",
        "task_categories:",
        "- text-classification",
        "---",
        "",
        f"# {release['name']} ({release['id']})",
        "",
        f"Consensus labels of {s['n_items']:,} items from the campaign(s) {', '.join(c['name'] for c in release['campaigns'])}, "
        f"rated by {s['n_raters']} rater(s) ({s['n_ratings']:,} ratings), frozen on {release['created']} by "
        f"{release.get('created_by') or 'the CLI'}.",
        "",
        f"- Content hash (SHA-256): `{release['content_hash']}`",
        f"- Aggregation: `{release['method']}` (where raters disagree without a majority and no reviewer settled the item)",
        f"- Supersedes: {release.get('supersedes') or 'none'}",
        "- Guideline versions: " + ", ".join(f"{c['name']} v{c['guideline_version']}" for c in release["campaigns"]),
        "",
        "## Schema",
        "",
        "| column | meaning |",
        "|---|---|",
    ]
    meaning = {
        "campaign": "the campaign the item was rated in",
        "item_id": "the item's id in its source",
        "text": "the seeker's side of the dialogue",
        "post": "the seeker's post",
        "response": "the supporter's response",
    }
    for c in columns:
        kind = c.split("_", 1)[0]
        text = meaning.get(c) or {
            "consensus": "final value of the scale",
            "source": "where the value came from (unanimous, majority, adjudicated, aggregated, unresolved)",
            "n": "raters of the scale",
            "spread": "max - min of the raters' values (labels: distinct labels - 1)",
        }.get(kind, "")
        lines.append(f"| `{c}` | {text} |")
    lines += ["", "## Provenance", "", "| scale | " + " | ".join(s["sources"]) + " |", "|---" * (len(s["sources"]) + 1) + "|"]
    for scale, counts in s["provenance"].items():
        lines.append(f"| {scale} | " + " | ".join(str(counts.get(src, 0)) for src in s["sources"]) + " |")
    lines += [
        "",
        "Items whose label is `unresolved` are kept for reference; training on this release leaves them out.",
        "",
        "## Agreement (before adjudication)",
        "",
        "| scale | Krippendorff's alpha | 95% CI (bootstrap over items) |",
        "|---|---|---|",
    ]
    for scale, a in s["agreement"].items():
        lo, hi = a["ci95"]
        ci = f"{lo:.3f} to {hi:.3f}" if lo is not None else "n/a (too few items rated twice)"
        lines.append(f"| {scale} ({a['level']}) | {a['alpha']:.3f} | {ci} |" if a["alpha"] is not None else f"| {scale} | n/a | {ci} |")
    flagged = {sc: v["flagged"] for sc, v in s["raters"].items() if v["flagged"]}
    lines += [
        "",
        "## Raters",
        "",
        f"{s['n_raters']} rater(s). Estimated competence per scale is in `release.json`."
        + (" Flagged by the rater model: " + "; ".join(f"{sc}: {', '.join(v)}" for sc, v in flagged.items()) + "." if flagged else ""),
        "",
        "## License",
        "",
        LICENSE_NOTE[s["kind"]],
        "The labels follow the source data's terms.",
        "",
    ]
    return "\n".join(lines)


def write_folder(release: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], folder: Path) -> Path:
    """The release as files: `dataset/` (datasets' save_to_disk), `labels.csv`, `labels.jsonl`, `README.md`, `release.json`.
    Written beside and moved into place, so a reader never sees half a release."""
    import pandas as pd
    from datasets import Dataset

    if folder.exists():
        return folder
    tmp = folder.with_name(f".tmp-{folder.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    Dataset.from_list([dict(r) for r in rows]).save_to_disk(str(tmp / "dataset"))
    pd.DataFrame(rows).to_csv(tmp / "labels.csv", index=False)
    (tmp / "labels.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    (tmp / "README.md").write_text(card(release, rows))
    (tmp / "release.json").write_text(json.dumps(release, indent=1, ensure_ascii=False))
    tmp.rename(folder)
    return folder


def export(folder: Path, target: str, token: str | None = None) -> str:
    """Copy a release folder to `file://PATH` (a folder of releases), or push it to a Hub dataset repo `owner/name`
    (`datasets`' push_to_hub for the rows, the card and the files beside them). Returns where it went."""
    if target.startswith("file://"):
        dest = Path(target[len("file://") :]).expanduser() / folder.name
        if dest.exists():
            raise ConfigError(f"{dest} exists already; a release is never overwritten")
        shutil.copytree(folder, dest)
        return str(dest)
    if target.count("/") != 1 or any(not part for part in target.split("/")):
        raise ConfigError(f"export target must be file://FOLDER or a Hub dataset repo owner/name, got {target!r}")
    from datasets import load_from_disk
    from huggingface_hub import HfApi

    load_from_disk(str(folder / "dataset")).push_to_hub(target, token=token, private=True)
    api = HfApi(token=token)
    for name in ("README.md", "release.json", "labels.csv", "labels.jsonl"):
        api.upload_file(path_or_fileobj=str(folder / name), path_in_repo=name, repo_id=target, repo_type="dataset")
    return f"https://huggingface.co/datasets/{target}"
