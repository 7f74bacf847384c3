"""The schema, as named migrations applied in order, each in its own transaction and recorded in `migrations`."""

from __future__ import annotations

import unicodedata
from datetime import datetime, timezone
from typing import Callable

import sqlite_utils


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = []


def migration(fn: Callable[[sqlite_utils.Database], None]) -> Callable[[sqlite_utils.Database], None]:
    MIGRATIONS.append((fn.__name__, fn))
    return fn


def rebuilds_tables(fn: Callable[[sqlite_utils.Database], None]) -> Callable[[sqlite_utils.Database], None]:
    """Mark a migration that rebuilds a referenced table: it runs with foreign keys off, and checks them before it commits."""
    fn.rebuilds_tables = True  # type: ignore[attr-defined]
    return fn


@migration
def m001_initial(db: sqlite_utils.Database) -> None:
    db.execute(
        """CREATE TABLE annotators (
            id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE CHECK (length(trim(name)) > 0),
            role TEXT NOT NULL CHECK (role IN ('annotator', 'admin')), password_hash TEXT, created TEXT NOT NULL)"""
    )
    db.execute(
        """CREATE TABLE items (
            id TEXT PRIMARY KEY, source TEXT NOT NULL, dialogue_id TEXT, text TEXT NOT NULL, split TEXT,
            gold_emotion TEXT, gold_initial REAL, gold_final REAL, gold_change REAL)"""
    )
    db.execute(
        """CREATE TABLE ratings (
            id INTEGER PRIMARY KEY,
            annotator_id INTEGER NOT NULL REFERENCES annotators(id),
            item_id TEXT NOT NULL REFERENCES items(id),
            initial INTEGER NOT NULL CHECK (initial BETWEEN 1 AND 5),
            final INTEGER NOT NULL CHECK (final BETWEEN 1 AND 5),
            emotion TEXT, confidence INTEGER CHECK (confidence IS NULL OR confidence BETWEEN 1 AND 5),
            note TEXT CHECK (note IS NULL OR length(note) <= 5000),
            created TEXT NOT NULL, updated TEXT NOT NULL, UNIQUE (annotator_id, item_id))"""
    )
    db.execute(
        """CREATE TABLE rating_history (
            id INTEGER PRIMARY KEY, rating_id INTEGER NOT NULL REFERENCES ratings(id),
            changed_by INTEGER NOT NULL REFERENCES annotators(id), changed_at TEXT NOT NULL,
            old TEXT, new TEXT NOT NULL)"""
    )
    db.execute(
        """CREATE TABLE jobs (
            id INTEGER PRIMARY KEY, state TEXT NOT NULL CHECK (state IN ('queued','running','succeeded','failed','cancelled')),
            params TEXT NOT NULL, created_by TEXT, pid INTEGER, progress REAL DEFAULT 0, epoch REAL, step INTEGER,
            eta_s REAL, metrics TEXT, log_tail TEXT DEFAULT '', error TEXT, model_name TEXT,
            created TEXT NOT NULL, started TEXT, ended TEXT)"""
    )
    db.execute(
        """CREATE TABLE predictions (
            model TEXT NOT NULL, item_id TEXT NOT NULL, text_hash TEXT NOT NULL, result TEXT NOT NULL,
            created TEXT NOT NULL, PRIMARY KEY (model, item_id))"""
    )
    db.execute("CREATE INDEX ratings_item ON ratings(item_id)")


@migration
def m002_turn_intensities(db: sqlite_utils.Database) -> None:
    # one optional 1-5 value per seeker turn, stored as a JSON list
    db.execute("ALTER TABLE ratings ADD COLUMN turn_intensities TEXT")
    db.execute("CREATE INDEX rating_history_rating ON rating_history(rating_id)")


