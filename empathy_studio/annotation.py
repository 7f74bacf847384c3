"""Annotation use cases: sign-in and roles, the rating queue, agreement (import and export live in `rating_io`).

Roles are checked here and in the store (`store.require`), at the API level, so
a call that bypasses the page (gradio_client, the CLI) meets the same rules:
admins start training, export and manage annotators; annotators rate and see
only their own ratings. The queue order is the admin's choice: random, model
uncertainty (entropy of the emotion probabilities, or intensity spread across
emotions), or disagreement between annotators; this is the studio's active learning.
"""

from __future__ import annotations

import json
import random
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .metrics import entropy
from .rating_io import export_ratings, import_ratings
from .registry import Registry
from .settings import Settings
from .store import DEFAULT_CAMPAIGN, Annotator, PermissionDenied, Store, StoreError, name_key, require
from .study.agreement import _nan, agreement_report, empathy_agreement_report
from .study.qualification import Attention, gold_expected, gold_missed
from .throttle import SignInThrottle

QUEUE_ORDERS = ("random", "uncertainty", "spread", "disagreement")


# ---------------------------------------------------------------------------
# the service


class Annotation:
    def __init__(self, store: Store, settings: Settings, registry: Registry, throttle: SignInThrottle | None = None):
        self.store, self.settings, self.registry = store, settings, registry
        self.throttle = throttle or SignInThrottle()

    # -- identity ---------------------------------------------------------------

    @staticmethod
    def require(actor: Annotator | None, role: str = "annotator") -> Annotator:
        return require(actor, role)

    def bootstrap_accounts(self) -> None:
        self.store.add_annotators([(acc.name, acc.role, acc.password) for acc in self.settings.auth])

    def login(self, name: str, password: str, client: str | None = None) -> Annotator:
        """Sign in by name and password; `client` is the caller's address, throttled like the account."""
        try:
            account = ("account", name_key(name))
        except StoreError:
            account = ("account", str(name)[:64])
        keys = [account] + ([("client", client)] if client else [])
        self.throttle.admit(keys)  # counted as a failure from here on, unless the password is right
        who = self.store.authenticate(name, password)
        if who is None:
            raise PermissionDenied("unknown name or wrong password")
        self.throttle.succeeded(keys)
        return who

    def oauth_login(self, username: str) -> Annotator:
        """A Hugging Face OAuth profile becomes an annotator account on first sign-in."""
        return self.store.annotator(username) or self.store.add_annotator(username, "annotator")

    def add_annotator(self, actor: Annotator | None, name: str, role: str, password: str | None) -> Annotator:
        who = require(actor, "admin")
        return self.store.add_annotator(name, role, password, by=who.name)

    # -- queue ------------------------------------------------------------------

    def queue_order(self) -> str:
        return self.store.get_setting("queue_order", "random")

    def set_queue_order(self, actor: Annotator | None, order: str, model: str | None = None) -> None:
        require(actor, "admin")
        if order not in QUEUE_ORDERS:
            raise StoreError(f"queue order must be one of {', '.join(QUEUE_ORDERS)}")
        self.store.set_setting("queue_order", order)
        if model:
            self.registry.get(model)
            self.store.set_setting("queue_model", model)

    def queue_model(self) -> str:
        return self.store.get_setting("queue_model", self.settings.default_model)

    def assisted(self) -> bool:
        return bool(self.store.get_setting("assisted", False))

    def set_assisted(self, actor: Annotator | None, on: bool) -> None:
        require(actor, "admin")
        self.store.set_setting("assisted", bool(on))

    def queue(self, actor: Annotator | None) -> list[str]:
        """Item ids this annotator has not rated yet, in the admin's chosen order."""
        who = require(actor)
        done = self.store.rated_item_ids(who.name, self.store.default_campaign_id())
        todo = [i for i in self.store.item_ids() if i not in done]
        order = self.queue_order()
        if order == "random":
            random.Random(f"{who.name}").shuffle(todo)  # stable per annotator, different between them
            return todo
        if order == "disagreement":
            spread = self._rating_spread()
            return sorted(todo, key=lambda i: (-spread.get(i, -1.0), i))
        model = self.queue_model()
        cache = self.store.cached_predictions(model)
        if order == "uncertainty":
            score = {i: entropy(r["probs"]) for i, (_, r) in cache.items()}
        else:  # spread: how much the per-emotion intensity outputs disagree
            score = {i: r.get("pred_spread") or 0.0 for i, (_, r) in cache.items()}
        return sorted(todo, key=lambda i: (-score.get(i, -1.0), i))

    def _rating_spread(self) -> dict[str, float]:
        vals: dict[str, list[int]] = defaultdict(list)
        for _, item, initial, final, _ in self.store.rating_table():
            vals[item].append(initial)
        return {i: float(np.std(v)) for i, v in vals.items() if len(v) >= 2}

    def next_item(self, actor: Annotator | None) -> dict[str, Any] | None:
        """The default campaign's next item for this annotator (the free queue)."""
        q = self.queue(actor)
        return self.store.item(q[0]) if q else None

    # -- campaigns ------------------------------------------------------------------

    def campaign(self, name: str | None) -> dict[str, Any]:
        return self.store.campaign(name or DEFAULT_CAMPAIGN)

    def campaigns(self, actor: Annotator | None, active_only: bool = True) -> list[dict[str, Any]]:
        require(actor)
        return self.store.campaigns(active_only=active_only)

    def next_in(self, actor: Annotator | None, campaign: str | None = None, skip: Sequence[str] = ()) -> str | None:
        """The annotator's next item of a campaign: a claim for a campaign with k, the free queue for the default one."""
        who = require(actor)
        camp = self.campaign(campaign)
        if camp["all_items"]:
            return next((i for i in self.queue(who) if i not in set(skip)), None)
        return self.store.claim(camp["id"], who.id, skip)

    def skip(self, actor: Annotator | None, campaign: str | None, item_id: str) -> None:
        """Pass an item: its claim returns to the pool for someone else."""
        who = require(actor)
        camp = self.campaign(campaign)
        if not camp["all_items"] and item_id:
            self.store.release(camp["id"], who.id, item_id)

    def is_assisted(self, campaign: dict[str, Any] | str | None) -> bool:
        """Whether a campaign (its row, or its name) shows the model's suggestion."""
        camp = campaign if isinstance(campaign, dict) else self.campaign(campaign)
        return self.assisted() if camp["all_items"] else not camp["blind"]

    def progress(self, actor: Annotator | None, campaign: str | None = None) -> dict[str, int]:
        """For the annotator: done of assigned in the campaign; for the team: items complete, of all."""
        who = require(actor)
        camp = self.campaign(campaign)
        mine = self.store.annotator_progress(camp["id"], who.id)
        team = self.store.campaign_progress(camp["id"], per_annotator=False)
        return {
            "done": mine["done"],
            "assigned": mine["assigned"],
            "complete": team["complete"],
            "items": team["items"],
            "team_ratings": team["ratings"],
            "k": camp["k"],
        }

    # -- ratings ----------------------------------------------------------------

    def rate(
        self, actor: Annotator | None, item_id: str, initial: Any, final: Any, campaign: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        """Save a rating in a campaign, with whether the model's suggestion was shown and how long the item was open."""
        who = require(actor)
        camp = self.campaign(campaign)
        if not camp["active"]:
            raise PermissionDenied(f"campaign {camp['name']} is closed; its ratings can no longer change")
        claimed = self.store.claimed_at(camp["id"], who.id, item_id)
        given = extra.pop("seconds_on_item", None)  # the claim's own time wins over what a caller says
        seconds = round(time.time() - claimed, 1) if claimed and not camp["all_items"] else given
        res = self.store.rate(
            who.name, item_id, initial, final, campaign_id=camp["id"], assisted=self.is_assisted(campaign), seconds_on_item=seconds, **extra
        )
        return {**res, "attention": self.attention(camp, who)}

    def rate_empathy(
        self,
        actor: Annotator | None,
        item_id: str,
        levels: dict[str, Any],
        campaign: str,
        note: str | None = None,
        seconds_on_item: float | None = None,
    ) -> dict[str, Any]:
        """Save a response-empathy rating (ER, IP, EX at 0-2) in an empathy campaign."""
        who = require(actor)
        camp = self.campaign(campaign)
        if not camp["active"]:
            raise PermissionDenied(f"campaign {camp['name']} is closed; its ratings can no longer change")
        claimed = self.store.claimed_at(camp["id"], who.id, item_id)
        seconds = round(time.time() - claimed, 1) if claimed else seconds_on_item
        res = self.store.rate_empathy(
            who.name, item_id, levels, camp["id"], note=note, assisted=self.is_assisted(campaign), seconds_on_item=seconds
        )
        return {**res, "attention": self.attention(camp, who)}

    def attention(self, camp: dict[str, Any], who: Annotator) -> str | None:
        """The campaign's attention gate after a save: a warning (what was expected) after `warn_after` missed gold checks, a
        pause after `pause_after` (misses before a reinstatement do not count again). Returns what to tell the annotator."""
        _, stored = self.store.gates(camp["id"])
        stored = {k: v for k, v in (stored or {}).items() if k != "rules"}  # the quality rules live beside the gate
        if not stored:
            return None
        gate = Attention(**stored)
        checks = self.store.gold_checks(camp["id"], who.id)
        misses = [c for c in checks if gold_missed(c)]
        state = self.store.standing(camp["id"], who.id)
        counted = len(misses) - state["forgiven"]
        if counted <= 0 or not checks or checks[-1]["item_id"] != (misses[-1]["item_id"] if misses else None):
            return None  # the save just made was not a missed check
        expected = gold_expected(misses[-1])
        if counted >= gate.pause_after:
            self.store.set_standing(camp["id"], who.id, who.name, "annotator paused", {"misses": counted, "expected": expected}, paused=1)
            return (
                f"Paused: {counted} attention checks missed (the last expected {expected}). An admin can look at your ratings "
                "and reinstate you."
            )
        if counted >= gate.warn_after and state["warned"] < counted:
            self.store.set_standing(
                camp["id"], who.id, who.name, "annotator warned", {"misses": counted, "expected": expected}, warned=counted
            )
            return (
                f"Attention check missed ({counted} of {gate.pause_after} before a pause): the expected answer was {expected}. "
                "Read the whole dialogue before rating."
            )
        return None

    def undo(self, actor: Annotator | None, campaign: str | None = None) -> dict[str, Any] | None:
        """Take back the annotator's last save of the campaign's kind of rating (intensity or response empathy)."""
        return self.store.undo_last(require(actor).name, self.campaign(campaign)["kind"])

    def my_ratings(self, actor: Annotator | None, kind: str = "intensity") -> list[dict[str, Any]]:
        """The annotator's own ratings of a kind, the most recently changed first."""
        who = require(actor)
        rows = self.store.empathy_ratings(annotator=who.name) if kind == "empathy" else self.store.ratings(annotator=who.name)
        return sorted(rows, key=lambda r: (r["updated"], r["id"]), reverse=True)

    def all_ratings(self, actor: Annotator | None) -> list[dict[str, Any]]:
        require(actor, "admin")
        return self.store.ratings()

    # -- agreement --------------------------------------------------------------

    def agreement(
        self, model: str | None = None, n_boot: int = 200, campaign: str | None = None, guideline_version: int | None = None
    ) -> dict[str, Any]:
        """Agreement over all ratings, or over one campaign's (per mechanism, for a response-empathy campaign), optionally
        only those made under one version of its guidelines."""
        camp = self.store.campaign(campaign) if campaign else None
        camp_id = camp["id"] if camp else None
        if camp and camp["kind"] == "empathy":
            gold = {it["id"]: json.loads(it["gold_levels"]) for it in self.store.items() if it.get("gold_levels")}
            preds = {i: r for i, (_, r) in self.store.cached_predictions(model).items()} if model else None
            return {
                "campaign": campaign,
                "kind": "empathy",
                **empathy_agreement_report(self.store.empathy_rating_table(camp_id, guideline_version), gold, preds, n_boot=n_boot),
            }
        gold = {
            it["id"]: {"emotion": it["gold_emotion"], "initial": _nan(it["gold_initial"]), "final": _nan(it["gold_final"])}
            for it in self.store.items()
        }
        preds = {i: r for i, (_, r) in self.store.cached_predictions(model).items()} if model else None
        report = agreement_report(self.store.rating_table(camp_id, guideline_version), gold, preds, n_boot=n_boot)
        return {"campaign": campaign, "kind": "intensity", **report}

    # -- import and export --------------------------------------------------------

    def export(
        self,
        actor: Annotator | None,
        path: Path | str,
        fmt: str = "csv",
        hub_repo: str | None = None,
        token: str | None = None,
        campaign: str | None = None,
        with_text: bool = False,
    ) -> int:
        require(actor, "admin")
        return export_ratings(self.store, path, fmt, hub_repo, token, campaign, with_text)

    def import_(self, actor: Annotator | None, path: Path | str, dry_run: bool = False, create_annotators: bool = False) -> dict[str, Any]:
        require(actor, "admin")
        return import_ratings(self.store, path, dry_run, create_annotators)
