"""The layering the README's Architecture section promises: domain logic and services know nothing of Flask."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parent.parent / "app"
PURE = sorted(
    p
    for p in APP.rglob("*.py")
    if p.name in {"rules.py", "service.py", "clearing.py", "trust.py", "commitments.py", "logic.py"}
)


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(APP)))
def test_domain_logic_and_services_do_not_import_flask(path):
    flask_like = {m for m in imported_modules(path) if m.split(".")[0].startswith("flask")}
    assert not flask_like, f"{path} imports {flask_like}"


def test_there_are_pure_modules_to_check():
    assert len(PURE) >= 4


def test_nothing_in_app_reads_the_clock_directly():
    offenders = [
        str(p)
        for p in APP.rglob("*.py")
        if p.name != "clock.py" and ("datetime.now(" in p.read_text() or "datetime.utcnow(" in p.read_text())
    ]
    assert offenders == []