@migration
def m003_app_settings(db: sqlite_utils.Database) -> None:
    # settings an admin changes in the running app (queue order, assisted mode)
    db.execute("CREATE TABLE app_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


@migration
def m004_job_phase(db: sqlite_utils.Database) -> None:
    # the phase a running job is in, by name ("training (epoch 2 of 6)", "fitting intensity heads")
    db.execute("ALTER TABLE jobs ADD COLUMN phase TEXT")


@migration
def m005_annotator_name_key(db: sqlite_utils.Database) -> None:
    # one account per name however it is cased or composed ("Ana", "ana", "ａｎａ")
    db.execute("ALTER TABLE annotators ADD COLUMN name_key TEXT")
    taken: set[str] = set()
    for ident, name in db.execute("SELECT id, name FROM annotators ORDER BY id").fetchall():
        key = unicodedata.normalize("NFKC", name).strip().casefold()
        if key in taken:  # an older look-alike keeps its ratings but can no longer sign in under the shared name
            key = f"{key}#{ident}"
        taken.add(key)
        db.execute("UPDATE annotators SET name_key = ? WHERE id = ?", [key, ident])
    db.execute("CREATE UNIQUE INDEX annotators_name_key ON annotators(name_key)")


@migration
@rebuilds_tables
def m006_campaigns(db: sqlite_utils.Database) -> None:
    # a campaign: which items, how many raters per item (k; NULL = everyone may rate everything), what is asked
    db.execute(
        """CREATE TABLE campaigns (
            id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, k INTEGER CHECK (k IS NULL OR k BETWEEN 1 AND 100),
            all_items INTEGER NOT NULL DEFAULT 0, scales TEXT NOT NULL, blind INTEGER NOT NULL DEFAULT 1,
            guidelines TEXT NOT NULL DEFAULT '', gold_rate REAL NOT NULL DEFAULT 0 CHECK (gold_rate BETWEEN 0 AND 0.5),
            active INTEGER NOT NULL DEFAULT 1, created_by TEXT, created TEXT NOT NULL)"""
    )
    db.execute(
        """CREATE TABLE campaign_items (
            campaign_id INTEGER NOT NULL REFERENCES campaigns(id), item_id TEXT NOT NULL REFERENCES items(id),
            kind TEXT NOT NULL CHECK (kind IN ('item', 'calibration', 'gold')), position INTEGER NOT NULL,
            PRIMARY KEY (campaign_id, item_id))"""
    )
    # an item claimed by an annotator until `expires` (unix seconds), or done; claims are what keep k
    db.execute(
        """CREATE TABLE assignments (
            campaign_id INTEGER NOT NULL REFERENCES campaigns(id), item_id TEXT NOT NULL,
            annotator_id INTEGER NOT NULL REFERENCES annotators(id), claimed REAL NOT NULL, expires REAL NOT NULL,
            done INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (campaign_id, item_id, annotator_id))"""
    )
    db.execute("CREATE INDEX assignments_mine ON assignments(campaign_id, annotator_id, done)")
    # one rating per annotator, item *and campaign*: the same dialogue can be rated again in a new study.
    # SQLite changes a UNIQUE constraint by rebuilding the table; the ids stay, so rating_history keeps
    # pointing at its ratings (checked before the migration commits).
    default = db.execute(
        "INSERT INTO campaigns (name, k, all_items, scales, blind, created) VALUES ('default', NULL, 1, ?, 1, ?)",
        ['["initial", "final", "emotion"]', now()],
    ).lastrowid
    db.execute(
        """CREATE TABLE ratings_new (
            id INTEGER PRIMARY KEY,
            annotator_id INTEGER NOT NULL REFERENCES annotators(id),
            item_id TEXT NOT NULL REFERENCES items(id),
            initial INTEGER NOT NULL CHECK (initial BETWEEN 1 AND 5),
            final INTEGER NOT NULL CHECK (final BETWEEN 1 AND 5),
            emotion TEXT, confidence INTEGER CHECK (confidence IS NULL OR confidence BETWEEN 1 AND 5),
            note TEXT CHECK (note IS NULL OR length(note) <= 5000),
            created TEXT NOT NULL, updated TEXT NOT NULL, turn_intensities TEXT,
            campaign_id INTEGER NOT NULL REFERENCES campaigns(id), assisted INTEGER, seconds_on_item REAL,
            removed INTEGER NOT NULL DEFAULT 0,  -- an undone first rating stays, marked, so its history keeps pointing at it
            UNIQUE (annotator_id, item_id, campaign_id))"""
    )
    db.execute(
        "INSERT INTO ratings_new (id, annotator_id, item_id, initial, final, emotion, confidence, note, created, updated, "
        "turn_intensities, campaign_id) SELECT id, annotator_id, item_id, initial, final, emotion, confidence, note, created, updated, "
        "turn_intensities, ? FROM ratings",
        [default],
    )
    db.execute("DROP TABLE ratings")
    db.execute("ALTER TABLE ratings_new RENAME TO ratings")
    db.execute("CREATE INDEX ratings_item ON ratings(item_id)")
    db.execute("CREATE INDEX ratings_campaign ON ratings(campaign_id, annotator_id)")
    db.execute("ALTER TABLE items ADD COLUMN record TEXT")  # the dialogue as uploaded, for items from a campaign's own file


@migration
def m007_sessions(db: sqlite_utils.Database) -> None:
    # sign-in that survives a page reload: the browser keeps a random token, the database its hash
    db.execute(
        """CREATE TABLE sessions (
            token_hash TEXT PRIMARY KEY, annotator_id INTEGER NOT NULL REFERENCES annotators(id),
            created TEXT NOT NULL, expires REAL NOT NULL, revoked INTEGER NOT NULL DEFAULT 0)"""
    )


@migration
def m008_campaign_item_counts(db: sqlite_utils.Database) -> None:
    # each campaign item's number of ratings, kept with the item, so choosing the least-rated needs no count over all assignments
    db.execute("ALTER TABLE campaign_items ADD COLUMN rated INTEGER NOT NULL DEFAULT 0")
    db.execute(
        "UPDATE campaign_items SET rated = (SELECT count(*) FROM assignments a WHERE a.campaign_id = campaign_items.campaign_id "
        "AND a.item_id = campaign_items.item_id AND a.done = 1)"
    )
    db.execute("CREATE INDEX campaign_items_next ON campaign_items(campaign_id, kind, rated, position)")


@migration
def m009_response_empathy(db: sqlite_utils.Database) -> None:
    # A second kind of rating: how empathic a supporter's response to a seeker's post is, as EPITOME's three
    # mechanisms (emotional reactions, interpretations, explorations), each 0-2. Its items are (post, response)
    # pairs: the response is the item's text, the post a column of its own. The intensity ratings are untouched.
    db.execute("ALTER TABLE campaigns ADD COLUMN kind TEXT NOT NULL DEFAULT 'intensity' CHECK (kind IN ('intensity', 'empathy'))")
    db.execute("ALTER TABLE items ADD COLUMN post TEXT")
    db.execute("ALTER TABLE items ADD COLUMN gold_levels TEXT")  # EPITOME's [ER, IP, EX] for pairs that have them
    db.execute(
        """CREATE TABLE empathy_ratings (
            id INTEGER PRIMARY KEY,
            annotator_id INTEGER NOT NULL REFERENCES annotators(id),
            item_id TEXT NOT NULL REFERENCES items(id),
            campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
            emotional_reactions INTEGER NOT NULL CHECK (emotional_reactions BETWEEN 0 AND 2),
            interpretations INTEGER NOT NULL CHECK (interpretations BETWEEN 0 AND 2),
            explorations INTEGER NOT NULL CHECK (explorations BETWEEN 0 AND 2),
            note TEXT CHECK (note IS NULL OR length(note) <= 5000),
            assisted INTEGER, seconds_on_item REAL, removed INTEGER NOT NULL DEFAULT 0,
            created TEXT NOT NULL, updated TEXT NOT NULL, UNIQUE (annotator_id, item_id, campaign_id))"""
    )
    db.execute(
        """CREATE TABLE empathy_rating_history (
            id INTEGER PRIMARY KEY, rating_id INTEGER NOT NULL REFERENCES empathy_ratings(id),
            changed_by INTEGER NOT NULL REFERENCES annotators(id), changed_at TEXT NOT NULL, old TEXT, new TEXT NOT NULL)"""
    )
    db.execute("CREATE INDEX empathy_ratings_campaign ON empathy_ratings(campaign_id, annotator_id)")
    db.execute("CREATE INDEX empathy_rating_history_rating ON empathy_rating_history(rating_id)")


@migration
def m010_open_claims(db: sqlite_utils.Database) -> None:
    # the open claims of a campaign, read by each annotator's progress without a walk over every assignment
    db.execute("CREATE INDEX assignments_open ON assignments(campaign_id, done, expires)")


@migration
def m011_campaign_overlap(db: sqlite_utils.Database) -> None:
    # How a campaign's items overlap between annotators: "fill" each item to k before opening new ones, "spread" them
    # (least-rated first, what campaigns did before: existing ones keep it), or a "subset" that everyone rates with the
    # rest spread. The subset's items are marked; k does not apply to them.
    db.execute("ALTER TABLE campaigns ADD COLUMN overlap TEXT NOT NULL DEFAULT 'spread' CHECK (overlap IN ('fill', 'spread', 'subset'))")
    db.execute("ALTER TABLE campaign_items ADD COLUMN everyone INTEGER NOT NULL DEFAULT 0")
    # when a claimed item was last put on the annotator's screen: a rating's seconds on the item count from there,
    # not from the claim (which may come before sign-in or a reload)
    db.execute("ALTER TABLE assignments ADD COLUMN shown REAL")
    # the model's suggestion as an assisted campaign showed it (JSON), kept with the claim and copied into the rating
    db.execute("ALTER TABLE assignments ADD COLUMN suggestion TEXT")
    db.execute("ALTER TABLE ratings ADD COLUMN suggestion TEXT")
    db.execute("ALTER TABLE empathy_ratings ADD COLUMN suggestion TEXT")


ADJUDICATION_REASONS = ("ambiguous text", "guideline gap", "rater error", "other")
_APPEND_ONLY = ("audit_log", "adjudications", "releases", "release_items")


@migration
@rebuilds_tables
def m012_review_and_releases(db: sqlite_utils.Database) -> None:
    """The reviewer role, guideline versions, adjudications, releases and the append-only audit log."""
    _reviewer_role(db)
    _guideline_versions(db)
    _adjudications_and_releases(db)
    _audit_log(db)


def _reviewer_role(db: sqlite_utils.Database) -> None:
    # A reviewer role between annotator and admin: SQLite changes a CHECK by rebuilding the table (ids kept).
    db.execute(
        """CREATE TABLE annotators_new (
            id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE CHECK (length(trim(name)) > 0),
            role TEXT NOT NULL CHECK (role IN ('annotator', 'reviewer', 'admin')), password_hash TEXT, created TEXT NOT NULL,
            name_key TEXT)"""
    )
    db.execute(
        "INSERT INTO annotators_new (id, name, role, password_hash, created, name_key) "
        "SELECT id, name, role, password_hash, created, name_key FROM annotators"
    )
    db.execute("DROP TABLE annotators")
    db.execute("ALTER TABLE annotators_new RENAME TO annotators")
    db.execute("CREATE UNIQUE INDEX annotators_name_key ON annotators(name_key)")


def _guideline_versions(db: sqlite_utils.Database) -> None:
    # Guideline versions: editing a campaign's guidelines makes a new version; every rating names the version it was made under.
    db.execute(
        """CREATE TABLE guideline_versions (
            campaign_id INTEGER NOT NULL REFERENCES campaigns(id), version INTEGER NOT NULL, text TEXT NOT NULL,
            created TEXT NOT NULL, created_by TEXT, PRIMARY KEY (campaign_id, version))"""
    )
    db.execute("INSERT INTO guideline_versions SELECT id, 1, guidelines, created, created_by FROM campaigns")
    db.execute("ALTER TABLE campaigns ADD COLUMN guideline_version INTEGER NOT NULL DEFAULT 1")
    db.execute("ALTER TABLE ratings ADD COLUMN guideline_version INTEGER")
    db.execute("ALTER TABLE empathy_ratings ADD COLUMN guideline_version INTEGER")
    db.execute("UPDATE ratings SET guideline_version = 1")
    db.execute("UPDATE empathy_ratings SET guideline_version = 1")


def _adjudications_and_releases(db: sqlite_utils.Database) -> None:
    # Adjudication: per campaign, the disagreement that sends an item to review (JSON; NULL = the defaults), whether a
    # second reviewer must agree, whether reviewers see raters' names.
    db.execute("ALTER TABLE campaigns ADD COLUMN thresholds TEXT")
    db.execute("ALTER TABLE campaigns ADD COLUMN reviewers INTEGER NOT NULL DEFAULT 1 CHECK (reviewers IN (1, 2))")
    db.execute("ALTER TABLE campaigns ADD COLUMN show_rater_names INTEGER NOT NULL DEFAULT 0")
    reasons = ", ".join(f"'{r}'" for r in ADJUDICATION_REASONS)
    db.execute(
        f"""CREATE TABLE adjudications (
            id INTEGER PRIMARY KEY, campaign_id INTEGER NOT NULL REFERENCES campaigns(id), item_id TEXT NOT NULL REFERENCES items(id),
            reviewer_id INTEGER NOT NULL REFERENCES annotators(id), vals TEXT NOT NULL, reason TEXT NOT NULL CHECK (reason IN ({reasons})),
            note TEXT CHECK (note IS NULL OR length(note) <= 5000), replaced TEXT NOT NULL, guideline_version INTEGER,
            created TEXT NOT NULL)"""
    )
    db.execute("CREATE INDEX adjudications_item ON adjudications(campaign_id, item_id)")
    # Releases: immutable, content-hashed sets of consensus labels; a new release supersedes an old one, never edits it.
    db.execute(
        """CREATE TABLE releases (
            id TEXT PRIMARY KEY, name TEXT NOT NULL, created TEXT NOT NULL, created_by TEXT, campaigns TEXT NOT NULL,
            guideline_versions TEXT NOT NULL, method TEXT NOT NULL, content_hash TEXT NOT NULL, n_items INTEGER NOT NULL,
            supersedes TEXT REFERENCES releases(id), summary TEXT NOT NULL)"""
    )
    db.execute(
        """CREATE TABLE release_items (
            release_id TEXT NOT NULL REFERENCES releases(id), campaign_id INTEGER NOT NULL, item_id TEXT NOT NULL,
            labels TEXT NOT NULL, PRIMARY KEY (release_id, campaign_id, item_id))"""
    )


def _audit_log(db: sqlite_utils.Database) -> None:
    # The audit log: who did what, when. Append-only, held by the database itself: no UPDATE or DELETE of it (nor of
    # adjudications and releases) can succeed, whatever the caller.
    db.execute(
        """CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT, action TEXT NOT NULL, campaign_id INTEGER, item_id TEXT,
            detail TEXT)"""
    )
    db.execute("CREATE INDEX audit_log_at ON audit_log(at)")
    for table in _APPEND_ONLY:
        for verb in ("UPDATE", "DELETE"):
            db.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )
    # every change to a rating, whatever path made it, is a line of the log (its history row names who made it)
    for table, history in (("ratings", "rating_history"), ("empathy_ratings", "empathy_rating_history")):
        db.execute(
            f"""CREATE TRIGGER {history}_audit AFTER INSERT ON {history} BEGIN
                INSERT INTO audit_log (at, actor, action, campaign_id, item_id, detail)
                SELECT NEW.changed_at, (SELECT name FROM annotators WHERE id = NEW.changed_by),
                       CASE WHEN NEW.old IS NULL THEN 'rating created' WHEN NEW.new = '{{"undone": true}}' THEN 'rating undone'
                            ELSE 'rating changed' END,
                       r.campaign_id, r.item_id, json_object('kind', '{table}', 'rating_id', NEW.rating_id, 'old', json(NEW.old),
                                                             'new', json(NEW.new))
                FROM {table} r WHERE r.id = NEW.rating_id;
            END"""
        )
    # ratings of the past keep their history: their creation is in rating_history, so the log starts with it
    for table, history in (("ratings", "rating_history"), ("empathy_ratings", "empathy_rating_history")):
        db.execute(
            f"""INSERT INTO audit_log (at, actor, action, campaign_id, item_id, detail)
                SELECT h.changed_at, a.name, CASE WHEN h.old IS NULL THEN 'rating created' WHEN h.new = '{{"undone": true}}'
                       THEN 'rating undone' ELSE 'rating changed' END, r.campaign_id, r.item_id,
                       json_object('kind', '{table}', 'rating_id', h.rating_id, 'old', json(h.old), 'new', json(h.new))
                FROM {history} h JOIN {table} r ON r.id = h.rating_id JOIN annotators a ON a.id = h.changed_by ORDER BY h.id"""
        )


