"""The import rules, checked on the source: ui -> services -> core, no cycles, no gradio in core, no torch in the store.

Function-level imports count too: a cycle hidden inside a function is still a cycle. The model
side has its own map: `models` (what a model is) never imports `training` (how one is made),
`services` or `ui`; `training` never imports `services` or `ui`; and the two families meet only
through the contract (`training/family.py`), never through each other's modules.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

PKG = ROOT / "empathy_studio"
UI_MAY_IMPORT = {"empathy_studio.services", "empathy_studio.labels", "empathy_studio.plots"}
CLI_MAY_IMPORT = {"empathy_studio.services", "empathy_studio.settings", "empathy_studio.ui"}
# what lies below `Studio`: the UI and the CLI reach none of it through a studio's attributes
BELOW_STUDIO = re.compile(r"\bstudio\.(store|registry|annotation|finetune|jobs|sources|esconv|snapshots|warmer|_\w+)\b")
FAMILY_MODULES = {
    "seeker": (
        "empathy_studio.models.seeker",
        "empathy_studio.models.seeker_predictor",
        "empathy_studio.training.seeker",
        "empathy_studio.training.ridge",
        "empathy_studio.training.policies",
    ),
    "rater": (
        "empathy_studio.models.rater",
        "empathy_studio.models.rater_predictor",
        "empathy_studio.training.rater",
        "empathy_studio.training.rater_data",
    ),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PKG.rglob("*.py")}


def imports_of(name: str) -> set[str]:
    """Every module this one imports, anywhere in its body, as absolute names."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES}
    return found


def internal(name: str) -> set[str]:
    return {m for m in imports_of(name) if m in MODULES and m != name and m != "empathy_studio"}


def test_there_is_no_import_cycle():
    graph = {m: internal(m) - {p for p in MODULES if m.startswith(p + ".")} for m in MODULES}  # a module's own package is no edge
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                pytest.fail("import cycle: " + " -> ".join(path[path.index(n) :] + [n]))
            if n not in state:
                visit(n)
        path.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


@pytest.mark.parametrize("name", sorted(m for m in MODULES if m.startswith("empathy_studio.ui")))
def test_ui_imports_services_and_shared_vocabulary_only(name):
    below = {m for m in internal(name) if not m.startswith("empathy_studio.ui")}
    assert below <= UI_MAY_IMPORT, f"{name} imports {sorted(below - UI_MAY_IMPORT)}"
    assert not BELOW_STUDIO.findall(MODULES[name].read_text()), f"{name} reaches below Studio"


@pytest.mark.parametrize("name", sorted(m for m in MODULES if m.startswith("empathy_studio.cli")))
def test_cli_calls_services_only(name):
    below = {m for m in internal(name) if not m.startswith("empathy_studio.cli")}
    assert below <= CLI_MAY_IMPORT, sorted(below - CLI_MAY_IMPORT)
    assert not BELOW_STUDIO.findall(MODULES[name].read_text())


def test_the_check_for_calls_below_studio_sees_them():
    assert BELOW_STUDIO.findall("studio.annotation.rate(who, item) and studio._predictors") == ["annotation", "_predictors"]
    assert not BELOW_STUDIO.findall("studio.rate(who, item); studio.data_note()")


@pytest.mark.parametrize("name", sorted(m for m in MODULES if m.startswith("empathy_studio.models")))
def test_models_never_import_training_services_or_ui(name):
    below = {
        m
        for m in internal(name)
        if m.startswith(("empathy_studio.training", "empathy_studio.services", "empathy_studio.ui", "empathy_studio.cli"))
    }
    assert not below, f"{name} imports {sorted(below)}"


@pytest.mark.parametrize("name", sorted(m for m in MODULES if m.startswith("empathy_studio.training")))
def test_training_never_imports_services_or_ui(name):
    above = {m for m in internal(name) if m.startswith(("empathy_studio.services", "empathy_studio.ui", "empathy_studio.cli"))}
    assert not above, f"{name} imports {sorted(above)}"


@pytest.mark.parametrize("family,other", [("seeker", "rater"), ("rater", "seeker")])
def test_the_families_meet_only_through_the_contract(family, other):
    for name in FAMILY_MODULES[family]:
        crossing = internal(name) & set(FAMILY_MODULES[other])
        assert not crossing, f"{name} imports the {other} family's {sorted(crossing)}"


@pytest.mark.parametrize("name", sorted(m for m in MODULES if not m.startswith(("empathy_studio.ui", "empathy_studio.cli"))))
def test_core_never_imports_gradio(name):
    assert not {m for m in imports_of(name) if m.split(".")[0] == "gradio"}, name


def _loaded_after_import(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120, check=True)
    return set(out.stdout.split())


def test_importing_services_loads_neither_gradio_nor_torch():
    loaded = _loaded_after_import("empathy_studio.services")
    assert "gradio" not in loaded and "torch" not in loaded and "transformers" not in loaded


def test_the_store_never_pulls_in_torch():
    loaded = _loaded_after_import("empathy_studio.store")
    assert "torch" not in loaded and "sqlite_utils" in loaded
