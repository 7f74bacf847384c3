"""Campaigns: the `Campaigns` mixin. Creating one with its items, reading, closing and reopening it.

A campaign serves each of its items to exactly k distinct annotators (how, in
`assignments.py`). The campaign named `default` holds every item with no k: the
free queue of earlier versions.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import math
from typing import Any, Iterable, Iterator, Sequence

from ..errors import NotFound, StoreError
from ..labels import EPITOME_MECHANISMS
from ..names import check_name
from .migrations import now
from .ratings import KINDS
from .review import log

SCALES = ("initial", "final", "emotion", "turns")
CAMPAIGN_KINDS = ("intensity", "empathy")  # what is rated: a dialogue's intensity, or a response's empathy (store.ratings.KINDS)
REQUIRED_SCALES = ("initial", "final")  # the ratings table keeps both for every rating
ITEM_KINDS = ("item", "calibration", "gold")
# How items overlap between annotators (Prodigy's feed_overlap, Label Studio's overlap, Argilla's minimum responses):
# "fill" gives each item its k ratings before opening new ones (pilots get doubly rated items at once), "spread" serves
# the least-rated first (the widest coverage), "subset" has everyone rate a fixed first part and spreads the rest.
OVERLAPS = ("fill", "spread", "subset")
DEFAULT_OVERLAP = "fill"
CLAIM_TTL_S = 15 * 60
MAX_CLAIM_TRIES = 50  # choices that another annotator took first before a claim gives up (never seen past a few)
DEFAULT_CAMPAIGN = "default"

# One request's campaign rows, so a save and the next item's view resolve their campaign once (`one_request`), not once per
# function; a change to a campaign made by this process drops them.
_ROWS: contextvars.ContextVar[dict[tuple[int, int | str], dict[str, Any]] | None] = contextvars.ContextVar("campaign_rows", default=None)

LIVE = "(a.done = 1 OR a.expires > ?)"  # an assignment that counts towards k: rated, or claimed and not expired


class Campaigns:
    def create_campaign(
        self,
        name: str,
        items: Sequence[tuple[str, str]],
        k: int = 2,
        scales: Sequence[str] = ("initial", "final"),
        blind: bool = True,
        guidelines: str = "",
        gold_rate: float = 0.0,
        created_by: str | None = None,
        kind: str = "intensity",
        new_items: Sequence[dict[str, Any]] = (),
        overlap: str = DEFAULT_OVERLAP,
        subset: int = 0,
    ) -> int:
        """A new campaign over (item id, kind) pairs, validated whole before anything is written.

        `kind` is what is rated: "intensity" (dialogues, on `scales`) or "empathy" ((post, response)
        items, on the three mechanisms). `new_items` are item rows the campaign brings (an upload's
        dialogues or pairs): they are written in the campaign's own transaction, after its name is
        found free, and an item that another campaign holds is never changed by them. `overlap` is the policy of
        `OVERLAPS`; with "subset", the first `subset` items to rate are rated by everyone."""
        self.check_campaign_name_free(name)
        if overlap not in OVERLAPS:
            raise StoreError(f"overlap must be one of {', '.join(OVERLAPS)}, got {overlap!r}")
        n_items = sum(1 for _, kind_ in items if kind_ == "item")
        if not isinstance(subset, int) or isinstance(subset, bool) or not 0 <= subset <= n_items or (overlap == "subset") != (subset > 0):
            raise StoreError(
                f"the overlap subset is 1 to {n_items} items (everyone rates them) with overlap subset, and 0 otherwise; "
                f"got {subset!r} with {overlap}"
            )
        if kind not in CAMPAIGN_KINDS:
            raise StoreError(f"campaign kind must be one of {', '.join(CAMPAIGN_KINDS)}, got {kind!r}")
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 100:
            raise StoreError(f"k (annotators per item) must be an integer from 1 to 100, got {k!r}")
        if kind == "empathy":
            scales = EPITOME_MECHANISMS
        unknown = sorted(set(scales) - set(SCALES))
        if kind == "intensity" and (unknown or not set(REQUIRED_SCALES) <= set(scales)):
            raise StoreError(f"scales must include initial and final, and may add emotion and turns; got {list(scales)}")
        if not isinstance(gold_rate, (int, float)) or not 0 <= gold_rate <= 0.5:
            raise StoreError(f"gold-check rate must be from 0 to 0.5, got {gold_rate!r}")
        if not items or not any(kind == "item" for _, kind in items):
            raise StoreError("a campaign needs at least one item to rate")
        bad = [kind for _, kind in items if kind not in ITEM_KINDS]
        if bad:
            raise StoreError(f"item kind must be one of {', '.join(ITEM_KINDS)}, got {bad[0]!r}")
        ids = [i for i, _ in items]
        rows = _item_rows(new_items)
        known = set(self.item_ids(kind)) | {r["id"] for r in rows if (r.get("post") is not None) == (kind == "empathy")}
        missing = [i for i in ids if i not in known]
        if missing:
            what = "(post, response) pairs" if kind == "empathy" else "dialogues"
            raise StoreError(f"unknown item {missing[0]!r} ({len(missing)} of {len(ids)} items are not {what} of the studio)")
        with self.write() as db:
            if db.execute("SELECT 1 FROM campaigns WHERE name = ?", [name]).fetchone():
                raise StoreError(f"a campaign named {name!r} exists already")
            held = _held_elsewhere(db, rows)
            if held:
                raise StoreError(f"item {held!r} belongs to another campaign with other content; nothing was written")
            if rows:
                db["items"].upsert_all(rows, pk="id")
            cid = (
                db["campaigns"]
                .insert(
                    {
                        "name": name,
                        "k": k,
                        "all_items": 0,
                        "scales": json.dumps(list(scales)),
                        "blind": int(bool(blind)),
                        "guidelines": guidelines or "",
                        "gold_rate": float(gold_rate),
                        "active": 1,
                        "created_by": created_by,
                        "created": now(),
                        "kind": kind,
                        "overlap": overlap,
                    }
                )
                .last_pk
            )
            seen: set[str] = set()
            rows = []
            regular = 0
            for pos, (item, kind) in enumerate(items):
                if item not in seen:
                    seen.add(item)
                    everyone = kind == "item" and regular < subset
                    regular += kind == "item"
                    rows.append({"campaign_id": cid, "item_id": item, "kind": kind, "position": pos, "everyone": int(everyone)})
            db["campaign_items"].insert_all(rows)
            db.execute(
                "INSERT INTO guideline_versions (campaign_id, version, text, created, created_by) VALUES (?, 1, ?, ?, ?)",
                [cid, guidelines or "", now(), created_by],
            )
            log(
                db,
                created_by,
                "campaign created",
                cid,
                detail={"name": name, "kind": kind, "k": k, "items": len(rows), "blind": bool(blind)},
            )
        return int(cid)

    def check_campaign_name_free(self, name: str) -> None:
        check_name(name, "campaign name")
        if self.db.execute("SELECT 1 FROM campaigns WHERE name = ?", [name]).fetchone():
            raise StoreError(f"a campaign named {name!r} exists already; choose another name (its items stay as they are)")

    @contextlib.contextmanager
    def one_request(self) -> Iterator[None]:
        """Within one request, each campaign's row is read once."""
        token = _ROWS.set({})
        try:
            yield
        finally:
            _ROWS.reset(token)

    def campaigns_changed(self) -> None:
        """A campaign's row changed: the rows this request holds are read again."""
        if _ROWS.get() is not None:
            _ROWS.set({})

    def campaign(self, ref: int | str) -> dict[str, Any]:
        held = _ROWS.get()
        if held is not None and (id(self), ref) in held:
            return dict(held[(id(self), ref)])
        col = "id" if isinstance(ref, int) else "name"
        rows = list(self.db.query(f"SELECT * FROM campaigns WHERE {col} = ?", [ref]))
        if not rows:
            raise NotFound(f"unknown campaign {ref!r}")
        camp = _campaign(rows[0])
        if held is not None:
            held[(id(self), camp["id"])] = held[(id(self), camp["name"])] = camp
        return dict(camp)

    def campaign_kind(self, campaign_id: int) -> str:
        return self.campaign(campaign_id)["kind"]

    def _table(self, campaign_id: int) -> str:
        """The ratings table a campaign's ratings live in."""
        return KINDS[self.campaign_kind(campaign_id)].table

    def default_campaign_id(self) -> int:
        if getattr(self, "_default_campaign", None) is None:
            self._default_campaign = self.db.execute("SELECT id FROM campaigns WHERE name = ?", [DEFAULT_CAMPAIGN]).fetchone()[0]
        return self._default_campaign

    def campaigns(self, active_only: bool = False) -> list[dict[str, Any]]:
        sql = "SELECT * FROM campaigns" + (" WHERE active = 1" if active_only else "") + " ORDER BY id"
        return [_campaign(r) for r in self.db.query(sql)]

    def set_campaign_active(self, campaign_id: int, active: bool, by: str | None = None) -> None:
        with self.write() as db:
            db.execute("UPDATE campaigns SET active = ? WHERE id = ?", [int(bool(active)), campaign_id])
            log(db, by, "campaign reopened" if active else "campaign closed", campaign_id)
        self.campaigns_changed()

    def campaign_item_ids(self, campaign_id: int, kinds: Iterable[str] = ITEM_KINDS) -> list[str]:
        camp = self.campaign(campaign_id)
        if camp["all_items"]:
            return self.item_ids()
        kinds = list(kinds)
        sql = f"SELECT item_id FROM campaign_items WHERE campaign_id = ? AND kind IN ({','.join('?' * len(kinds))}) ORDER BY position"
        return [r[0] for r in self.db.execute(sql, [campaign_id, *kinds]).fetchall()]

    def campaign_has_item(self, campaign_id: int, item_id: str) -> bool:
        return (
            self.db.execute("SELECT 1 FROM campaign_items WHERE campaign_id = ? AND item_id = ?", [campaign_id, item_id]).fetchone()
            is not None
        )

    def blinded_item_ids(self) -> set[str]:
        """Items of every active blind campaign: their gold and predictions stay hidden from non-admins."""
        sql = (
            "SELECT ci.item_id FROM campaign_items ci JOIN campaigns c ON c.id = ci.campaign_id "
            "WHERE c.active = 1 AND c.blind = 1 AND c.all_items = 0"
        )
        return {r[0] for r in self.db.execute(sql).fetchall()}


def _item_rows(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in it.items()} for it in items]


_CONTENT = ("text", "post", "gold_levels", "gold_emotion", "gold_initial", "gold_final", "record")


def _held_elsewhere(db, rows: list[dict[str, Any]]) -> str | None:
    """The first new item whose id an existing campaign already holds with other content (which an upsert would overwrite)."""
    for row in rows:
        cur = db.execute(
            f"SELECT {', '.join(_CONTENT)} FROM items i WHERE i.id = ? AND EXISTS "
            "(SELECT 1 FROM campaign_items ci WHERE ci.item_id = i.id)",
            [row["id"]],
        ).fetchone()
        if cur is not None and any(row.get(c) != v for c, v in zip(_CONTENT, cur) if c in row):
            return row["id"]
    return None


def _campaign(row: dict[str, Any]) -> dict[str, Any]:
    return {
        **row,
        "scales": json.loads(row["scales"]),
        "blind": bool(row["blind"]),
        "active": bool(row["active"]),
        "all_items": bool(row["all_items"]),
    }
