"""The end of a study: the adjudication queue, consensus labels, releases, guideline versions and the audit log
(the `ReviewServices` part of `Studio`). Reviewers adjudicate; admins set thresholds, edit guidelines, freeze and
export releases and read the audit log. Every role is checked here, below the page and the CLI."""

from __future__ import annotations

import csv
import difflib
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..errors import ConfigError, InputError, NotFound
from ..labels import EPITOME_MECHANISMS
from ..names import check_name
from ..store import ADJUDICATION_REASONS, Annotator, now, require
from ..study import adjudication as A
from ..study.aggregation import DEFAULT_METHOD, METHODS
from ..study.consensus import SOURCES, agreement, consensus, provenance_counts
from ..study.releases import content_hash, export, flat_rows, release_id, training_labels, write_folder
from .base import download_folder


@dataclass
class AdjudicationRequest:
    """A reviewer's final values for an item's scales, with the reason (and a note, required for "other")."""

    campaign: str
    item_id: str
    values: dict[str, Any]
    reason: str
    note: str | None = None

    def __post_init__(self) -> None:
        if self.reason not in ADJUDICATION_REASONS:
            raise InputError(f"reason must be one of {', '.join(ADJUDICATION_REASONS)}, got {self.reason!r}")
        if not isinstance(self.values, dict) or not self.values:
            raise InputError("set a final value for the scales in dispute")


@dataclass
class ReleaseRequest:
    """Freeze the consensus labels of one or more campaigns (of one kind) as a release."""

    name: str
    campaigns: list[str]
    method: str = DEFAULT_METHOD
    guideline_version: int | None = None  # only ratings made under this version (one campaign); None: all

    def __post_init__(self) -> None:
        check_name(self.name, "release name")
        if not self.campaigns:
            raise InputError("choose at least one campaign to release")
        if self.method not in METHODS:
            raise ConfigError(f"aggregation must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.guideline_version is not None and (
            len(self.campaigns) != 1 or not isinstance(self.guideline_version, int) or self.guideline_version < 1
        ):
            raise InputError("a guideline version filters the ratings of one campaign: a whole number from 1")


