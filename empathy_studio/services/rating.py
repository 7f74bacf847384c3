"""Rating: the annotator's view of an item, campaigns, sessions, accounts, import and export: the `RatingServices` part of `Studio`."""

from __future__ import annotations

import dataclasses
import shutil
import sys
from pathlib import Path
from typing import Any, Sequence

from ..campaigns import CampaignRequest, create_campaign
from ..errors import NotFound
from ..rating_io import export_ratings, import_ratings
from ..store import DEFAULT_CAMPAIGN, Annotator, require
from .base import download_folder

SUGGESTED = ("pred_emotion", "pred_initial", "pred_final", "pred_change")  # what an assisted intensity campaign shows, kept with a rating


class RatingServices:
    def rating_view(self, actor: Annotator | None, item_id: str, campaign: str | None = None) -> dict[str, Any]:
        """What the Annotate tab shows for an item: the dialogue (never its gold), the annotator's own rating,
        and, in an assisted campaign, the model's suggestion. A response-empathy campaign shows the
        (post, response) pair and, assisted, the empathy rater's levels."""
        who = require(actor)
        camp = self.annotation.campaign(campaign)
        if not self.in_campaign(camp, item_id):
            raise NotFound(f"item {item_id!r} is not in campaign {camp['name']}")
        if camp["kind"] == "empathy":
            return self._pair_view(who, item_id, camp)
        d = self.dialogue(item_id)
        mine = self.store.ratings(annotator=who.name, item_id=item_id, campaign_id=camp["id"])
        assisted = self._suggests(who, camp, item_id)
        model = self.annotation.queue_model()
        suggestion = self.predict_dialogues(model, [d])[0].to_dict() if assisted else None
        shown = {"model": model, **{k: suggestion.get(k) for k in SUGGESTED}} if suggestion else None
        self._shown(who, camp, item_id, shown)
        return {
            "dialogue": d,
            "rating": mine[0] if mine else None,
            "assisted": assisted,
            "suggestion": suggestion,
            "progress": self.annotation.progress(who, campaign),
            "campaign": camp,
        }

    def _shown(self, who: Annotator, camp: dict[str, Any], item_id: str, suggestion: dict[str, Any] | None) -> None:
        """The item is on screen now, with what was suggested: its seconds count from here, and a rating keeps the suggestion."""
        if not camp["all_items"]:
            self.store.mark_shown(camp["id"], who.id, item_id, suggestion)

    def _pair_view(self, who: Annotator, item_id: str, camp: dict[str, Any]) -> dict[str, Any]:
        item = self.store.item(item_id)
        if item is None or not item.get("post"):
            raise NotFound(f"unknown response {item_id!r}")
        mine = self.store.empathy_ratings(annotator=who.name, item_id=item_id, campaign_id=camp["id"])
        assisted = self._suggests(who, camp, item_id)
        rater = self.suggestion_rater() if assisted else None
        suggestion = self.cached_empathy_predictions(rater, [(item_id, item["post"], item["text"])])[item_id] if rater else None
        shown = {"model": rater, "levels": suggestion["pred_levels"], "score": suggestion["pred_score"]} if suggestion else None
        self._shown(who, camp, item_id, shown)
        return {
            "pair": {"item_id": item_id, "post": item["post"], "response": item["text"]},
            "rating": mine[0] if mine else None,
            "assisted": assisted,
            "suggestion": suggestion,
            "rater": rater,
            "progress": self.annotation.progress(who, camp["name"]),
            "campaign": camp,
        }

    def in_campaign(self, campaign: dict[str, Any] | str | None, item_id: Any) -> bool:
        """Whether an item is one of a campaign's (the default campaign holds every dialogue)."""
        camp = campaign if isinstance(campaign, dict) else self.annotation.campaign(campaign)
        if not isinstance(item_id, str) or not item_id:
            return False
        if camp["all_items"]:
            item = self.store.item(item_id)
            return item is not None and not item.get("post")
        return self.store.campaign_has_item(camp["id"], item_id)

    def _suggests(self, who: Annotator, camp: dict[str, Any], item_id: str) -> bool:
        """An assisted campaign shows the model's suggestion, except for an item of an active blind campaign (hidden_from)."""
        return self.annotation.is_assisted(camp) and item_id not in self.hidden_from(who)

    def check_item(self, item_id: str) -> str:
        item_id = (item_id or "").strip()
        if self.store.item(item_id) is None:
            raise NotFound(f"unknown item {item_id!r}")
        return item_id

    def set_queue(self, actor: Annotator | None, order: str, model: str, assisted: bool) -> None:
        self.annotation.set_queue_order(actor, order, model)
        self.annotation.set_assisted(actor, assisted)
        if order in ("uncertainty", "spread") and not self.store.cached_predictions(model):
            self.split_predictions(model, "all")  # the queue reads cached predictions

    def export_ratings(
        self, path: Path | str, fmt: str = "csv", hub_repo: str | None = None, campaign: str | None = None, with_text: bool = False
    ) -> int:
        return export_ratings(self.store, path, fmt, hub_repo, self.settings.hf_token, campaign, with_text)

    def import_ratings(self, path: Path | str, dry_run: bool = False, create_annotators: bool = False) -> dict[str, Any]:
        if not self.store.item_ids():
            self.sync_items()
        return import_ratings(self.store, path, dry_run=dry_run, create_annotators=create_annotators)

    # -- campaigns ---------------------------------------------------------------

    def create_campaign(self, actor: Annotator | None, req: CampaignRequest) -> int:
        """A new campaign; on a database no server has opened yet, ESConv's dialogues are put into it first."""
        if req.kind == "intensity" and not self.store.count_items("intensity"):
            self.sync_items()
        return create_campaign(actor, req, self.sources, self.store)

    def campaign_names(self, actor: Annotator | None) -> list[str]:
        """Campaigns a signed-in user can rate in (active ones), the default last."""
        names = [c["name"] for c in self.annotation.campaigns(actor)]
        return [n for n in names if n != DEFAULT_CAMPAIGN] + [n for n in names if n == DEFAULT_CAMPAIGN]

    def first_campaign_with_work(self, actor: Annotator | None, names: Sequence[str]) -> str:
        """Of the given campaigns, the first in which this annotator still has something to rate (else the first)."""
        for name in names:
            p = self.annotation.progress(actor, name)
            if p["done"] < p["assigned"]:
                return name
        return names[0]

    def campaign_overview(self, actor: Annotator | None) -> list[dict[str, Any]]:
        """Admins: every campaign with its settings and progress."""
        require(actor, "admin")
        out = []
        for c in self.store.campaigns():
            p = self.store.campaign_progress(c["id"])
            out.append(
                {
                    "name": c["name"],
                    "kind": c["kind"],
                    "k": c["k"],
                    "items": p["items"],
                    "complete": p["complete"],
                    "ratings": p["ratings"],
                    "blind": c["blind"],
                    "overlap": c["overlap"],
                    "active": c["active"],
                    "scales": ", ".join(c["scales"]),
                    "per annotator": ", ".join(f"{n} {v}" for n, v in p["per_annotator"].items()),
                }
            )
        return out

    def set_campaign_active(self, actor: Annotator | None, campaign: str, active: bool) -> None:
        who = require(actor, "admin")
        self.store.set_campaign_active(self.store.campaign(campaign)["id"], active, by=who.name)

    def campaign_agreement(
        self, actor: Annotator | None, campaign: str, model: str | None = None, n_boot: int = 200, guideline_version: int | None = None
    ) -> dict[str, Any]:
        """Admins: a campaign's agreement (of the ratings made under one guideline version, if given); for response empathy,
        `model` names a rater, which rates the campaign's items first."""
        require(actor, "admin")
        camp = self.store.campaign(campaign)
        if camp["kind"] == "empathy" and model:
            self.rater(model)  # an unknown name, or a seeker model, is refused here
            items = [self.store.item(i) for i in self.store.campaign_item_ids(camp["id"])]
            self.cached_empathy_predictions(model, [(it["id"], it["post"], it["text"]) for it in items])
        return self.annotation.agreement(model=model, n_boot=n_boot, campaign=campaign, guideline_version=guideline_version)

    def campaign_ratings(self, actor: Annotator | None, campaign: str) -> list[dict[str, Any]]:
        require(actor, "admin")
        camp = self.store.campaign(campaign)
        return (self.store.empathy_ratings if camp["kind"] == "empathy" else self.store.ratings)(campaign_id=camp["id"])

    def campaign_export(self, actor: Annotator | None, campaign: str, fmt: str = "csv", with_text: bool = False) -> Path:
        """Admins: a campaign's ratings as a file to download (a `datasets` folder comes zipped); `with_text` adds the items' text."""
        require(actor, "admin")
        self.store.campaign(campaign)  # an unknown name is refused before it becomes a file name
        folder = download_folder()
        if fmt == "hf":
            export_ratings(self.store, folder / campaign, "hf", campaign=campaign, with_text=with_text)
            return Path(shutil.make_archive(str(folder / f"{campaign}-ratings-dataset"), "zip", folder, campaign))
        path = folder / f"{campaign}-ratings.{'jsonl' if fmt == 'jsonl' else 'csv'}"
        export_ratings(self.store, path, fmt, campaign=campaign, with_text=with_text)
        return path

    # -- the annotator's path: what the Annotate tab and the CLI do, one method each -------------

    def require(self, actor: Annotator | None, role: str = "annotator") -> Annotator:
        """The caller, signed in and holding `role` (or a PermissionDenied that says what is missing)."""
        return require(actor, role)

    def campaign(self, name: str | None) -> dict[str, Any]:
        """A campaign's row (the default campaign for None)."""
        return self.annotation.campaign(name)

    def next_in(self, actor: Annotator | None, campaign: str | None = None, skip: Sequence[str] = ()) -> str | None:
        return self.annotation.next_in(actor, campaign, skip)

    def progress(self, actor: Annotator | None, campaign: str | None = None) -> dict[str, int]:
        return self.annotation.progress(actor, campaign)

    def rate(
        self, actor: Annotator | None, item_id: str, initial: Any, final: Any, campaign: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        """An annotator rates a dialogue's intensity (and, where the campaign asks, emotion, turns, confidence, a note)."""
        return self.annotation.rate(actor, item_id, initial, final, campaign, **extra)

    def rate_empathy(
        self, actor: Annotator | None, item_id: str, levels: dict[str, Any], campaign: str, note: str | None = None
    ) -> dict[str, Any]:
        """An annotator rates a response's empathy: a level per mechanism."""
        return self.annotation.rate_empathy(actor, item_id, levels, campaign, note=note)

    def skip(self, actor: Annotator | None, campaign: str | None, item_id: str) -> None:
        self.annotation.skip(actor, campaign, item_id)

    def undo(self, actor: Annotator | None, campaign: str | None = None) -> dict[str, Any] | None:
        return self.annotation.undo(actor, campaign)

    def my_ratings(self, actor: Annotator | None, kind: str = "intensity") -> list[dict[str, Any]]:
        return self.annotation.my_ratings(actor, kind)

    def queue_order(self) -> str:
        return self.annotation.queue_order()

    def assisted(self) -> bool:
        return self.annotation.assisted()

    def create_account(self, actor: Annotator | None, name: str, role: str, password: str | None) -> Annotator:
        """Admins make an account from the app (the CLI's `annotators add` is `add_annotator`)."""
        return self.annotation.add_annotator(actor, name, role, password)

    def agreement(self, model: str | None = None, n_boot: int = 200) -> dict[str, Any]:
        """Agreement over every rating in the database (a campaign's is `campaign_agreement`)."""
        return self.annotation.agreement(model=model, n_boot=n_boot)

    # -- sessions ------------------------------------------------------------------

    def sign_in(self, name: str, password: str, client: str | None = None) -> tuple[Annotator, str]:
        """An account, acting under a new session, and its token for the browser to keep (never the password)."""
        who = self.annotation.login(name, password, client)
        token = self.store.create_session(who)
        return dataclasses.replace(who, token=token), token

    def sign_in_oauth(self, username: str) -> Annotator:
        """A Hugging Face OAuth profile's account (made on first sign-in), acting under a session like any other."""
        who = self.annotation.oauth_login(username)
        return dataclasses.replace(who, token=self.store.create_session(who))

    def resume(self, token: str | None) -> Annotator | None:
        who = self.store.session_annotator(token)
        return dataclasses.replace(who, token=token) if who else None

    def current_actor(self, who: Any) -> Any:
        """The caller as the database knows them now, for every call the app handles.

        A page holds the account it signed in with; this checks that its session is still open (not
        signed out in another tab, not expired) and reads the account's role again (an admin demoted
        since is an annotator from the next call on). A closed session is no account: None. Values
        other than an account pass through unchanged."""
        if not isinstance(who, Annotator):
            return who
        if who.token is None:  # made in-process (the CLI, tests): the account's current role
            return self.store.annotator_by_id(who.id)
        return self.resume(who.token)

    def sign_out(self, token: str | None) -> None:
        self.store.revoke_session(token)

    def needs_first_admin(self) -> bool:
        return not any(a.is_admin for a in self.store.annotators())

    def first_admin_command(self) -> str:
        """The command that creates the first admin, spelled so that it runs here: `empathy-studio` when it is on PATH, else the
        script beside this Python (`.venv/bin/empathy-studio` in a fresh clone), else `python -m empathy_studio.cli`."""
        exe = "empathy-studio"
        if shutil.which(exe) is None:
            beside = Path(sys.executable).parent / exe
            if beside.exists():
                try:
                    exe = str(beside.relative_to(Path.cwd()))
                except ValueError:
                    exe = str(beside)
            else:
                exe = f"{sys.executable} -m empathy_studio.cli"
        return f"{exe} annotators add --name admin --password CHOOSE-ONE --role admin --db {self.settings.effective_db_path}"

    def add_annotator(self, name: str, role: str = "annotator", password: str | None = None) -> Annotator:
        """Local administration (the CLI, run by whoever holds the database); the app goes through `annotation.add_annotator`."""
        return self.store.add_annotator(name, role, password, by="(command line)")
