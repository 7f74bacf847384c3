"""The Space path, run the way a Hugging Face Space runs it: a clean virtual environment with `requirements.txt` alone
(no Makefile, no ../shared), `python app.py` with SPACE_ID and the OAuth variables set, no persistent volume. The app must
serve, say which data it has (the Hub is out of reach here, so the demo set, and why), and sign a user in through the OAuth
routes, with a local stand-in for the provider: the only thing mocked, at its HTTP boundary."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from .conftest import ROOT, free_port, wait_for

pytestmark = pytest.mark.integration


class Provider(BaseHTTPRequestHandler):
    """An OpenID provider in miniature: metadata, an authorize page that approves at once, and a token endpoint whose answer
    carries the user's profile (as the Hub's does after authlib has read its ID token)."""

    user = {"sub": "42", "preferred_username": "clin-ana", "name": "Clin Ana", "picture": "", "profile": "", "website": ""}

    def log_message(self, *args) -> None:  # quiet
        pass

    def _json(self, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        base = f"http://127.0.0.1:{self.server.server_port}"
        url = urllib.parse.urlparse(self.path)
        if url.path == "/.well-known/openid-configuration":
            self._json(
                {
                    "issuer": base,
                    "authorization_endpoint": f"{base}/oauth/authorize",
                    "token_endpoint": f"{base}/oauth/token",
                    "userinfo_endpoint": f"{base}/oauth/userinfo",
                    "response_types_supported": ["code"],
                }
            )
        elif url.path == "/oauth/authorize":
            q = urllib.parse.parse_qs(url.query)
            back = (
                q["redirect_uri"][0]
                + ("&" if "?" in q["redirect_uri"][0] else "?")
                + urllib.parse.urlencode({"code": "the-code", "state": q["state"][0]})
            )
            self.send_response(302)
            self.send_header("Location", back)
            self.end_headers()
        else:
            self.send_error(404)

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/oauth/token":
            self._json(
                {"access_token": "a-token", "token_type": "Bearer", "expires_in": 3600, "scope": "openid profile", "userinfo": self.user}
            )
        else:
            self.send_error(404)


def _session_cookie(response: httpx.Response) -> str | None:
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        if name.strip() == "session":
            return rest.split(";", 1)[0]
    return None


@pytest.fixture(scope="module")
def space_venv(tmp_path_factory) -> Path:
    """A virtual environment with what a Space installs: torch (this machine's local build, as the Space's own image has
    one), then requirements.txt, and nothing else."""
    venv = tmp_path_factory.mktemp("space") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "torch==2.13.0"], check=True, timeout=1200)
    subprocess.run([*pip, "install", "-r", str(ROOT / "requirements.txt")], check=True, timeout=1200)
    return venv


def test_a_space_serves_says_which_data_it_has_and_signs_in_through_oauth(space_venv, tmp_path):
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    space = tmp_path / "space"  # the repository as a Space checks it out: no ../shared beside it
    for name in files:
        if (ROOT / name).is_file() and not name.startswith(("tests/", "bench/", "docs/")):
            (space / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, space / name)
    provider = ThreadingHTTPServer(("127.0.0.1", 0), Provider)
    threading.Thread(target=provider.serve_forever, daemon=True).start()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EMPATHY_STUDIO_", "VIRTUAL_ENV", "PYTHON"))}
    env.update(
        {
            "SYSTEM": "spaces",
            "SPACE_ID": "a-lab/empathy-studio",
            "OAUTH_CLIENT_ID": "client",
            "OAUTH_CLIENT_SECRET": "secret",
            "OAUTH_SCOPES": "openid profile",
            "OPENID_PROVIDER_URL": f"http://127.0.0.1:{provider.server_port}",
            "GRADIO_SERVER_NAME": "127.0.0.1",
            "GRADIO_SERVER_PORT": str(port),
            "HF_HUB_OFFLINE": "1",
            "EMPATHY_STUDIO_BUILD_STARTER": "false",
            "EMPATHY_STUDIO_WARM_PREDICTIONS": "false",
            "PATH": f"{space_venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    log = (tmp_path / "space.log").open("w")
    app = subprocess.Popen([str(space_venv / "bin" / "python"), "app.py"], cwd=space, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            assert app.poll() is None, (tmp_path / "space.log").read_text()[-3000:]  # the app died: say why at once
            try:
                return httpx.get(url + "/", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_for(up, timeout=300, every=1), (tmp_path / "space.log").read_text()[-3000:]
        config = httpx.get(url + "/config", timeout=30).text
        assert "demo set (30 short dialogues" in config and "ESConv could not be loaded from the Hub (thu-coai/esconv" in config

        start = httpx.get(url + "/login/huggingface", timeout=30)  # the Space's login route: off to the provider, state in the session
        assert start.status_code in (302, 307) and start.headers["location"].startswith(env["OPENID_PROVIDER_URL"])
        cookie = _session_cookie(start)
        approved = httpx.get(start.headers["location"], timeout=30)
        callback = httpx.get(approved.headers["location"], headers={"Cookie": f"session={cookie}"}, timeout=30)
        assert callback.status_code in (302, 307), callback.text[:500]
        signed = _session_cookie(callback)
        from gradio_client import Client

        client = Client(url + "/", verbose=False, headers={"Cookie": f"session={signed}"})
        who = client.predict(api_name="/sign_in_oauth")
        assert "Signed in as clin-ana (annotator)" in (who if isinstance(who, str) else json.dumps(who))
        anonymous = Client(url + "/", verbose=False).predict(api_name="/sign_in_oauth")
        assert "Not signed in" in (anonymous if isinstance(anonymous, str) else json.dumps(anonymous))
    finally:
        app.terminate()
        try:
            app.wait(30)
        except subprocess.TimeoutExpired:
            app.kill()
        provider.shutdown()
        log.close()
    assert (space / "db" / "studio.sqlite").exists()  # no persistent volume: the database lives in the Space's own folder
