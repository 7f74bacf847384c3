"""Shared fixtures: tiny models built from a config, settings on temporary folders, real ESConv when present."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

from empathy_studio.settings import Settings, apply_privacy_env

apply_privacy_env()
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
ESCONV = SHARED / "esconv" / "ESConv.json"
FAILED = SHARED / "esconv" / "FailedESConv-dev.json"
SAD = SHARED / "sad" / "SAD_v1.csv"
EPITOME = SHARED / "epitome"
ARTIFACTS = ROOT / "test-artifacts"

needs_esconv = pytest.mark.skipif(not ESCONV.exists(), reason="the real ESConv.json is not beside the project (../shared/data)")

# A vocabulary big enough to tokenise the test texts into real word pieces.
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(
    set(
        "i am so sad and angry about my job work exam friend mother father sleep can not cannot feel scared afraid worried anxious "
        "happy better worse lost lonely tired help me you the a to of it is was in that this with for on have has not very really "
        "today yesterday ##s ##ing ##ed ##ly . , ! ? ' hello hi thanks thank okay ok".split()
    )
)


def make_tiny_encoder(folder: Path, layers: int = 2) -> Path:
    """A BERT of hidden size 32 with `layers` layers, and a WordPiece tokenizer from a small vocab, saved as a HF folder.

    The weights come from `torch.manual_seed(0)`, so the same call makes the same encoder on any machine."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(VOCAB) + "\n")
    tok = BertTokenizerFast(vocab=str(vocab), do_lower_case=True)
    cfg = BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    torch.manual_seed(0)
    BertModel(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> Path:
    """A BERT of hidden size 32 with 2 layers (see `make_tiny_encoder`)."""
    return make_tiny_encoder(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_encoder6(tmp_path_factory) -> Path:
    """The same with 6 layers, so the presets that freeze 4 layers and read layer 4 train as they do on MiniLM."""
    return make_tiny_encoder(tmp_path_factory.mktemp("tiny-bert-6"), layers=6)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(
        root=ROOT,
        esconv=(ESCONV,) if ESCONV.exists() else (),
        sad=(SAD,),
        epitome=(EPITOME,),
        models_dir=tmp_path / "models",
        failed_esconv=(FAILED,) if FAILED.exists() else (),
        warm_predictions=False,
        db_path=tmp_path / "db" / "studio.sqlite",
        persistent_dir=None,
    )


@pytest.fixture
def db_path(tmp_path) -> Path:
    """A path for a database file that a test creates (the manner of sqlite-utils' tests)."""
    return tmp_path / "test.sqlite"


@pytest.fixture
def fresh_db(db_path):
    """A new, migrated store on a temporary file, closed whatever the test does."""
    from empathy_studio.store import Store

    store = Store(db_path)
    try:
        yield store
    finally:
        store.close()


def save_tiny_model(tiny_encoder: Path, folder: Path, heads: dict | None = None, **manifest) -> Path:
    """The tiny encoder with fresh multi-task heads, saved as a studio model folder (a parent to fine-tune)."""
    import torch

    from empathy_studio.labels import ESCONV_EMOTIONS
    from empathy_studio.models.seeker import HeadConfig, build_model, save

    torch.manual_seed(0)
    model, tok = build_model(tiny_encoder, HeadConfig(labels=list(ESCONV_EMOTIONS), intensity_init=[4.0, 2.0, -2.0], **(heads or {})))
    return save(model, tok, folder, {"name": folder.name, **manifest})


@pytest.fixture
def tiny_studio(settings, tiny_encoder):
    """A started studio on the demo set with a tiny fine-tunable model `tiny`, an admin `root` and an annotator `ana` (password pw)."""
    from empathy_studio.data import DEMO_PATH
    from empathy_studio.services import Studio

    save_tiny_model(tiny_encoder, settings.models_dir / "tiny", metrics={"f1_weighted": 0.1})
    s = Studio(settings.replace(esconv_file=DEMO_PATH))
    s.start()
    s.store.add_annotator("root", "admin", "pw")
    s.store.add_annotator("ana", "annotator", "pw")
    try:
        yield s
    finally:
        root = s.annotation.login("root", "pw")
        for job in s.store.jobs(states=["running", "queued"]):
            s.jobs.cancel(root, job["id"], grace=1)
        s.store.close()


def wait_for(predicate, timeout: float = 120, every: float = 0.2) -> bool:
    """Poll until `predicate()` holds; never a fixed sleep followed by an assert."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return bool(predicate())


@pytest.fixture
def tiny_examples():
    from empathy_studio.data import Example

    texts = [
        ("i am so angry about my job", 0, 4, 2),
        ("i feel anxious and worried about the exam", 1, 5, 3),
        ("i am lonely and tired and sad", 2, 4, 3),
        ("i am scared and afraid", 4, 3, 2),
        ("my mother is not well and i feel sad", 5, 4, 2),
        ("i am angry with my friend", 0, 3, 1),
        ("i cannot sleep i am worried", 1, 4, float("nan")),
        ("i feel lost and very tired", 2, 5, 4),
    ]
    return [Example(f"t{i}", t, y, a, b, b - a) for i, (t, y, a, b) in enumerate(texts)]


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


CHROMIUM = "/usr/bin/chromium"  # Debian's, never a browser the test tool downloads
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Playwright; closed at the end of the module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def read_guidelines(page) -> None:
    """A campaign's guidelines open at the top of the form on first entry; Enter says they were read (no key rates before)."""
    if page.locator("#annotate-guidelines").is_visible():
        page.keyboard.press("Enter")
        page.wait_for_selector("#annotate-guidelines", state="hidden", timeout=10_000)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ACCOUNTS = (("admin", "adminpw", "admin"), ("ana", "anapw", "annotator"), ("ben", "benpw", "annotator"))


@contextlib.contextmanager
def serving(folder: Path, starter: bool = True):
    """The studio on the demo set in `folder`, launched in-process on a free port, with the test accounts: (url, studio)."""
    from empathy_studio.data import DEMO_PATH
    from empathy_studio.services import Studio
    from empathy_studio.settings import Account
    from empathy_studio.ui import build_app, launch_options

    settings = Settings(
        root=ROOT,
        models_dir=folder / "models",
        db_path=folder / "studio.sqlite",
        persistent_dir=None,
        warm_predictions=False,
        build_starter=False,
        auth=tuple(Account(*a) for a in ACCOUNTS),
    )
    studio = Studio(settings.replace(esconv_file=DEMO_PATH))
    if starter:
        studio.ensure_quick_model()
    studio.start()
    app = build_app(studio)
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_options())
    try:
        yield f"http://127.0.0.1:{port}/", studio
    finally:
        app.close()
        studio.store.close()


@pytest.fixture(scope="session")
def live_app(tmp_path_factory):
    """The studio shared by the app and browser tests, with the starter model built: (url, studio). Closed at the end."""
    with serving(tmp_path_factory.mktemp("app")) as served:
        yield served
