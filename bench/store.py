"""Store benchmark: rating-submit latency under concurrent writers, "next item" latency as a campaign fills, overlap policies,
agreement at scale.

"Next item" is a campaign claim (k = 3 over 2,000 items, one IMMEDIATE transaction
per claim) at 1, 8 and 32 concurrent annotators, each claiming and rating in a
loop; its baseline in the same run is the free queue of the default campaign
(the annotator's unrated items in a per-annotator random order), as before campaigns.

Baseline in the same run: a naive writer on a plain sqlite3 connection (rollback
journal, deferred transactions, no busy timeout), the setup behind the
"database is locked" reports in other annotation tools. Writes JSON and
markdown to bench/results/.

    python bench/store.py [--ratings-per-writer 200]
"""

from __future__ import annotations

import argparse
import json
import platform
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from empathy_studio.store import Store  # noqa: E402
from empathy_studio.study.agreement import agreement_report  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def _run_threads(work, writers: int) -> float:
    """Run `work(w)` in one thread per writer; the wall time of the whole."""
    t0 = time.perf_counter()
    threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


N_ITEMS = 2000


def _seed(store: Store, writers: int) -> None:
    store.upsert_items({"id": f"i{k}", "source": "bench", "text": "t", "split": "train"} for k in range(N_ITEMS))
    for w in range(writers):
        store.add_annotator(f"w{w}")


