"""How many raters one studio holds: simulated raters through the real HTTP API, raised until save-and-next slows down.

The server is `empathy-studio serve` in its own process, on a database with a k = 3 response-empathy
campaign of 2,000 EPITOME pairs and one account per simulated rater. Each rater is a coroutine of
one `httpx.AsyncClient` (the load generator is one light process, so it does not eat the cores it
measures), speaking Gradio's HTTP routes with its own session: it signs in (`/sign_in`), opens the
campaign (`/switch_campaign`), then over and over thinks 5-15 s (uniform) and saves its rating, which
answers with the next item (`/submit_empathy_rating`). Steps of 25, 50, 100, 200 (and more with
`--raters`) raters: they join over 10 s, and their saves are measured from when all of them are in,
for `--seconds`; a step stops the climb when its p99 passes 500 ms or a call fails. Per step:
raters, saves per second, p50 / p95 / p99 of save-and-next, the server's CPU (its process's user +
system time over the step's wall time, in cores), errors, and p50 / p99 of joining (sign in and
open the campaign); at the end, items rated more than k times (must be 0). Seeded (`--seed`) for
the think times and the levels.

    python bench/capacity.py [--raters 25 50 100 200] [--seconds 60]

Writes bench/results/capacity.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
import numpy as np  # noqa: E402

from empathy_studio.services import COMMAND_LINE, CampaignRequest, Studio  # noqa: E402
from empathy_studio.settings import apply_privacy_env, load_settings  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
CAMPAIGN, K, ITEMS = "capacity", 3, 2000
P99_LIMIT_MS, TARGET_RATERS, TARGET_P99_MS = 500, 200, 300


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(folder: Path, raters: int) -> None:
    """The database: the campaign and one account per simulated rater (scrypt-hashed, as any account)."""
    settings = load_settings(db_path=folder / "db.sqlite", models_dir=folder / "models", persistent_dir=None, warm_predictions=False)
    studio = Studio(settings)
    studio.create_campaign(COMMAND_LINE, CampaignRequest(name=CAMPAIGN, kind="empathy", source="split", split="all", k=K, limit=ITEMS))
    studio.store.add_annotators([(f"r{i:03d}", "annotator", f"pw{i:03d}") for i in range(raters)])
    studio.close()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def call(client: httpx.AsyncClient, api: str, data: list, session: str) -> list:
    """One event through Gradio's HTTP routes: POST the call, then read its stream until it completes."""
    r = await client.post(f"/gradio_api/call/{api}", json={"data": data, "session_hash": session})
    r.raise_for_status()
    event = r.json()["event_id"]
    async with client.stream("GET", f"/gradio_api/call/{api}/{event}") as stream:
        kind = None
        async for line in stream.aiter_lines():
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:") and kind in ("complete", "error"):
                payload = json.loads(line[5:].strip() or "null")
                if kind == "error":
                    raise RuntimeError(f"{api}: {payload}")
                return payload
    raise RuntimeError(f"{api}: the stream ended without an answer")


async def rater(
    client: httpx.AsyncClient, i: int, stop_at: list[float], latencies: list, errors: list, rng: random.Random, joined: list
) -> None:
    session = f"bench-{i:03d}-{rng.random():.8f}"
    try:
        t0 = time.perf_counter()
        out = await call(client, "sign_in", [f"r{i:03d}", f"pw{i:03d}", {}], session)
        browser = out[3]
        await call(client, "switch_campaign", [CAMPAIGN, browser], session)
        joined.append((time.monotonic(), (time.perf_counter() - t0) * 1000))
        while True:
            await asyncio.sleep(rng.uniform(5, 15))
            if time.monotonic() >= stop_at[0]:
                return
            t0 = time.perf_counter()
            await call(client, "submit_empathy_rating", [CAMPAIGN, *(str(rng.randint(0, 2)) for _ in range(3)), "", browser], session)
            latencies.append((time.monotonic(), (time.perf_counter() - t0) * 1000))
    except Exception as exc:  # noqa: BLE001 - a failed call is a result of the step, counted and shown
        errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")


async def step(url: str, first: int, n: int, seconds: float, seed: int) -> dict:
    """`n` raters (accounts `first` .. `first + n - 1`), started over 10 s; saves are measured once every rater is in (signed
    in, campaign open), for `seconds`. Signing in and opening the campaign is measured on its own: the password hash and
    Gradio's per-session state make it the expensive call, and a burst of them queues the saves behind it."""
    latencies: list[tuple[float, float]] = []
    joined: list[tuple[float, float]] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=2 * n + 10, max_keepalive_connections=2 * n + 10)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        stop_at = [math.inf]
        tasks = []
        for j in range(n):
            rng = random.Random(seed * 100_000 + first + j)
            tasks.append(asyncio.create_task(rater(client, first + j, stop_at, latencies, errors, rng, joined)))
            await asyncio.sleep(10 / n)
        while len(joined) + len(errors) < n:  # every rater in (or failed)
            await asyncio.sleep(0.2)
        start = time.monotonic()
        stop_at[0] = start + seconds
        await asyncio.gather(*tasks)
    measured = [ms for at, ms in latencies if at >= start]
    return {"latencies_ms": measured, "join_ms": [ms for _, ms in joined], "errors": errors, "window_s": seconds}


