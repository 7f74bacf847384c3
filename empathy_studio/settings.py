"""The one `Settings` object: read once from `space_config.yaml` and the environment.

Everything that can differ between a laptop, CI and a Hugging Face Space lives
here and is passed down explicitly. This is the only module that reads the
environment (the other places that touch it write to it: the privacy variables
at start, and the environment a training job's child process starts with,
`Settings.child_env`, which this module reads back in the child).
Precedence, highest first: explicit overrides (CLI flags), environment
variables `EMPATHY_STUDIO_<KEY>`, `space_config.yaml`, the defaults below.
Training defaults are not here: `training.config.TrainConfig` holds them and the
`training:` block of the YAML overrides them.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from .training.config import check_overrides

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_FILE = "space_config.yaml"

# The app never phones home; set before gradio or huggingface_hub are imported.
PRIVACY_ENV = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1"}


def apply_privacy_env() -> None:
    for key, value in PRIVACY_ENV.items():
        os.environ.setdefault(key, value)


def apply_server_env(settings: "Settings") -> None:
    """Before a server launches: the proxies whose X-Forwarded-For uvicorn believes (read when its config is made)."""
    os.environ.setdefault("FORWARDED_ALLOW_IPS", settings.trusted_proxies)


@dataclass(frozen=True)
class Account:
    name: str
    password: str
    role: str = "annotator"


@dataclass(frozen=True)
class Settings:
    root: Path = PROJECT_ROOT
    esconv: tuple[Path, ...] = ()  # candidates from space_config.yaml: the first that exists wins
    esconv_file: Path | None = None  # given explicitly (--esconv, EMPATHY_STUDIO_ESCONV): must exist
    hub_esconv: bool = False
    sad: tuple[Path, ...] = ()
    epitome: tuple[Path, ...] = ()
    failed_esconv: tuple[Path, ...] = ()  # FailedESConv candidates: the dataset `failed`, joined to ESConv as `esconv+failed`
    models_dir: Path = PROJECT_ROOT / "models"
    db_path: Path = PROJECT_ROOT / "db" / "studio.sqlite"
    persistent_dir: Path | None = None
    snapshot_repo: str = ""
    snapshot_every_minutes: int = 10
    snapshot_debounce_seconds: float = 30.0  # a snapshot at most this long after a write, besides the schedule
    db_explicit: bool = False  # db_path was named (--db, EMPATHY_STUDIO_DB_PATH): it wins over a persistent volume
    default_model: str = "minilm-quick"
    allow_hub_downloads: bool = False
    auth: tuple[Account, ...] = ()
    hf_oauth: bool = False
    hf_token: str | None = field(default=None, repr=False)
    warm_predictions: bool = True  # a server predicts every ESConv dialogue for each published model in the background
    build_starter: bool = False  # a server builds the starter model at start-up, in the background (load_settings: on)
    zero_gpu: bool = False  # a ZeroGPU Space: the GPU is reachable only from the app process
    training: dict[str, Any] = field(default_factory=dict)  # overrides of TrainConfig's defaults
    # In a server's child (a job, the warmer's `warm`): the server's pid. A child never creates the database, and
    # leaves when that process is gone, even if it died while the child was still starting.
    server_pid: int | None = None
    # Addresses whose X-Forwarded-For the server believes, for the per-address sign-in back-off behind a reverse
    # proxy (uvicorn's forwarded_allow_ips): "*" on a Space, whose proxy is the only way in; loopback elsewhere.
    trusted_proxies: str = "127.0.0.1"

    @property
    def effective_db_path(self) -> Path:
        """The database lives on the persistent volume when one is mounted, unless a path was named explicitly."""
        if not self.db_explicit and self.persistent_dir is not None and self.persistent_dir.is_dir():
            return self.persistent_dir / "empathy-studio" / self.db_path.name
        return self.db_path

    @property
    def effective_releases_dir(self) -> Path:
        """Releases live beside the database (on the persistent volume when it is there): they are the lab's data too."""
        return self.effective_db_path.parent / "releases"

    def describe_db(self) -> str:
        """Which database is in use, and why, for the server's log."""
        path = self.effective_db_path
        if path != self.db_path:
            why = f"on the persistent volume {self.persistent_dir}"
        elif self.db_explicit:
            why = "named explicitly"
        else:
            why = "db_path of space_config.yaml" + (f"; snapshots to {self.snapshot_repo}" if self.snapshot_repo else "")
        return f"database {path} ({why})"

    def first_existing(self, kind: str) -> Path | None:
        for path in getattr(self, kind):
            if path.exists():
                return path
        return None

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)

    def child_env(self) -> dict[str, str]:
        """What a training job's child process needs to build the same Settings (no accounts, no token)."""
        paths = lambda ps: os.pathsep.join(str(p) for p in ps)  # noqa: E731
        env = {
            "EMPATHY_STUDIO_ESCONV": str(self.esconv_file or ""),
            "EMPATHY_STUDIO_ESCONV_CANDIDATES": paths(self.esconv),
            "EMPATHY_STUDIO_HUB_ESCONV": str(self.hub_esconv),
            "EMPATHY_STUDIO_SAD": paths(self.sad),
            "EMPATHY_STUDIO_EPITOME": paths(self.epitome),
            "EMPATHY_STUDIO_FAILED_ESCONV": paths(self.failed_esconv),
            "EMPATHY_STUDIO_MODELS_DIR": str(self.models_dir),
            "EMPATHY_STUDIO_DB_PATH": str(self.effective_db_path),
            "EMPATHY_STUDIO_PERSISTENT_DIR": "",
            "EMPATHY_STUDIO_DEFAULT_MODEL": self.default_model,
            "EMPATHY_STUDIO_ALLOW_HUB_DOWNLOADS": str(self.allow_hub_downloads),
            "EMPATHY_STUDIO_TRAINING": json.dumps(self.training),
            "EMPATHY_STUDIO_AUTH": "",
            "EMPATHY_STUDIO_SERVER_PID": str(os.getpid()),
        }
        return env


