"""Raters you can trust: a campaign's qualification (practice with feedback and a pass rule), its attention gate, each
rater's quality with flags, drift over time, and exclusions from releases (the `GateServices` part of `Studio`).
Admins set gates, read quality, reinstate and exclude; annotators answer practice items. The store enforces the gates
where items are claimed."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Mapping

import numpy as np

from ..errors import ConfigError, InputError, NotFound
from ..labels import EPITOME_MECHANISMS
from ..metrics import bootstrap_alpha, krippendorff_alpha
from ..store import Annotator, require
from ..study.adjudication import SCALES
from ..study.aggregation import DEFAULT_METHOD
from ..study.qualification import Attention, Qualification, agrees, feedback, gold_missed, reference_of, standing
from ..study.quality import QualityRules, assess

# the scale a campaign's rater quality and drift are read on: the first each kind of campaign asks
QUALITY_SCALE = {"intensity": "initial", "empathy": "emotional_reactions"}


class GateServices:
    # -- settings (admins) --------------------------------------------------------------------

    def set_rater_gates(
        self,
        actor: Annotator | None,
        campaign: str,
        qualification: Mapping[str, Any] | None = None,
        attention: Mapping[str, Any] | None = None,
        rules: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Set (or, with None, clear) a campaign's qualification and attention gate, and its quality rules; everything is
        checked before anything is written."""
        who = require(actor, "admin")
        camp = self.store.campaign(campaign)
        q = Qualification.from_dict(qualification) if qualification else None
        gate = Attention(**attention) if attention else None
        quality_rules = QualityRules(**(rules or {}))
        if q is not None:
            own = set(self.store.campaign_item_ids(camp["id"]))
            for item_id in q.items:
                item = self.store.item(item_id)
                if item is None or (item.get("post") is not None) != (camp["kind"] == "empathy"):
                    raise NotFound(
                        f"practice item {item_id!r} is not {'a (post, response) pair' if camp['kind'] == 'empathy' else 'a dialogue'} "
                        "of the studio"
                    )
                if item_id in own:
                    raise InputError(f"practice item {item_id!r} is an item of the campaign itself: practice shows the answer")
                if reference_of(item, camp["kind"], q.references.get(item_id)) is None:
                    raise InputError(f"practice item {item_id!r} has no reference answer: set one for it")
        self.store.set_gates(
            camp["id"],
            q.to_dict() if q else None,
            {**(gate.to_dict() if gate else {}), "rules": quality_rules.to_dict()} if gate or rules else None,
            who.name,
        )
        return {
            "qualification": q.to_dict() if q else None,
            "attention": gate.to_dict() if gate else None,
            "rules": quality_rules.to_dict(),
        }

    def _gates(self, camp: Mapping[str, Any]) -> tuple[Qualification | None, Attention | None, QualityRules]:
        q, a = self.store.gates(camp["id"])
        a = dict(a or {})
        rules = QualityRules(**a.pop("rules", {}))
        return (Qualification.from_dict(q) if q else None, Attention(**a) if a else None, rules)

    # -- practice (annotators) -----------------------------------------------------------------

    def practice_view(self, actor: Annotator | None, campaign: str) -> dict[str, Any]:
        """{"required": False} when the campaign asks no qualification or the annotator passed it; else the standing and
        the next practice item (its text, never its reference)."""
        who = require(actor)
        camp = self.store.campaign(campaign)
        q, _, _ = self._gates(camp)
        if q is None:
            return {"required": False}
        state = standing(q, self.store.practice_rows(camp["id"], who.id))
        if state["passed"]:
            return {"required": False, "passed": True}
        item = self.store.item(state["next_item"]) if state["next_item"] else None
        shown = None
        if item is not None:
            shown = (
                {"item_id": item["id"], "post": item["post"], "response": item["text"]}
                if item.get("post") is not None
                else {"item_id": item["id"], "text": self.dialogue(item["id"]).seeker_text if item.get("record") is None else item["text"]}
            )
        return {
            "required": True,
            "kind": camp["kind"],
            "standing": state,
            "item": shown,
            "of": len(q.items),
            "attempts": q.attempts,
            "rule": q.rule,
            "threshold": q.threshold,
        }

    def practice_answer(self, actor: Annotator | None, campaign: str, item_id: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """Record a practice answer (apart from the study's ratings) and say how it compares with the reference."""
        who = require(actor)
        camp = self.store.campaign(campaign)
        q, _, _ = self._gates(camp)
        if q is None:
            raise InputError(f"campaign {camp['name']} has no qualification")
        state = standing(q, self.store.practice_rows(camp["id"], who.id))
        if state["passed"]:
            raise InputError("you passed this campaign's qualification already")
        if state["blocked"]:
            raise InputError(state["blocked"])
        if item_id != state["next_item"]:
            raise InputError(f"the practice item now is {state['next_item']!r}, not {item_id!r}")
        asked = list(EPITOME_MECHANISMS) if camp["kind"] == "empathy" else ["initial", "final"]
        clean = {k: SCALES[k].check(values.get(k)) for k in asked}
        reference = reference_of(self.store.item(item_id), camp["kind"], q.references.get(item_id))
        self.store.add_practice(camp["id"], who.id, item_id, state["attempt"], clean, reference, agrees(clean, reference))
        after = standing(q, self.store.practice_rows(camp["id"], who.id))
        note = ""
        if after["passed"]:
            note = "You passed the qualification: the campaign's items follow."
        elif after["blocked"]:
            note = f"Not passed: {after['blocked']}."
        elif after["attempt"] > state["attempt"]:
            note = (
                f"Attempt {state['attempt']} scored {after['scores'][-1]:.2f}; {q.threshold:.2f} is needed. "
                f"Attempt {after['attempt']} of {q.attempts} starts now."
            )
        return {"feedback": feedback(clean, reference, camp["kind"]), "note": note, "standing": after}

    # -- standing (admins) ----------------------------------------------------------------------

    def reinstate(self, actor: Annotator | None, campaign: str, annotator: str) -> None:
        who = require(actor, "admin")
        camp = self.store.campaign(campaign)
        rater = self.store.annotator(annotator or "")
        if rater is None:
            raise NotFound(f"unknown annotator {annotator!r}")
        state = self.store.standing(camp["id"], rater.id)
        if not state["paused"]:
            raise InputError(f"{rater.name} is not paused in {camp['name']}")
        misses = sum(1 for c in self.store.gold_checks(camp["id"], rater.id) if gold_missed(c))
        self.store.set_standing(
            camp["id"], rater.id, who.name, "annotator reinstated", {"misses_forgiven": misses}, paused=0, forgiven=misses
        )

    def exclude_rater(self, actor: Annotator | None, campaign: str, annotator: str, reason: str) -> None:
        """Leave a rater's ratings out of the campaign's next releases: recorded (and logged), never a deletion."""
        who = require(actor, "admin")
        camp = self.store.campaign(campaign)
        rater = self.store.annotator(annotator or "")
        if rater is None or not self._campaign_ratings_of(camp, rater.name):
            raise NotFound(f"{annotator!r} has no ratings in campaign {camp['name']}")
        self.store.exclude_rater(camp["id"], rater.id, reason, who.name)

    def _campaign_ratings_of(self, camp: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
        return [r for r in self._campaign_ratings(camp) if r["annotator"] == name]

    def rater_ratings(self, actor: Annotator | None, campaign: str, annotator: str) -> list[dict[str, Any]]:
        require(actor, "admin")
        camp = self.store.campaign(campaign)
        rows = self._campaign_ratings_of(camp, annotator)
        if not rows:
            raise NotFound(f"{annotator!r} has no ratings in campaign {camp['name']}")
        return rows

    # -- quality and drift (admins) ---------------------------------------------------------------

    def rater_quality(self, actor: Annotator | None, campaign: str, method: str = DEFAULT_METHOD) -> dict[str, Any]:
        """Per annotator: items, time, straight-lining, checks, competence, bias against the consensus, their answers, and
        flags with their reasons (`quality`)."""
        require(actor, "admin")
        camp = self.store.campaign(campaign)
        q, _, rules = self._gates(camp)
        ratings = self._campaign_ratings(camp)
        if not ratings:
            raise NotFound(f"campaign {camp['name']} has no ratings yet")
        scale = QUALITY_SCALE[camp["kind"]]
        excluded, paused = set(self.store.excluded(camp["id"])), set(self.store.paused(camp["id"]))
        checks = {}
        for name in {r["annotator"] for r in ratings}:
            rater = self.store.annotator(name)
            checks[name] = [not gold_missed(c) for c in self.store.gold_checks(camp["id"], rater.id)]
            if q is not None:
                checks[name] += [p["agrees"] for p in self.store.practice_rows(camp["id"], rater.id)]
        timed = [{**r, "seconds": r.get("seconds_on_item")} for r in sorted(ratings, key=lambda r: r["created"])]
        rows = [
            {**report, "paused": report["annotator"] in paused, "excluded": report["annotator"] in excluded}
            for report in assess(timed, scale, SCALES[scale].ordinal, rules, checks, method)
        ]
        return {"campaign": camp["name"], "scale": scale, "method": method, "rules": rules.to_dict(), "raters": rows}

    def drift(self, actor: Annotator | None, campaign: str, batch: int = 20) -> dict[str, Any]:
        """Krippendorff's alpha with its 95% CI per batch of items in the order they were first rated, and each rater's mean
        distance from the item's median rating per batch of their own ratings: a rater who tires or drifts shows."""
        require(actor, "admin")
        if isinstance(batch, bool) or not isinstance(batch, int) or not 5 <= batch <= 1000:
            raise ConfigError(f"a batch is 5 to 1000 items, got {batch!r}")
        camp = self.store.campaign(campaign)
        scale = QUALITY_SCALE[camp["kind"]]
        ratings = sorted(self._campaign_ratings(camp), key=lambda r: r["created"])
        if not ratings:
            raise NotFound(f"campaign {camp['name']} has no ratings yet")
        order = list(dict.fromkeys(r["item_id"] for r in ratings))
        raters = sorted({r["annotator"] for r in ratings})
        batches = []
        for start in range(0, len(order), batch):
            chunk = set(order[start : start + batch])
            m = np.full((len(raters), len(chunk)), np.nan)
            col = {it: j for j, it in enumerate(sorted(chunk))}
            for r in ratings:
                if r["item_id"] in chunk:
                    m[raters.index(r["annotator"]), col[r["item_id"]]] = r[scale] + (1 if camp["kind"] == "empathy" else 0)
            level = "ordinal" if camp["kind"] == "empathy" else "interval"
            lo, hi = bootstrap_alpha(m, level, 200)
            batches.append({"batch": len(batches) + 1, "items": len(chunk), "alpha": krippendorff_alpha(m, level), "ci95": [lo, hi]})
        by_item: dict[str, list[float]] = defaultdict(list)
        for r in ratings:
            by_item[r["item_id"]].append(r[scale])
        consensus = {item: float(np.median(vals)) for item, vals in by_item.items()}
        per_rater = {}
        for name in raters:
            mine = [abs(r[scale] - consensus[r["item_id"]]) for r in ratings if r["annotator"] == name]
            per_rater[name] = [float(np.mean(mine[i : i + batch])) for i in range(0, len(mine), batch)]
        return {"campaign": camp["name"], "scale": scale, "batch": batch, "batches": batches, "raters": per_rater}