@migration
def m013_rater_quality(db: sqlite_utils.Database) -> None:
    # Qualification (JSON on the campaign; NULL = none): practice items with a reference answer, a pass rule, attempts.
    # Practice ratings live apart from the study's: they never reach agreement, releases or training.
    db.execute("ALTER TABLE campaigns ADD COLUMN qualification TEXT")
    db.execute(
        """CREATE TABLE practice_ratings (
            id INTEGER PRIMARY KEY, campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
            annotator_id INTEGER NOT NULL REFERENCES annotators(id), item_id TEXT NOT NULL, attempt INTEGER NOT NULL,
            vals TEXT NOT NULL, reference TEXT NOT NULL, agrees INTEGER NOT NULL, created TEXT NOT NULL,
            UNIQUE (campaign_id, annotator_id, item_id, attempt))"""
    )
    # Attention gates (JSON on the campaign: warn_after, pause_after, rushed_seconds, ...; NULL = none), and each
    # annotator's standing in a campaign: paused until an admin reinstates them.
    db.execute("ALTER TABLE campaigns ADD COLUMN attention TEXT")
    db.execute(
        """CREATE TABLE rater_standing (
            campaign_id INTEGER NOT NULL REFERENCES campaigns(id), annotator_id INTEGER NOT NULL REFERENCES annotators(id),
            paused INTEGER NOT NULL DEFAULT 0, warned INTEGER NOT NULL DEFAULT 0, misses_forgiven INTEGER NOT NULL DEFAULT 0,
            updated TEXT NOT NULL, PRIMARY KEY (campaign_id, annotator_id))"""
    )
    # A rater's ratings left out of the next releases of a campaign: recorded, never a deletion (append-only)
    db.execute(
        """CREATE TABLE rater_exclusions (
            id INTEGER PRIMARY KEY, campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
            annotator_id INTEGER NOT NULL REFERENCES annotators(id), by TEXT, reason TEXT NOT NULL, created TEXT NOT NULL)"""
    )
    for verb in ("UPDATE", "DELETE"):
        db.execute(
            f"CREATE TRIGGER rater_exclusions_no_{verb.lower()} BEFORE {verb} ON rater_exclusions "
            "BEGIN SELECT RAISE(ABORT, 'rater_exclusions is append-only'); END"
        )
