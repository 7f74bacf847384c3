"""Sign-in attacks against a live server: guessing speed with and without back-off, simultaneous guesses, name enumeration by timing.

Starts two studio servers on loopback ports, each with the accounts `ana` and `admin`: one as the
studio runs (sign-in back-off on), and, as the same-run baseline, one with the back-off replaced by
a no-op (what sign-in was before). One client then guesses `ana`'s password as fast as it can for
`--seconds` against each, counting the guesses that were actually checked ("wrong password")
and those turned away unchecked ("too many failed sign-ins"). Then, on the real server, it times
wrong-password sign-ins for the known name and for unknown names, a successful sign-in after
each so the back-off never starts (unknown names are fresh each time). Last, the race: 16 clients,
each from its own address (X-Forwarded-For, which the server believes from loopback), guess a
fresh account's password at the same moment; the back-off must check at most 5 of them.

    python bench/security.py [--seconds 20] [--timing-samples 40]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"

SERVER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from empathy_studio.services import Studio
    from empathy_studio.settings import Account, load_settings
    from empathy_studio.ui import build_app, launch_options
    port, db, throttle = int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "on"
    settings = load_settings(db_path=db, persistent_dir=None, models_dir=db.parent / "models", build_starter=False,
                             warm_predictions=False, auth=(Account("ana", "right-password"), Account("admin", "admin-password", "admin"),
                                                           Account("fresh", "fresh-password")))
    studio = Studio(settings)
    if not throttle:  # the baseline: every guess is checked, as before the back-off existed
        class NoThrottle:
            def admit(self, keys): pass
            def succeeded(self, keys): pass
        studio.annotation.throttle = NoThrottle()
    studio.start()
    build_app(studio).launch(server_name="127.0.0.1", server_port=port, quiet=True, **launch_options())
""")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(throttle: bool, tmp: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_OFFLINE": "1"}
    db = tmp / ("on" if throttle else "off") / "studio.sqlite"
    db.parent.mkdir(parents=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port), str(db), "on" if throttle else "off"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return proc, url
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.2)
    proc.kill()
    sys.exit("a server did not come up")


def sign_in(client, name: str, password: str) -> str:
    try:
        client.predict(name, password, {}, api_name="/sign_in")
        return "ok"
    except Exception as exc:  # noqa: BLE001 - the message is the measurement
        text = str(exc)
        return "throttled" if "too many failed sign-ins" in text else "wrong" if "wrong password" in text else f"other: {text[:80]}"


def guess(url: str, seconds: float) -> dict:
    from gradio_client import Client

    client = Client(url, verbose=False, ssl_verify=False)
    counts = {"wrong": 0, "throttled": 0, "ok": 0}
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        outcome = sign_in(client, "ana", secrets.token_hex(6))
        counts[outcome if outcome in counts else "wrong"] += 1
    elapsed = time.perf_counter() - t0
    return {
        "seconds": round(elapsed, 1),
        "requests": sum(counts.values()),
        "requests_per_s": round(sum(counts.values()) / elapsed, 2),
        "checked_guesses": counts["wrong"],
        "checked_guesses_per_s": round(counts["wrong"] / elapsed, 2),
        "turned_away": counts["throttled"],
    }


def timing(url: str, samples: int) -> dict:
    from gradio_client import Client

    client = Client(url, verbose=False, ssl_verify=False)
    known, unknown = [], []
    for i in range(samples):
        for name, bucket in (("ana", known), (f"nobody-{secrets.token_hex(4)}", unknown))[:: 1 if i % 2 else -1]:
            t0 = time.perf_counter()
            outcome = sign_in(client, name, "wrong-password")
            bucket.append((time.perf_counter() - t0) * 1000)
            assert outcome == "wrong", outcome
            assert sign_in(client, "ana", "right-password") == "ok"  # clears the address and the account
    med_k, med_u = float(np.median(known)), float(np.median(unknown))
    return {
        "samples": samples,
        "known_median_ms": round(med_k, 1),
        "unknown_median_ms": round(med_u, 1),
        "difference_ms": round(abs(med_k - med_u), 1),
        "known_p90_ms": round(float(np.percentile(known, 90)), 1),
        "unknown_p90_ms": round(float(np.percentile(unknown, 90)), 1),
    }