def parse_account(text: str) -> Account:
    """`user:password[:role]` into an Account; raises ConfigError with the reason."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0].strip() or not parts[1]:
        raise ConfigError(f"auth must be USER:PASSWORD or USER:PASSWORD:ROLE, got {text!r}")
    role = parts[2] if len(parts) == 3 else "annotator"
    if role not in ("annotator", "reviewer", "admin"):
        raise ConfigError(f"auth role must be annotator, reviewer or admin, got {role!r}")
    return Account(parts[0].strip(), parts[1], role)


def _paths(value: Any, base: Path) -> tuple[Path, ...]:
    if value in (None, ""):
        return ()
    items = value if isinstance(value, list) else str(value).split(os.pathsep)
    return tuple((base / str(v)).resolve() if not Path(str(v)).is_absolute() else Path(str(v)) for v in items if str(v))


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _int(value: Any, key: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be a whole number, got {value!r}") from None


def load_settings(config_path: Path | None = None, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Read `space_config.yaml` and the environment once; `overrides` win over both."""
    env = dict(os.environ if env is None else env)
    config_path = Path(env.get("EMPATHY_STUDIO_CONFIG", config_path or PROJECT_ROOT / CONFIG_FILE))
    raw: dict[str, Any] = {}
    if config_path.exists():
        try:
            raw = yaml.safe_load(config_path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{config_path}: not valid YAML ({exc.__class__.__name__})") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{config_path}: expected a mapping at the top level")
    base = config_path.parent.resolve()

    def get(key: str, default: Any = None) -> Any:
        return env.get(f"EMPATHY_STUDIO_{key.upper()}", raw.get(key, default))

    training_raw = env.get("EMPATHY_STUDIO_TRAINING")
    training = json.loads(training_raw) if training_raw else (raw.get("training") or {})
    if not isinstance(training, dict):
        raise ConfigError(f"{config_path}: training must be a mapping")

    auth_raw = get("auth", []) or []
    if isinstance(auth_raw, str):
        auth_raw = [a for a in auth_raw.split(",") if a]
    persistent = get("persistent_dir")
    esconv_file = env.get("EMPATHY_STUDIO_ESCONV")

    settings = Settings(
        root=base,
        esconv=_paths(env.get("EMPATHY_STUDIO_ESCONV_CANDIDATES", raw.get("esconv")), base),
        esconv_file=Path(esconv_file) if esconv_file else None,
        hub_esconv=_bool(get("hub_esconv", bool(env.get("SPACE_ID")))),  # a Space reads ESConv from the Hub unless told otherwise
        sad=_paths(get("sad"), base),
        epitome=_paths(get("epitome"), base),
        failed_esconv=_paths(get("failed_esconv"), base),
        models_dir=_paths(get("models_dir", "models"), base)[0],
        db_path=_paths(get("db_path", "db/studio.sqlite"), base)[0],
        persistent_dir=Path(persistent) if persistent else None,
        snapshot_repo=str(get("snapshot_repo", "") or ""),
        snapshot_every_minutes=_int(get("snapshot_every_minutes", 10), "snapshot_every_minutes"),
        snapshot_debounce_seconds=float(_int(get("snapshot_debounce_seconds", 30), "snapshot_debounce_seconds")),
        db_explicit="EMPATHY_STUDIO_DB_PATH" in env,
        default_model=str(get("default_model", "minilm-quick")),
        allow_hub_downloads=_bool(get("allow_hub_downloads", False)),
        auth=tuple(parse_account(a) for a in auth_raw),
        hf_oauth=_bool(get("hf_oauth", bool(env.get("SPACE_ID") and env.get("OAUTH_CLIENT_ID")))),  # a Space with hf_oauth sets these
        hf_token=env.get("HF_TOKEN") or None,
        zero_gpu=bool(env.get("SPACES_ZERO_GPU")),
        warm_predictions=_bool(get("warm_predictions", True)),
        build_starter=_bool(get("build_starter", True)),
        training=check_overrides(training, str(config_path)),
        server_pid=_int(env["EMPATHY_STUDIO_SERVER_PID"], "EMPATHY_STUDIO_SERVER_PID") if env.get("EMPATHY_STUDIO_SERVER_PID") else None,
        trusted_proxies=str(get("trusted_proxies", "*" if env.get("SPACE_ID") else "127.0.0.1") or "127.0.0.1"),
    )
    if overrides.get("db_path") is not None:
        overrides["db_explicit"] = True
    return settings.replace(**{k: v for k, v in overrides.items() if v is not None})