class ReviewServices:
    # -- reading a campaign's ratings -----------------------------------------------------

    def _scales(self, camp: Mapping[str, Any]) -> list[str]:
        return list(EPITOME_MECHANISMS) if camp["kind"] == "empathy" else A.reviewed_scales(camp["scales"])

    def _campaign_ratings(self, camp: Mapping[str, Any], version: int | None = None) -> list[dict[str, Any]]:
        rows = (
            self.store.empathy_ratings(campaign_id=camp["id"]) if camp["kind"] == "empathy" else self.store.ratings(campaign_id=camp["id"])
        )
        return [r for r in rows if version is None or r.get("guideline_version") == version]

    def _adjudications_by_item(self, camp: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for a in self.store.adjudications(camp["id"]):
            out[a["item_id"]].append(a)
        return out

    def _review_campaign(self, actor: Annotator | None, campaign: str, role: str = "reviewer") -> tuple[Annotator, dict[str, Any]]:
        who = require(actor, role)
        camp = self.store.campaign(campaign)
        if camp["name"] == "default":
            raise InputError("the default queue has no k: adjudication is for campaigns")
        return who, camp

    def review_campaigns(self, actor: Annotator | None) -> list[str]:
        """Campaigns a reviewer can adjudicate and release (every one but the default queue), newest first."""
        require(actor, "reviewer")
        return [c["name"] for c in reversed(self.store.campaigns()) if c["name"] != "default"]

    def release_choices(self) -> list[str]:
        """Release ids, newest first (ids only: what the Train and Analyze lists offer)."""
        return [r["id"] for r in reversed(self.store.releases())]

    # -- the queue -------------------------------------------------------------------------

    def review_queue(self, actor: Annotator | None, campaign: str, guideline_version: int | None = None) -> list[dict[str, Any]]:
        """The campaign's items whose k ratings disagree past its thresholds and that no reviewer settled yet, most apart first
        (with `guideline_version`, judged on the ratings made under that version only)."""
        _, camp = self._review_campaign(actor, campaign)
        return self._queue(camp, guideline_version)

    def _queue(
        self,
        camp: Mapping[str, Any],
        version: int | None = None,
        ratings: list[dict[str, Any]] | None = None,
        adjudicated: Mapping[str, list[dict[str, Any]]] | None = None,
    ) -> list[dict[str, Any]]:
        """The queue, from the campaign's ratings and adjudications (read here unless the caller has them already)."""
        scales, limits = self._scales(camp), A.thresholds(_json(camp.get("thresholds")))
        by_item: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in self._campaign_ratings(camp, version) if ratings is None else ratings:
            by_item[r["item_id"]].append(r)
        adjudicated = self._adjudications_by_item(camp) if adjudicated is None else adjudicated
        need = max(2, camp["k"] or 2)
        out = []
        for item, rows in by_item.items():
            if len(rows) < need:
                continue
            apart = A.disagreement(rows, scales, limits)
            state = A.status(adjudicated.get(item, []), camp["reviewers"])
            if apart and state != "adjudicated":
                out.append(
                    {
                        "item_id": item,
                        "disagreement": round(sum(apart.values()), 3),
                        "scales": ", ".join(apart),
                        "raters": len(rows),
                        "status": state,
                    }
                )
        return sorted(out, key=lambda r: (-r["disagreement"], r["item_id"]))

    def review_item(self, actor: Annotator | None, campaign: str, item_id: str) -> dict[str, Any]:
        """What a reviewer sees: the item, its ratings as Rater A, B, C (names only if the campaign shows them), the gold
        only in a campaign that is not blind, the suggestion only where the campaign was assisted, earlier adjudications."""
        _, camp = self._review_campaign(actor, campaign)
        rows = [r for r in self._campaign_ratings(camp) if r["item_id"] == item_id]
        if not rows:
            raise NotFound(f"item {item_id!r} has no ratings in campaign {camp['name']}")
        item = self.store.item(item_id) or {}
        scales = self._scales(camp)
        names = A.rater_labels(len(rows))
        shown = []
        for label, r in zip(names, rows):
            entry = {
                "rater": f"{label} ({r['annotator']})" if camp["show_rater_names"] else label,
                **{s: r.get(s) for s in scales},
                "note": r.get("note"),
            }
            if r.get("assisted") and r.get("suggestion"):
                entry["suggestion"] = r["suggestion"]
            shown.append(entry)
        gold = None
        if not camp["blind"]:
            gold = (
                {m: v for m, v in zip(EPITOME_MECHANISMS, _json(item.get("gold_levels")) or [])}
                if camp["kind"] == "empathy"
                else {"initial": item.get("gold_initial"), "final": item.get("gold_final"), "emotion": item.get("gold_emotion")}
            )
        limits = A.thresholds(_json(camp.get("thresholds")))
        past = self._adjudications_by_item(camp).get(item_id, [])
        return {
            "campaign": camp["name"],
            "kind": camp["kind"],
            "item_id": item_id,
            "text": item.get("text"),
            "post": item.get("post"),
            "ratings": shown,
            "scales": scales,
            "disputed": list(A.disagreement(rows, scales, limits)),
            "gold": gold,
            "status": A.status(past, camp["reviewers"]),
            "reviewers": camp["reviewers"],
            "adjudications": [
                {"reviewer": a["reviewer"], "values": a["vals"], "reason": a["reason"], "note": a["note"], "at": a["created"]} for a in past
            ],
        }

    def adjudicate(self, actor: Annotator | None, req: AdjudicationRequest) -> dict[str, Any]:
        """Set an item's final values. Refused for an item not in the queue, a scale the campaign does not ask, a value off
        its scale, and (with two reviewers) a second adjudication by the first reviewer."""
        who, camp = self._review_campaign(actor, req.campaign)
        scales = self._scales(camp)
        unknown = [s for s in req.values if s not in scales]
        if unknown:
            raise InputError(f"campaign {camp['name']} does not ask for {unknown[0]!r}; its scales are {', '.join(scales)}")
        ratings, adjudicated = self._campaign_ratings(camp), self._adjudications_by_item(camp)
        entry = next((q for q in self._queue(camp, None, ratings, adjudicated) if q["item_id"] == req.item_id), None)
        if entry is None:
            raise InputError(f"item {req.item_id!r} is not in the review queue of {camp['name']} (its raters agree, or it is settled)")
        disputed = [s.strip() for s in entry["scales"].split(",")]
        missing = [s for s in disputed if req.values.get(s) in (None, "")]
        if missing:
            raise InputError(f"set a final value for {', '.join(missing)} (in dispute)")
        values = {s: A.SCALES[s].check(v) for s, v in req.values.items() if v not in (None, "")}
        past = adjudicated.get(req.item_id, [])
        if camp["reviewers"] == 2 and past and past[-1]["reviewer_id"] == who.id:
            raise InputError("this campaign needs a second reviewer: someone else must confirm or set these values")
        replaced = [{"annotator": r["annotator"], **{s: r.get(s) for s in scales}} for r in ratings if r["item_id"] == req.item_id]
        aid = self.store.adjudicate(camp["id"], req.item_id, who.id, values, req.reason, req.note, replaced, who.name)
        after = [*past, {"vals": values, "reviewer_id": who.id}]
        return {"id": aid, "item_id": req.item_id, "values": values, "status": A.status(after, camp["reviewers"])}

    def set_review_options(
        self,
        actor: Annotator | None,
        campaign: str,
        thresholds: Mapping[str, Any] | None = None,
        reviewers: int = 1,
        show_rater_names: bool = False,
    ) -> dict[str, Any]:
        who, camp = self._review_campaign(actor, campaign, "admin")
        limits = A.thresholds(thresholds)
        changed = {k: v for k, v in limits.items() if A.DEFAULT_THRESHOLDS[k] != v}
        self.store.set_review_options(camp["id"], changed, reviewers, show_rater_names, who.name)
        return limits

    # -- guideline versions ----------------------------------------------------------------

    def edit_guidelines(self, actor: Annotator | None, campaign: str, text: str) -> int:
        who = require(actor, "admin")
        return self.store.set_guidelines(self.store.campaign(campaign)["id"], text, who.name)

    def guideline_change(self, actor: Annotator | None, campaign: str, seen: int | None) -> dict[str, Any] | None:
        """What changed in a campaign's guidelines since the version an annotator last saw (None when nothing did)."""
        require(actor)
        camp = self.store.campaign(campaign)
        version = camp.get("guideline_version") or 1
        if not seen or seen >= version:
            return None
        texts = {v["version"]: v["text"] for v in self.store.guideline_versions(camp["id"])}
        diff = difflib.unified_diff(
            (texts.get(seen) or "").splitlines(),
            (texts.get(version) or "").splitlines(),
            f"version {seen}",
            f"version {version}",
            lineterm="",
            n=1,
        )
        return {"from": seen, "to": version, "diff": "\n".join(diff)}

    # -- consensus and releases ------------------------------------------------------------

    def _consensus_of(self, camp: Mapping[str, Any], method: str, version: int | None = None) -> tuple[dict, dict, list[dict]]:
        """Consensus of a campaign's ratings, without the raters an admin excluded (Campaigns → Raters)."""
        excluded = set(self.store.excluded(camp["id"]))
        ratings = [r for r in self._campaign_ratings(camp, version) if r["annotator"] not in excluded]
        scales = self._scales(camp)
        items, raters = consensus(
            ratings, scales, A.thresholds(_json(camp.get("thresholds"))), self._adjudications_by_item(camp), camp["reviewers"], method
        )
        return items, raters, ratings

    def consensus_table(self, actor: Annotator | None, campaign: str, method: str = DEFAULT_METHOD) -> list[dict[str, Any]]:
        """One row per rated item: each scale's final value and its source (a preview of what a release would hold)."""
        _, camp = self._review_campaign(actor, campaign)
        if method not in METHODS:
            raise ConfigError(f"aggregation must be one of {', '.join(METHODS)}, got {method!r}")
        items, _, _ = self._consensus_of(camp, method)
        return flat_rows(
            [{"campaign": camp["name"], "item_id": i, "labels": labels} for i, labels in items.items()], {}, self._scales(camp)
        )

    def create_release(self, actor: Annotator | None, req: ReleaseRequest) -> dict[str, Any]:
        """Freeze a release: consensus with provenance per item, the raters' competence, agreement, guideline versions and a
        content hash; written to the store (immutable) and as a folder with its dataset card."""
        who = require(actor, "admin")
        camps = [self.store.campaign(c) for c in dict.fromkeys(req.campaigns)]
        kinds = {c["kind"] for c in camps}
        if len(kinds) > 1:
            raise InputError("a release holds campaigns of one kind (intensity or response empathy), not both")
        items, all_ratings, raters = [], [], {}
        for camp in camps:
            c_items, c_raters, ratings = self._consensus_of(camp, req.method, req.guideline_version)
            if not ratings:
                raise InputError(
                    f"campaign {camp['name']} has no ratings{' under that guideline version' if req.guideline_version else ''}: "
                    "nothing to release"
                )
            items += [
                {"campaign": camp["name"], "campaign_id": camp["id"], "item_id": i, "labels": labels} for i, labels in c_items.items()
            ]
            all_ratings += [{**r, "item_id": f"{camp['name']}/{r['item_id']}"} for r in ratings]  # items of two campaigns stay apart
            raters[camp["name"]] = c_raters
        campaigns = [{"name": c["name"], "guideline_version": req.guideline_version or c.get("guideline_version") or 1} for c in camps]
        digest = content_hash(req.method, campaigns, items)
        rid = release_id(req.name, digest)
        kind = kinds.pop()
        scales = self._scales(camps[0]) if len(camps) == 1 else sorted({s for c in camps for s in self._scales(c)})
        previous = [r for r in self.store.releases() if sorted(c["name"] for c in r["campaigns"]) == sorted(c["name"] for c in campaigns)]
        summary = {
            "kind": kind,
            "excluded_raters": {c["name"]: self.store.excluded(c["id"]) for c in camps if self.store.excluded(c["id"])},
            "n_items": len(items),
            "n_ratings": len(all_ratings),
            "n_raters": len({r["annotator"] for r in all_ratings}),
            "scales": scales,
            "sources": list(SOURCES),
            "provenance": provenance_counts({f"{it['campaign']}/{it['item_id']}": it["labels"] for it in items}),
            "agreement": agreement(all_ratings, scales),
            "raters": {
                s: {
                    "competence": {f"{c}:{w}": v for c, rs in raters.items() for w, v in rs.get(s, {}).get("competence", {}).items()},
                    "flagged": sorted(f"{c}:{w}" for c, rs in raters.items() for w in rs.get(s, {}).get("flagged", [])),
                }
                for s in scales
            },
        }
        release = {
            "id": rid,
            "name": req.name,
            "created": now(),
            "campaigns": campaigns,
            "guideline_versions": {c["name"]: c["guideline_version"] for c in campaigns},
            "method": req.method,
            "content_hash": digest,
            "n_items": len(items),
            "supersedes": previous[-1]["id"] if previous else None,
            "summary": summary,
        }
        self.store.create_release(release, items, who.name)
        self.release_folder(rid)
        return self.store.release_row(rid)

    def releases(self, actor: Annotator | None) -> list[dict[str, Any]]:
        require(actor, "reviewer")
        return self.store.releases()

    def release(self, actor: Annotator | None, ident: str) -> dict[str, Any]:
        """A release's record, its card and where its files are."""
        require(actor, "reviewer")
        row = self.store.release_row(ident)
        folder = self.release_folder(ident)
        return {**row, "card": (folder / "README.md").read_text(), "folder": str(folder)}

    def release_folder(self, ident: str) -> Path:
        """The release's files, written from the store the first time they are asked for (and never again)."""
        row = self.store.release_row(ident)
        folder = self.settings.effective_releases_dir / ident
        if folder.exists():  # written once: a release never changes
            return folder
        items = self.store.release_items(ident)
        names = {c["name"]: c for c in (self.store.campaign(n["name"]) for n in row["campaigns"])}
        by_id = {c["id"]: n for n, c in names.items()}
        texts = {}
        for it in items:
            item = self.store.item(it["item_id"]) or {}
            texts[it["item_id"]] = (
                {"post": item.get("post"), "response": item.get("text")} if item.get("post") is not None else {"text": item.get("text")}
            )
        rows = flat_rows([{"campaign": by_id[it["campaign_id"]], **it} for it in items], texts, row["summary"]["scales"])
        folder.parent.mkdir(parents=True, exist_ok=True)
        return write_folder(row, rows, folder)

    def export_release(self, actor: Annotator | None, ident: str, target: str, token: str | None = None) -> str:
        require(actor, "admin")
        return export(self.release_folder(ident), target, token)

    def release_labels(self, ident: str) -> dict[str, dict[str, Any]]:
        """A release's settled labels as training labels (`releases.training_labels`); an unknown id is refused."""
        self.store.release_row(ident)
        return training_labels(self.store.release_items(ident))

    # -- the audit log ---------------------------------------------------------------------

    def audit_log(self, actor: Annotator | None, limit: int | None = 500, action: str | None = None) -> list[dict[str, Any]]:
        require(actor, "admin")
        return self.store.audit_log(limit, action)

    def audit_export(self, actor: Annotator | None) -> Path:
        """The whole audit log as CSV, for an admin to keep or read elsewhere."""
        rows = self.audit_log(actor, None)
        path = download_folder() / "audit-log.csv"
        with path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["id", "at", "actor", "action", "campaign", "item_id", "detail"])
            w.writeheader()
            w.writerows(rows)
        return path


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value