def race(url: str, clients: int = 16) -> dict:
    """`clients` wrong guesses for the fresh account at one moment, each from its own address: how many were checked."""
    import threading

    from gradio_client import Client

    conns = [Client(url, verbose=False, ssl_verify=False, headers={"X-Forwarded-For": f"10.9.0.{i + 1}"}) for i in range(clients)]
    barrier, outcomes, lock = threading.Barrier(clients), [], threading.Lock()

    def one(c) -> None:
        barrier.wait()
        outcome = sign_in(c, "fresh", secrets.token_hex(6))
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=one, args=(c,)) for c in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {
        "clients": clients,
        "checked": outcomes.count("wrong"),
        "turned_away": outcomes.count("throttled"),
        "other": [o for o in outcomes if o not in ("wrong", "throttled")],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="seconds of guessing against each server")
    ap.add_argument("--timing-samples", type=int, default=40, help="wrong sign-ins timed for each kind of name")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="es-bench-security-"))
    servers = {}
    try:
        for throttle in (False, True):
            servers[throttle] = start(throttle, tmp)
        times = timing(servers[True][1], args.timing_samples)  # first: the guessing below leaves the address waiting
        race_before, race_after = race(servers[False][1]), race(servers[True][1])
        before = guess(servers[False][1], args.seconds)
        after = guess(servers[True][1], args.seconds)
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(timeout=30)
    report = {
        "command": " ".join(["python", "bench/security.py", *sys.argv[1:]]),
        "before_no_backoff": before,
        "after_backoff": after,
        "timing": times,
        "target_difference_ms": 10,
        "timing_target_met": times["difference_ms"] < 10,
        "race_before_no_backoff": race_before,
        "race_after_backoff": race_after,
        "race_target_checked_at_most": 5,
        "race_target_met": race_after["checked"] <= 5,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "security.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Sign-in attacks on a live server",
        "",
        f"Command: `{report['command']}`. One client, loopback, {args.seconds:g} s of guessing `ana`'s password against each server.",
        "",
        "| server | requests/s | guesses checked | guesses checked/s | turned away unchecked |",
        "|---|---|---|---|---|",
        f"| baseline: back-off off (as before) | {before['requests_per_s']} | {before['checked_guesses']} | "
        f"{before['checked_guesses_per_s']} | {before['turned_away']} |",
        f"| the studio: back-off on | {after['requests_per_s']} | {after['checked_guesses']} | {after['checked_guesses_per_s']} | "
        f"{after['turned_away']} |",
        "",
        f"Wrong-password sign-in time, {times['samples']} each, median (p90):",
        "",
        f"- known name `ana`: {times['known_median_ms']} ms ({times['known_p90_ms']} ms)",
        f"- unknown names: {times['unknown_median_ms']} ms ({times['unknown_p90_ms']} ms)",
        f"- difference of the medians: {times['difference_ms']} ms (target < 10 ms: {'met' if report['timing_target_met'] else 'not met'})",
        "",
        f"Simultaneous guesses: {race_after['clients']} clients, each from its own address, guess a fresh account's password at once:",
        "",
        "| server | guesses checked | turned away unchecked |",
        "|---|---|---|",
        f"| baseline: back-off off | {race_before['checked']} | {race_before['turned_away']} |",
        f"| the studio: back-off on, checked and counted in one step | {race_after['checked']} | {race_after['turned_away']} |",
        "",
        f"Target: at most 5 checked ({'met' if report['race_target_met'] else 'not met'}).",
        "",
    ]
    (RESULTS / "security.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
