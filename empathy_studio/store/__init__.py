"""The SQLite store, on sqlite-utils: every SQL statement of the project lives in this package.

Ratings are the most valuable data in the studio, so the store is built not to
lose them:

- one connection per thread, WAL, `busy_timeout`, foreign keys on;
- every write is one `BEGIN IMMEDIATE` transaction: it takes the write lock up
  front, so concurrent writers queue on the busy timeout instead of failing
  with "database is locked" when a read transaction tries to upgrade;
- everything is validated before the transaction starts, and CHECK
  constraints back the validation up, so no half-written record exists;
- one rating per (annotator, item); an edit updates it and appends the old
  and new values to `rating_history`.

Migrations are named functions applied in order, each in its own transaction,
and recorded in `migrations`, so applying them again does nothing.

One module per part of the schema, each a mixin of `Store`: `base` (connections,
transactions, migrations, backup), `migrations` (the schema), `accounts`,
`ratings` (items, ratings, the predictions cache, app settings), `campaigns`
(campaigns), `assignments` (an annotator's next item, claims, progress), `sessions` (sign-in tokens), `jobs`, `review` (guideline versions,
adjudications, releases, the append-only audit log), `gates` (qualification, attention, standing, exclusions).
"""

from __future__ import annotations

from ..errors import PermissionDenied, StoreError
from .accounts import ROLES, Accounts, Annotator, account_name, hash_password, name_key, require, verify_password
from .assignments import Assignments
from .base import Connection, is_empty_database
from .campaigns import CAMPAIGN_KINDS, CLAIM_TTL_S, DEFAULT_CAMPAIGN, DEFAULT_OVERLAP, OVERLAPS, SCALES, Campaigns
from .gates import Gates
from .jobs import JOB_STATES, Jobs
from .migrations import ADJUDICATION_REASONS, MIGRATIONS, now
from .ratings import EMPATHY_FIELDS, KINDS, MAX_NOTE, RATING_FIELDS, Ratings
from .review import Review
from .sessions import Sessions

__all__ = [
    "Store",
    "Annotator",
    "PermissionDenied",
    "StoreError",
    "require",
    "account_name",
    "name_key",
    "hash_password",
    "verify_password",
    "is_empty_database",
    "MIGRATIONS",
    "now",
    "ROLES",
    "JOB_STATES",
    "MAX_NOTE",
    "RATING_FIELDS",
    "CLAIM_TTL_S",
    "DEFAULT_CAMPAIGN",
    "DEFAULT_OVERLAP",
    "OVERLAPS",
    "SCALES",
    "CAMPAIGN_KINDS",
    "EMPATHY_FIELDS",
    "KINDS",
    "ADJUDICATION_REASONS",
]


class Store(Connection, Accounts, Ratings, Campaigns, Assignments, Sessions, Jobs, Review, Gates):
    """The studio's database: every table, behind methods that validate before they write."""