def stored_ratings(db: Path) -> int:
    con = sqlite3.connect(db)
    try:
        return con.execute(
            "SELECT count(*) FROM empathy_ratings r JOIN campaigns c ON c.id = r.campaign_id WHERE c.name = ? AND r.removed = 0", [CAMPAIGN]
        ).fetchone()[0]
    finally:
        con.close()


def items_past_k(db: Path) -> int:
    con = sqlite3.connect(db)
    try:
        cid = con.execute("SELECT id FROM campaigns WHERE name = ?", [CAMPAIGN]).fetchone()[0]
        return con.execute(
            "SELECT count(*) FROM (SELECT item_id FROM empathy_ratings WHERE campaign_id = ? AND removed = 0 "
            "GROUP BY item_id HAVING count(*) > ?)",
            [cid, K],
        ).fetchone()[0]
    finally:
        con.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raters", type=int, nargs="+", default=[25, 50, 100, 200])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    apply_privacy_env()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        prepare(folder, sum(args.raters))
        port = free_port()
        env = {**os.environ, "EMPATHY_STUDIO_WARM_PREDICTIONS": "false", "EMPATHY_STUDIO_BUILD_STARTER": "false"}
        cmd = [
            sys.executable,
            "-m",
            "empathy_studio.cli",
            "serve",
            "--port",
            str(port),
            "--db",
            str(folder / "db.sqlite"),
            "--models-dir",
            str(folder / "models"),
        ]
        server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{url}/gradio_api/info", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.5)
            first = 0
            for n in args.raters:
                cpu0, t0 = cpu_seconds(server.pid), time.monotonic()
                res = asyncio.run(step(url, first, n, args.seconds, args.seed))
                cpu = (cpu_seconds(server.pid) - cpu0) / (time.monotonic() - t0)
                first += n
                lat = np.array(res["latencies_ms"]) if res["latencies_ms"] else np.array([np.nan])
                row = {
                    "raters": n,
                    "saves": len(res["latencies_ms"]),
                    "saves_per_s": round(len(res["latencies_ms"]) / res["window_s"], 2),
                    "p50_ms": round(float(np.nanpercentile(lat, 50)), 1),
                    "p95_ms": round(float(np.nanpercentile(lat, 95)), 1),
                    "p99_ms": round(float(np.nanpercentile(lat, 99)), 1),
                    "server_cpu_cores": round(cpu, 2),
                    "join_p50_ms": round(float(np.percentile(res["join_ms"], 50)), 1) if res["join_ms"] else None,
                    "join_p99_ms": round(float(np.percentile(res["join_ms"], 99)), 1) if res["join_ms"] else None,
                    "errors": len(res["errors"]),
                    "first_errors": res["errors"][:3],
                }
                rows.append(row)
                print(row, file=sys.stderr)
                if row["p99_ms"] > P99_LIMIT_MS or row["errors"]:
                    break
        finally:
            server.terminate()
            server.wait(30)
        past_k, stored = items_past_k(folder / "db.sqlite"), stored_ratings(folder / "db.sqlite")
    met = any(r["raters"] >= TARGET_RATERS and r["p99_ms"] < TARGET_P99_MS and not r["errors"] for r in rows)
    out = {
        "campaign": {"kind": "empathy", "items": ITEMS, "k": K},
        "think_s": [5, 15],
        "seconds_per_step": args.seconds,
        "seed": args.seed,
        "steps": rows,
        "items_past_k": past_k,
        "ratings_stored": stored,
        "target": f"{TARGET_RATERS} raters at p99 under {TARGET_P99_MS} ms",
        "target_met": met,
        "cpus": os.cpu_count(),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "capacity.json").write_text(json.dumps(out, indent=2))
    lines = [
        "# Capacity: simulated raters through the HTTP API",
        "",
        f"Command: `python bench/capacity.py --raters {' '.join(map(str, args.raters))} --seconds {args.seconds:g}` ({os.cpu_count()} CPU "
        f"cores; server and load generator on the same machine). A k = {K} response-empathy campaign of {ITEMS:,} EPITOME pairs; each "
        "rater thinks 5-15 s, then saves and gets its next item in one call. The raters of a step sign in and open the campaign "
        "over 10 s; saves are measured from when every one of them is in, for the step's seconds.",
        "",
        "| raters | saves/s | p50 ms | p95 ms | p99 ms | server CPU (cores) | errors | sign in + open, p50 / p99 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['raters']} | {r['saves_per_s']} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} | {r['server_cpu_cores']} | "
            f"{r['errors']} | {r['join_p50_ms']} / {r['join_p99_ms']} |"
        )
    lines += [
        "",
        f"Ratings stored: {stored:,} (every save answered, warm-up included). Items rated more than k times: {past_k}. Target "
        f"({out['target']}): {'met' if met else 'not met'}.",
        "",
    ]
    (RESULTS / "capacity.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0 if past_k == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
