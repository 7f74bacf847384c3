"""The one `Settings` object: read once from `space_config.yaml` and the environment.

Everything that can differ between a laptop, CI and a Hugging Face Space lives
here and is passed down explicitly; no other module reads the environment.
Precedence, highest first: explicit overrides (CLI flags), environment
variables `EMPATHY_STUDIO_<KEY>`, `space_config.yaml`, the defaults below.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_FILE = "space_config.yaml"

# The app never phones home; set before gradio or huggingface_hub are imported.
PRIVACY_ENV = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1"}


def apply_privacy_env() -> None:
    for key, value in PRIVACY_ENV.items():
        os.environ.setdefault(key, value)


@dataclass(frozen=True)
class TrainingDefaults:
    epochs: int = 6
    batch_size: int = 16
    max_length: int = 256
    learning_rate: float = 5e-5
    head_learning_rate: float = 1e-3
    warmup_ratio: float = 0.1
    patience: int = 2
    seed: int = 42


@dataclass(frozen=True)
class Account:
    name: str
    password: str
    role: str = "annotator"


@dataclass(frozen=True)
class Settings:
    root: Path = PROJECT_ROOT
    esconv: tuple[Path, ...] = ()
    hub_esconv: bool = False
    sad: tuple[Path, ...] = ()
    epitome: tuple[Path, ...] = ()
    models_dir: Path = PROJECT_ROOT / "models"
    db_path: Path = PROJECT_ROOT / "db" / "studio.sqlite"
    persistent_dir: Path | None = None
    snapshot_repo: str = ""
    snapshot_every_minutes: int = 10
    default_model: str = "minilm-quick"
    allow_hub_downloads: bool = False
    auth: tuple[Account, ...] = ()
    hf_oauth: bool = False
    training: TrainingDefaults = field(default_factory=TrainingDefaults)

    @property
    def effective_db_path(self) -> Path:
        """The database lives on the persistent volume when one is mounted."""
        if self.persistent_dir is not None and self.persistent_dir.is_dir():
            return self.persistent_dir / "empathy-studio" / self.db_path.name
        return self.db_path

    def first_existing(self, kind: str) -> Path | None:
        for path in getattr(self, kind):
            if path.exists():
                return path
        return None

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)


def parse_account(text: str) -> Account:
    """`user:password[:role]` into an Account; raises ValueError with the reason."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0].strip() or not parts[1]:
        raise ValueError(f"auth must be USER:PASSWORD or USER:PASSWORD:ROLE, got {text!r}")
    role = parts[2] if len(parts) == 3 else "annotator"
    if role not in ("annotator", "admin"):
        raise ValueError(f"auth role must be annotator or admin, got {role!r}")
    return Account(parts[0].strip(), parts[1], role)


def _paths(value: Any, base: Path) -> tuple[Path, ...]:
    if value in (None, ""):
        return ()
    items = value if isinstance(value, list) else str(value).split(os.pathsep)
    return tuple((base / str(v)).resolve() if not Path(str(v)).is_absolute() else Path(str(v)) for v in items)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def load_settings(config_path: Path | None = None, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Read `space_config.yaml` and the environment once; `overrides` win over both."""
    env = dict(os.environ if env is None else env)
    config_path = Path(env.get("EMPATHY_STUDIO_CONFIG", config_path or PROJECT_ROOT / CONFIG_FILE))
    raw: dict[str, Any] = {}
    if config_path.exists():
        try:
            raw = yaml.safe_load(config_path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"{config_path}: not valid YAML ({exc.__class__.__name__})") from None
        if not isinstance(raw, dict):
            raise ValueError(f"{config_path}: expected a mapping at the top level")
    base = config_path.parent.resolve()

    def get(key: str, default: Any = None) -> Any:
        return env.get(f"EMPATHY_STUDIO_{key.upper()}", raw.get(key, default))

    training_raw = raw.get("training") or {}
    known = {f.name for f in dataclasses.fields(TrainingDefaults)}
    unknown = set(training_raw) - known
    if unknown:
        raise ValueError(f"{config_path}: unknown training keys {sorted(unknown)}")
    training = TrainingDefaults(**{k: type(getattr(TrainingDefaults, k))(v) for k, v in training_raw.items()})

    auth_raw = get("auth", []) or []
    if isinstance(auth_raw, str):
        auth_raw = [a for a in auth_raw.split(",") if a]
    persistent = get("persistent_dir")

    settings = Settings(
        root=base,
        esconv=_paths(get("esconv"), base),
        hub_esconv=_bool(get("hub_esconv", False)),
        sad=_paths(get("sad"), base),
        epitome=_paths(get("epitome"), base),
        models_dir=_paths(get("models_dir", "models"), base)[0],
        db_path=_paths(get("db_path", "db/studio.sqlite"), base)[0],
        persistent_dir=Path(persistent) if persistent else None,
        snapshot_repo=str(get("snapshot_repo", "") or ""),
        snapshot_every_minutes=int(get("snapshot_every_minutes", 10)),
        default_model=str(get("default_model", "minilm-quick")),
        allow_hub_downloads=_bool(get("allow_hub_downloads", False)),
        auth=tuple(parse_account(a) for a in auth_raw),
        hf_oauth=_bool(get("hf_oauth", False)),
        training=training,
    )
    return settings.replace(**{k: v for k, v in overrides.items() if v is not None})