def ours(writers: int, per_writer: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.sqlite")
        _seed(store, writers)
        lat: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()

        def work(w: int) -> None:
            s = store  # one store per server process, as in the app: a connection per thread
            mine = []
            try:
                for k in range(per_writer):
                    t0 = time.perf_counter()
                    s.rate(f"w{w}", f"i{(w * 37 + k) % N_ITEMS}", 1 + k % 5, 1 + (k * 3) % 5)
                    mine.append(time.perf_counter() - t0)
            except Exception as exc:  # noqa: BLE001
                errors.append(repr(exc))
            with lock:
                lat.extend(mine)

        wall = _run_threads(work, writers)
        stored = store.count_ratings()
        store.close()
    ms = np.array(lat) * 1000
    return {
        "writers": writers,
        "ratings": len(lat),
        "stored": stored,
        "errors": len(errors),
        "wall_s": round(wall, 2),
        "ratings_per_s": round(len(lat) / wall, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
    }


def next_item(annotators: int, per_annotator: int, campaign: bool, overlap: str = "fill") -> dict:
    """Latency of asking for the next item, then rating it, with `annotators` doing so at once."""
    from empathy_studio.annotation import Annotation
    from empathy_studio.registry import Registry
    from empathy_studio.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.sqlite")
        _seed(store, annotators)
        ann = Annotation(store, Settings(), Registry(Path(tmp) / "models"))
        cid = store.create_campaign("bench", [(f"i{k}", "item") for k in range(N_ITEMS)], k=3, overlap=overlap) if campaign else None
        name = "bench" if campaign else None
        lat: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()

        def work(w: int) -> None:
            who = store.annotator(f"w{w}")
            mine = []
            try:
                for k in range(per_annotator):
                    t0 = time.perf_counter()
                    item = ann.next_in(who, name)
                    mine.append(time.perf_counter() - t0)
                    if item is None:
                        break
                    store.rate(who.name, item, 1 + k % 5, 2, campaign_id=cid)
            except Exception as exc:  # noqa: BLE001
                errors.append(repr(exc))
            with lock:
                lat.extend(mine)

        wall = _run_threads(work, annotators)
        over_k = (
            store.db.execute(
                "SELECT count(*) FROM (SELECT item_id FROM ratings WHERE campaign_id = ? GROUP BY item_id HAVING count(*) > 3)", [cid]
            ).fetchone()[0]
            if campaign
            else None
        )
        store.close()
    ms = np.array(lat) * 1000
    return {
        "annotators": annotators,
        "requests": len(lat),
        "errors": len(errors),
        "items_over_k": over_k,
        "wall_s": round(wall, 2),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
    }


ESCONV_ITEMS = 1284  # ESConv's labelled dialogues: a campaign over all of them at k = 3
# What each Annotate response counted before: per item, its ratings (team) and the annotator's own (mine); the baseline.
BEFORE_TEAM = (
    "SELECT count(*) FROM campaign_items ci WHERE ci.campaign_id = ? AND ci.kind = 'item' AND (SELECT count(*) FROM ratings r "
    "WHERE r.campaign_id = ci.campaign_id AND r.item_id = ci.item_id AND r.removed = 0) >= ?"
)
BEFORE_MINE = (
    "SELECT count(*) FROM campaign_items ci WHERE ci.campaign_id = ? AND ci.item_id NOT IN (SELECT item_id FROM ratings WHERE "
    "annotator_id = ? AND campaign_id = ci.campaign_id AND removed = 0) AND (ci.kind != 'item' OR (SELECT count(*) FROM assignments a "
    "WHERE a.campaign_id = ci.campaign_id AND a.item_id = ci.item_id AND a.annotator_id != ? AND (a.done = 1 OR a.expires > ?)) < ?)"
)


def as_it_fills(items: int = ESCONV_ITEMS, k: int = 3, annotators: int = 30, samples: int = 40) -> list[dict]:
    """Next-item and progress latency of one annotator as a k = 3 campaign of `items` fills from empty to complete.

    Progress is what every Annotate response runs (`Annotation.progress`: the annotator's and the team's); the
    baseline, timed in the same run on the same database, is the per-item count that progress ran before.
    """
    from empathy_studio.annotation import Annotation
    from empathy_studio.registry import Registry
    from empathy_studio.settings import Settings

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "fill.sqlite")
        store.upsert_items({"id": f"i{j}", "source": "bench", "text": "t", "split": "train"} for j in range(items))
        names = [f"w{w}" for w in range(annotators)]
        store.add_annotators([(n, "annotator", None) for n in names])
        ann = Annotation(store, Settings(), Registry(Path(tmp) / "models"))
        cid = store.create_campaign("fill", [(f"i{j}", "item") for j in range(items)], k=k)
        probe = store.annotator("probe") or store.add_annotator("probe")  # asks and never rates: its view stays comparable
        rated = 0
        for step in range(k + 1):
            if step:  # one more rating per item, each item from another annotator (round robin, never twice the same)
                for j in range(items):
                    store.rate(names[(j + step * 7) % annotators], f"i{j}", 3, 3, campaign_id=cid)
                    rated += 1

            def timed(fn) -> list[float]:
                t = []
                for _ in range(samples):
                    t0 = time.perf_counter()
                    fn()
                    t.append((time.perf_counter() - t0) * 1000)
                return t

            def next_and_back() -> None:
                item = ann.next_in(probe, "fill")
                if item is not None:
                    store.release(cid, probe.id, item)

            nxt = timed(next_and_back)
            prog = timed(lambda: ann.progress(probe, "fill"))
            before = timed(
                lambda: (
                    store.db.execute(BEFORE_TEAM, [cid, k]).fetchone(),
                    store.db.execute(BEFORE_MINE, [cid, store.annotator("w0").id, store.annotator("w0").id, time.time(), k]).fetchone(),
                )
            )
            out.append(
                {
                    "ratings": rated,
                    "complete_items": store.campaign_progress(cid, per_annotator=False)["complete"],
                    "next_item_p50_ms": round(float(np.percentile(nxt, 50)), 2),
                    "next_item_p99_ms": round(float(np.percentile(nxt, 99)), 2),
                    "progress_p50_ms": round(float(np.percentile(prog, 50)), 2),
                    "progress_p99_ms": round(float(np.percentile(prog, 99)), 2),
                    "before_progress_p50_ms": round(float(np.percentile(before, 50)), 2),
                }
            )
        store.close()
    return out


def overlap_policies(items: int = 200, checkpoints: tuple[int, ...] = (10, 20, 40, 80, 160)) -> list[dict]:
    """Share of items complete (k ratings) after N ratings in all, for each overlap policy: a k = 2 pilot of two
    annotators taking turns, and k = 3 with five; the subset policy has everyone rate the first 10 items."""
    out = []
    for k, annotators in ((2, 2), (3, 5)):
        for policy in ("fill", "spread", "subset"):
            with tempfile.TemporaryDirectory() as tmp:
                store = Store(Path(tmp) / "overlap.sqlite")
                store.upsert_items({"id": f"i{j}", "source": "bench", "text": "t", "split": "train"} for j in range(items))
                names = [f"a{w}" for w in range(annotators)]
                store.add_annotators([(n, "annotator", None) for n in names])
                who = [store.annotator(n) for n in names]
                cid = store.create_campaign(
                    "o", [(f"i{j}", "item") for j in range(items)], k=k, overlap=policy, subset=10 if policy == "subset" else 0
                )
                row = {"k": k, "annotators": annotators, "policy": policy}
                total = 0
                while total < max(checkpoints):
                    w = who[total % annotators]
                    item = store.claim(cid, w.id)
                    if item is None:
                        break
                    store.rate(w.name, item, 3, 3, campaign_id=cid)
                    total += 1
                    if total in checkpoints:
                        row[f"complete_after_{total}"] = round(store.campaign_progress(cid, per_annotator=False)["complete"] / items, 3)
                store.close()
            out.append(row)
    return out


def naive(writers: int, per_writer: int) -> dict:
    """Plain sqlite3 defaults: one connection per thread, rollback journal, a read then a write in one deferred transaction."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "naive.sqlite"
        con = sqlite3.connect(path)
        con.execute("CREATE TABLE ratings (annotator TEXT, item TEXT, initial INT, final INT, UNIQUE(annotator, item))")
        con.commit()
        con.close()
        lat: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()

        def work(w: int) -> None:
            c = sqlite3.connect(path, timeout=0.0)
            mine = []
            for k in range(per_writer):
                t0 = time.perf_counter()
                try:
                    c.execute("SELECT count(*) FROM ratings WHERE annotator = ?", (f"w{w}",)).fetchone()
                    c.execute("INSERT OR REPLACE INTO ratings VALUES (?, ?, ?, ?)", (f"w{w}", f"i{k}", 1 + k % 5, 1))
                    c.commit()
                except sqlite3.OperationalError as exc:
                    c.rollback()
                    errors.append(str(exc))
                mine.append(time.perf_counter() - t0)
            c.close()
            with lock:
                lat.extend(mine)

        wall = _run_threads(work, writers)
        con = sqlite3.connect(path)
        stored = con.execute("SELECT count(*) FROM ratings").fetchone()[0]
        con.close()
    ms = np.array(lat) * 1000
    return {
        "writers": writers,
        "attempts": len(lat),
        "stored": stored,
        "errors": len(errors),
        "locked_errors": sum("locked" in e for e in errors),
        "wall_s": round(wall, 2),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
    }


def agreement_at_scale(annotators: int = 500, items: int = 2000, per_annotator: int = 200, n_boot: int = 200) -> dict:
    rng = np.random.default_rng(0)
    truth = rng.integers(1, 6, items)
    table = []
    for a in range(annotators):
        for it in rng.choice(items, per_annotator, replace=False):
            noisy = lambda v: int(np.clip(v + rng.integers(-1, 2), 1, 5))  # noqa: E731
            table.append((f"a{a}", f"i{it}", noisy(truth[it]), noisy(max(1, truth[it] - 2)), None))
    gold = {
        f"i{k}": {"emotion": ["anger", "anxiety", "depression"][k % 3], "initial": float(truth[k]), "final": float(max(1, truth[k] - 2))}
        for k in range(items)
    }
    timings = {}
    for boot in (0, n_boot):
        t0 = time.perf_counter()
        rep = agreement_report(table, gold, n_boot=boot)
        timings[boot] = time.perf_counter() - t0
    return {
        "ratings": len(table),
        "annotators": annotators,
        "items": items,
        "seconds_no_bootstrap": round(timings[0], 2),
        f"seconds_with_{n_boot}_bootstrap": round(timings[n_boot], 2),
        "alpha_interval_initial": round(rep["initial"]["alpha_interval"], 4),
        "alpha_ci95": [round(v, 4) for v in rep["initial"]["alpha_interval_ci95"]],
        "pairs_qwk": rep["initial"]["qwk"]["pairs"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ratings-per-writer", type=int, default=200)
    ap.add_argument("--claims-per-annotator", type=int, default=50)
    args = ap.parse_args()
    out = {
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count(), "sqlite": sqlite3.sqlite_version},
        "ours": [ours(w, args.ratings_per_writer) for w in (1, 8, 32)],
        "baseline_naive_sqlite": [naive(w, args.ratings_per_writer) for w in (1, 8, 32)],
        "next_item_campaign": [next_item(a, args.claims_per_annotator, campaign=True) for a in (1, 8, 32)],
        "next_item_campaign_spread": [next_item(a, args.claims_per_annotator, campaign=True, overlap="spread") for a in (1, 8, 32)],
        "next_item_free_queue": [next_item(a, args.claims_per_annotator, campaign=False) for a in (1, 8, 32)],
        "as_it_fills": as_it_fills(),
        "overlap_policies": overlap_policies(),
        "agreement": agreement_at_scale(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "store.json").write_text(json.dumps(out, indent=2))
    lines = [
        "# Store benchmark",
        "",
        "Command: `python bench/store.py` "
        f"({args.ratings_per_writer} ratings per writer; {out['machine']['cpus']} CPUs, SQLite {out['machine']['sqlite']}).",
        "",
        "## Rating submit (Empathy Studio store: WAL, busy_timeout, BEGIN IMMEDIATE)",
        "",
        "| writers | ratings | stored | errors | p50 ms | p95 ms | p99 ms | ratings/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['writers']} | {r['ratings']} | {r['stored']} | {r['errors']} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} | "
        f"{r['ratings_per_s']} |"
        for r in out["ours"]
    ]
    lines += [
        "",
        "## Baseline in the same run: plain sqlite3 defaults (rollback journal, deferred transactions, no busy timeout)",
        "",
        "| writers | attempts | stored | 'database is locked' | p50 ms | p99 ms |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['writers']} | {r['attempts']} | {r['stored']} | {r['locked_errors']} | {r['p50_ms']} | {r['p99_ms']} |"
        for r in out["baseline_naive_sqlite"]
    ]
    lines += [
        "",
        f"## Next item at 1, 8 and 32 annotators ({args.claims_per_annotator} per annotator, each claimed then rated, back to back)",
        "",
        "A k = 3 campaign of 2,000 items. fill (the default) chooses and claims in one write transaction, so annotators who ask "
        "at once queue for the lock instead of colliding on the same items in progress; spread chooses without the lock and "
        "claims optimistically.",
        "",
        "| annotators | fill: claim p50 / p95 / p99 ms | spread: claim p50 / p95 / p99 ms | items past k (fill, spread) | "
        "free queue (before campaigns) p50 / p95 / p99 ms |",
        "|---|---|---|---|---|",
    ]
    for c, sp, f in zip(out["next_item_campaign"], out["next_item_campaign_spread"], out["next_item_free_queue"]):
        lines.append(
            f"| {c['annotators']} | {c['p50_ms']} / {c['p95_ms']} / {c['p99_ms']} | {sp['p50_ms']} / {sp['p95_ms']} / {sp['p99_ms']} | "
            f"{c['items_over_k']}, {sp['items_over_k']} | {f['p50_ms']} / {f['p95_ms']} / {f['p99_ms']} |"
        )
    p99, p99s = out["next_item_campaign"][-1]["p99_ms"], out["next_item_campaign_spread"][-1]["p99_ms"]
    lines += [
        "",
        f"Target: p99 < 50 ms at 32 annotators asking back to back: fill {'met' if p99 < 50 else 'not met'} ({p99} ms), "
        f"spread {'met' if p99s < 50 else 'not met'} ({p99s} ms).",
    ]
    fill = out["as_it_fills"]
    lines += [
        "",
        f"## Next item and progress as a k = 3 campaign of {ESCONV_ITEMS:,} items fills (ESConv at k = 3)",
        "",
        "One annotator asks for the next item and reads progress (the team's and their own, as every Annotate response does), "
        "40 times at each fill level. Baseline in the same run: the per-item count progress ran before.",
        "",
        "| ratings | items complete | next item p50 / p99 ms | progress p50 / p99 ms | progress before, p50 ms |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['ratings']:,} | {r['complete_items']:,} | {r['next_item_p50_ms']} / {r['next_item_p99_ms']} | "
        f"{r['progress_p50_ms']} / {r['progress_p99_ms']} | {r['before_progress_p50_ms']} |"
        for r in fill
    ]
    # growth: the slowest fill level against the empty campaign (a complete one answers "nothing left", faster still)
    worst = {key: max(r[key] for r in fill) / max(fill[0][key], 1e-3) for key in ("next_item_p50_ms", "progress_p50_ms")}
    out["fill_ratio"] = {key: round(v, 2) for key, v in worst.items()}
    lines += [
        "",
        f"Target: flat within 2x from empty to complete: next item {worst['next_item_p50_ms']:.2f}x, progress "
        f"{worst['progress_p50_ms']:.2f}x ({'met' if max(worst.values()) <= 2 else 'not met'}); the count before grew "
        f"{fill[-1]['before_progress_p50_ms'] / max(fill[0]['before_progress_p50_ms'], 1e-3):.0f}x.",
    ]
    checkpoints = sorted(int(key.rsplit("_", 1)[1]) for key in out["overlap_policies"][0] if key.startswith("complete_after_"))
    lines += [
        "",
        "## Overlap policies: the share of items with their k ratings after N ratings in all",
        "",
        "200 items; annotators take turns, each asking for the next item and rating it. fill: each item gets its k ratings "
        "before new ones open (the default for new campaigns); spread: least-rated first (what campaigns did before); subset: "
        "everyone rates the first 10 items, the rest spread.",
        "",
        "| k | annotators | policy | " + " | ".join(f"after {n}" for n in checkpoints) + " |",
        "|---|---|---|" + "---|" * len(checkpoints),
    ]
    lines += [
        f"| {r['k']} | {r['annotators']} | {r['policy']} | "
        + " | ".join(f"{r.get(f'complete_after_{n}', '–')}" for n in checkpoints)
        + " |"
        for r in out["overlap_policies"]
    ]
    (RESULTS / "store.json").write_text(json.dumps(out, indent=2))
    a = out["agreement"]
    lines += [
        "",
        f"## Agreement over {a['ratings']:,} ratings ({a['annotators']} annotators, {a['items']:,} items)",
        "",
        f"- without bootstrap: {a['seconds_no_bootstrap']} s (alpha, ICC, {a['pairs_qwk']:,} pairwise QWK, per annotator, per emotion)",
        f"- with the 200-resample bootstrap CI of alpha: {a['seconds_with_200_bootstrap']} s",
        f"- alpha (interval, initial) {a['alpha_interval_initial']}, 95% CI {a['alpha_ci95']}",
        "",
    ]
    (RESULTS / "store.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
