"""The services the UI and the CLI call, and nothing else: `Studio`, built once from `Settings`.

`Studio` wires the core together and owns the lazily loaded pieces (the data
sources, the store, the predictors: a model loads on first use, so the page
answers before any weights are in memory). Its use cases live beside it:
fine-tuning in `training`, annotation in `annotation`, jobs in `jobs`, the
researcher's tables and downloads in `analysis`; `Studio` gives each its
dependencies and offers the UI and CLI one method per thing they do. The names
the UI needs as vocabulary (`TrainRequest`, `UserError`, the choices) are
re-exported here, so `ui/` imports services and nothing below it. One module per part:
`base` (the pieces, start and stop, data), `models` (predictions, evaluation, analysis),
`rating` (annotation, campaigns, sessions), `training` (fine-tuning and jobs).
"""

from __future__ import annotations

from ..analysis import MECHANISM_SHORT, metric_name
from ..annotation import QUEUE_ORDERS
from ..campaigns import SOURCES as CAMPAIGN_SOURCES
from ..campaigns import CampaignRequest
from ..epitome import SHARMA_2020, SHARMA_2020_NOTE
from ..errors import ConfigError, DataError, InputError, ModelUnavailable, NotFound, PermissionDenied, UserError
from ..jobs import JobCancelled
from ..labels import EPITOME_MECHANISMS
from ..models.heads import ARCHS, LOSSES, SCORE_LOSSES
from ..progress import ProgressEvent
from ..scoring import TASK_COLUMNS as SCORE_TASKS
from ..scoring import ScoreRequest
from ..store import ADJUDICATION_REASONS, CAMPAIGN_KINDS, DEFAULT_CAMPAIGN, DEFAULT_OVERLAP, OVERLAPS, ROLES, SCALES, Annotator
from ..study.adjudication import DEFAULT_THRESHOLDS
from ..study.aggregation import DEFAULT_METHOD as DEFAULT_AGGREGATION
from ..study.aggregation import METHODS as AGGREGATION_METHODS
from ..tasks import TASKS
from ..training.config import DEFAULT_PRESET, FAMILY_PRESETS, HEAD_OPTIONS, PRESETS, RATER_PRESETS, SELECT_METRICS
from ..training.policies import POLICIES
from ..training.request import EnsembleRequest, TrainRequest
from .base import MAX_UPLOAD_BYTES, SPLITS, StudioBase, download_folder
from .empathy import EmpathyServices
from .gates import GateServices
from .models import ModelServices
from .rating import RatingServices
from .review import AdjudicationRequest, ReleaseRequest, ReviewServices
from .scoring import ScoringServices
from .training import TrainingServices

__all__ = [
    "RATER_PRESETS",
    "SHARMA_2020",
    "SHARMA_2020_NOTE",
    "MECHANISM_SHORT",
    "DEFAULT_OVERLAP",
    "OVERLAPS",
    "Studio",
    "TrainRequest",
    "EnsembleRequest",
    "ScoreRequest",
    "SCORE_TASKS",
    "EPITOME_MECHANISMS",
    "CampaignRequest",
    "CAMPAIGN_SOURCES",
    "CAMPAIGN_KINDS",
    "DEFAULT_CAMPAIGN",
    "SCALES",
    "UserError",
    "Annotator",
    "ProgressEvent",
    "JobCancelled",
    "QUEUE_ORDERS",
    "POLICIES",
    "PRESETS",
    "TASKS",
    "ARCHS",
    "LOSSES",
    "SCORE_LOSSES",
    "SELECT_METRICS",
    "SPLITS",
    "MAX_UPLOAD_BYTES",
    "download_folder",
    "metric_name",
    "COMMAND_LINE",
    "ConfigError",
    "DataError",
    "InputError",
    "ModelUnavailable",
    "NotFound",
    "PermissionDenied",
    "AdjudicationRequest",
    "ReleaseRequest",
    "ADJUDICATION_REASONS",
    "ROLES",
    "DEFAULT_PRESET",
    "FAMILY_PRESETS",
    "HEAD_OPTIONS",
    "AGGREGATION_METHODS",
    "DEFAULT_AGGREGATION",
    "DEFAULT_THRESHOLDS",
]

# Whoever runs the command line holds the database and the models folder: an admin by construction.
COMMAND_LINE = Annotator(0, "(command line)", "admin")


class Studio(StudioBase, ModelServices, RatingServices, TrainingServices, EmpathyServices, ScoringServices, ReviewServices, GateServices):
    """Everything the UI and the CLI do, one method each; built once from `Settings`."""
