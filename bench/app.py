"""The studio against a live server: first page, first prediction, submit latency under 32 users, Analyze, idle CPU.

Starts `empathy-studio serve` on a free loopback port with a fresh database and
32 annotator accounts, drives it with gradio_client, and stops it. Submit latency
is measured with every user submitting back to back (the saturating case), and
with a think time between submits. Baselines in the same run: gradio_client with
its default settings, one user alone, the same rating written straight through
the store (what the HTTP path adds), and Analyze before its predictions are cached.

    python bench/app.py [--model minilm-quick] [--users 32] [--ratings 10] [--think 2] [--models-dir DIR] [--analyze-only]

Analyze for a freshly published model: a copy of `--model` is published into the running server's
models folder under a new name and analysed at once (cold: its predictions computed on request), and
another copy is published and analysed on every split once the background warmer has cached it (warm).
`--analyze-only` runs that part alone.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="minilm-quick", help="registry name used for predictions and Analyze")
    ap.add_argument("--models-dir", default=str(ROOT / "models"), help="the server's models folder (holds --model)")
    ap.add_argument("--analyze-only", action="store_true", help="only the cold and warm Analyze of a freshly published model")
    ap.add_argument("--users", type=int, default=32)
    ap.add_argument("--ratings", type=int, default=10, help="ratings per user")
    ap.add_argument("--think", type=float, default=2.0, help="mean seconds a user waits between submits, in the think-time run")
    args = ap.parse_args()
    from gradio_client import Client

    tmp = Path(tempfile.mkdtemp(prefix="es-bench-app-"))
    port = free_port()
    auth = [a for u in range(args.users) for a in ("--auth", f"u{u}:pw{u}")]
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_OFFLINE": "1"}
    t0 = time.perf_counter()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "empathy_studio.cli",
            "serve",
            "--port",
            str(port),
            "--db",
            str(tmp / "studio.sqlite"),
            "--models-dir",
            args.models_dir,
            *auth,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        while True:
            try:
                with urllib.request.urlopen(url, timeout=1) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                if server.poll() is not None or time.perf_counter() - t0 > 120:
                    sys.exit("the server did not come up")
                time.sleep(0.1)
        first_page = time.perf_counter() - t0

        client = Client(url, verbose=False)
        t1 = time.perf_counter()
        client.predict(args.model, "I can't sleep since I lost my job and I feel like a failure.", api_name="/predict_text")
        first_prediction = time.perf_counter() - t1

        published = publish_and_analyze(client, Path(args.models_dir), args.model, tmp / "studio.sqlite")
        if args.analyze_only:
            write_published(published, args)
            return

        solo = Client(url, verbose=False, ssl_verify=False)  # baseline: one user alone, the same calls
        solo.predict("u0", "pw0", {}, api_name="/sign_in")
        solo.predict({}, api_name="/next_item")
        single = []
        for k in range(20):
            s = time.perf_counter()
            solo.predict("default", str(1 + k % 5), "2", "", "", "3", "", {}, api_name="/submit_rating")
            single.append((time.perf_counter() - s) * 1000)
        solo.close()

        def load(users: int, think_s: float, ssl_verify: bool) -> dict:
            """`users` threads, each signed in, submitting `args.ratings` ratings with an exponential think time between."""
            lat: list[float] = []
            errors: list[str] = []
            lock = threading.Lock()

            def user(u: int) -> None:
                rng = np.random.default_rng(u)
                c = Client(url, verbose=False, ssl_verify=ssl_verify)
                c.predict(f"u{u}", f"pw{u}", {}, api_name="/sign_in")
                c.predict({}, api_name="/next_item")
                mine = []
                for k in range(args.ratings):
                    if think_s:
                        time.sleep(rng.exponential(think_s))
                    s = time.perf_counter()
                    try:
                        c.predict("default", str(1 + k % 5), str(1 + (k + u) % 5), "", "", "3", "", {}, api_name="/submit_rating")
                    except Exception as exc:  # noqa: BLE001
                        with lock:
                            errors.append(repr(exc))
                    mine.append((time.perf_counter() - s) * 1000)
                c.close()
                with lock:
                    lat.extend(mine)

            threads = [threading.Thread(target=user, args=(u,)) for u in range(users)]
            t2 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return {
                "think_s": think_s,
                "ssl_verify": ssl_verify,
                "p50": pct(lat, 50),
                "p95": pct(lat, 95),
                "p99": pct(lat, 99),
                "submits": len(lat),
                "errors": len(errors),
                "wall_s": round(time.perf_counter() - t2, 1),
            }

        # gradio_client builds a new httpx client, and so loads the CA bundle, for every request, even on
        # plain http: about 0.12 s of client CPU per submit, which 32 clients on these 2 cores pay too.
        # The headline runs use ssl_verify=False (nothing is verified on http anyway); the default is the baseline.
        scenarios = {
            "no think time, gradio_client defaults (baseline)": load(args.users, 0.0, True),
            "no think time": load(args.users, 0.0, False),
            f"think time {args.think:g} s (exponential)": load(args.users, args.think, False),
        }
        submits = sum(v["submits"] for v in scenarios.values()) + len(single)

        from empathy_studio.store import Store

        store = Store(tmp / "studio.sqlite")
        stored = store.count_ratings()
        direct = []
        for k in range(200):
            s = time.perf_counter()
            store.rate("u0", store.item_ids()[500 + k], 3, 2)
            direct.append((time.perf_counter() - s) * 1000)
        store.close()

        analyze = []
        for _ in range(2):
            s = time.perf_counter()
            client.predict(args.model, "(none)", "esconv", "test", False, api_name="/analyze")
            analyze.append(time.perf_counter() - s)

        client.close()
        time.sleep(5)
        c0, w0 = cpu_seconds(server.pid), time.perf_counter()
        time.sleep(30)
        idle = (cpu_seconds(server.pid) - c0) / (time.perf_counter() - w0)
    finally:
        server.terminate()
        server.wait(timeout=30)

    head = scenarios["no think time"]
    out = {
        "model": args.model,
        "users": args.users,
        "ratings_per_user": args.ratings,
        "first_page_s": round(first_page, 2),
        "first_prediction_s": round(first_prediction, 2),
        "submit_ms": {k: head[k] for k in ("p50", "p95", "p99")},
        "scenarios": scenarios,
        "submits": submits,
        "stored": stored,
        "errors": sum(v["errors"] for v in scenarios.values()),
        "direct_store_ms": {"p50": pct(direct, 50), "p99": pct(direct, 99)},
        "single_user_submit_ms": {"p50": pct(single, 50), "p99": pct(single, 99)},
        "analyze_test_cold_s": round(analyze[0], 2),
        "analyze_test_cached_s": round(analyze[1], 2),
        "idle_cpu_percent_of_one_core": round(100 * idle, 2),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "app.json").write_text(json.dumps(out, indent=2))
    lines = [
        "# The studio against a live server",
        "",
        f"Command: `python bench/app.py --model {args.model} --users {args.users} --ratings {args.ratings} --think {args.think:g}` "
        "(server and clients on one 2-core machine).",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| time to first page (process start to HTTP 200) | {out['first_page_s']} s | page within 10 s |",
        f"| time to first prediction (model loads lazily) | {out['first_prediction_s']} s | |",
    ]
    for name, v in scenarios.items():
        target = "p99 < 200 ms" if name == "no think time" else ""
        lines.append(
            f"| rating submit, {args.users} concurrent gradio_client users, {name}: p50 / p95 / p99 | "
            f"{v['p50']} / {v['p95']} / {v['p99']} ms | {target} |"
        )
    lines += [
        f"| baseline: one user alone, submit p50 / p99 | {out['single_user_submit_ms']['p50']} / {out['single_user_submit_ms']['p99']} ms "
        "| |",
        f"| baseline: the same write straight through the store, p50 / p99 | {out['direct_store_ms']['p50']} / "
        f"{out['direct_store_ms']['p99']} ms | |",
        f"| ratings stored / submitted (errors) | {out['stored']} / {out['submits']} ({out['errors']}) | all |",
        f"| Analyze, test split, cold (predictions computed) | {out['analyze_test_cold_s']} s | |",
        f"| Analyze, test split, cached | {out['analyze_test_cached_s']} s | < 2 s |",
        f"| idle server CPU | {out['idle_cpu_percent_of_one_core']}% of one core | < 3% |",
        "",
    ]
    lines += published_lines(published)
    (RESULTS / "app.md").write_text("\n".join(lines))
    print("\n".join(lines))


def publish_and_analyze(client, models_dir: Path, source: str, db: Path) -> dict:
    """Publish copies of `source` into the live server's models folder: Analyze one at once (cold), the other once warmed."""
    import shutil

    from empathy_studio.data import labelled
    from empathy_studio.settings import load_settings
    from empathy_studio.sources import DataSources
    from empathy_studio.store import Store

    stamp = os.getpid()
    cold, warm = f"bench-cold-{stamp}", f"bench-warm-{stamp}"
    out: dict = {}
    try:
        shutil.copytree(models_dir / source, models_dir / cold)
        s = time.perf_counter()
        client.predict(cold, "(none)", "esconv", "test", False, api_name="/analyze")
        out["cold_test_s"] = round(time.perf_counter() - s, 2)
        store = Store(db)
        # the cold copy's test split is cached now: wait for the warmer to finish it, so the warm copy is timed alone
        t0 = time.perf_counter()
        shutil.copytree(models_dir / source, models_dir / warm)
        n = len(labelled(DataSources.from_settings(load_settings()).esconv.dialogues))
        while len(store.cached_hashes(warm)) < n or len(store.cached_hashes(cold)) < n:
            if time.perf_counter() - t0 > 900:
                raise SystemExit("the warmer did not cache the published model within 15 minutes")
            time.sleep(1)
        out["warmed_after_s"] = round(time.perf_counter() - t0, 1)
        store.close()
        for split in ("test", "val", "train", "all"):
            s = time.perf_counter()
            client.predict(warm, "(none)", "esconv", split, False, api_name="/analyze")
            out[f"warm_{split}_s"] = round(time.perf_counter() - s, 2)
    finally:
        for name in (cold, warm):
            shutil.rmtree(models_dir / name, ignore_errors=True)
    return out


def published_lines(p: dict) -> list[str]:
    return [
        f"| Analyze, a freshly published model, test split, cold (baseline: predictions computed on request) | {p['cold_test_s']} s | |",
        f"| background warmer: publish to every ESConv dialogue cached | {p['warmed_after_s']} s | |",
        *[
            f"| Analyze, a freshly published model once warm, {split} split | {p[f'warm_{split}_s']} s | < 2 s |"
            for split in ("test", "val", "train", "all")
        ],
    ]


def write_published(p: dict, args) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "app-analyze.json").write_text(json.dumps({"model": args.model, **p}, indent=2))
    lines = [
        "# Analyze for a freshly published model, cold and warm",
        "",
        f"Command: `python bench/app.py --model {args.model} --models-dir DIR --analyze-only` (server and client on one 2-core machine; "
        "the server's warmer predicts every labelled ESConv dialogue in a niced child process).",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        *published_lines(p),
        "",
    ]
    (RESULTS / "app-analyze.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
