"""The model families, by name: `tasks.py` names each task's family, and the registry each folder's.

A third family (a stressor model with other heads, say) is one module with a
`Family` subclass and one row here.
"""

from __future__ import annotations

from ..errors import ConfigError
from ..tasks import Task
from .family import Family
from .rater import RaterFamily
from .seeker import SeekerFamily

FAMILIES: dict[str, Family] = {f.name: f for f in (SeekerFamily(), RaterFamily())}


def family(name: str) -> Family:
    if name not in FAMILIES:
        raise ConfigError(f"unknown model family {name!r}; known: {', '.join(FAMILIES)}")
    return FAMILIES[name]


def family_of(task: Task) -> Family:
    return family(task.family)
