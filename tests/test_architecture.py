"""The layering the README's Architecture section promises: domain logic and services know nothing of Flask."""

from __future__ import annotations

import ast
import re
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


@pytest.mark.parametrize(
    "module",
    [
        "app.bids.clearing",
        "app.bids.rules",
        "app.money",
        "app.payments.rules",
        "app.pools.rules",
        "app.reputation.trust",
    ],
)
def test_the_pure_rules_import_without_any_web_framework(module):
    """Importing a package's pure code loads no Flask or Werkzeug module (the app factory is `app.web`)."""
    import subprocess
    import sys

    probe = (
        f"import sys, importlib; importlib.import_module({module!r}); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'werkzeug', 'flask_sqlalchemy')))"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=APP.parent, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", f"{module} loads {done.stdout.strip()}"


MD_PATH = re.compile(r"(?<![\w/.-])([\w./-]+\.md)\b")


def test_every_markdown_file_the_code_or_readme_names_is_in_the_repository():
    """A reader who clones the repository can open every design note the code, the tests or the README cite."""
    root = APP.parent
    sources = [root / "README.md", *root.joinpath("docs").glob("*.md")]
    for folder in ("app", "config", "tests", "bench", "scripts", "migrations"):
        sources += [p for p in root.joinpath(folder).rglob("*") if p.suffix in {".py", ".html", ".sh"}]
    missing = {
        (str(source.relative_to(root)), name)
        for source in sources
        for name in MD_PATH.findall(source.read_text(errors="replace"))
        if not (root / name).exists() and not (root / "docs" / name).exists()
    }
    assert not missing, f"cited but not in the repository: {sorted(missing)}"


# The floors, bottom to top (docs/architecture.md). A domain module imports only the core and the
# domains before it; the HTTP floor (app.web: the factory, each domain's web.py, api.py, schemas.py),
# the scheduler and the CLI may compose any of them, and nothing below them imports them.
DOMAIN_ORDER = ["notifications", "accounts", "clubs", "pools", "bids", "payments", "reputation", "social"]
CORE = ["db", "money", "clock", "errors", "audit", "text", "unit_of_work", "metrics"]
ABOVE_THE_DOMAINS = ("app.web", "app.scheduler", "app.cli", "app.demo", "flask")


def upward_imports() -> set[tuple[str, str]]:
    """(module path, imported module) for every import of a domain above the importer's own."""
    rank = {name: n for n, name in enumerate(DOMAIN_ORDER)}
    found = set()
    for path in APP.rglob("*.py"):
        parts = path.relative_to(APP).parts
        if len(parts) < 2 or parts[0] not in rank:
            continue
        for module in imported_modules(path):
            names = module.split(".")
            if len(names) >= 2 and names[0] == "app" and names[1] in rank and rank[names[1]] > rank[parts[0]]:
                found.add((str(path.relative_to(APP.parent)), module))
    return found


def test_no_domain_imports_a_domain_above_it():
    """Facts a lower domain needs from a higher one (trust, price factors, whether a member bids) are
    passed in by the caller, never imported upward."""
    assert upward_imports() == set(), f"imports upward: {sorted(upward_imports())}"


def test_the_check_sees_an_upward_import():
    """The check is not vacuous: a pools module importing bids is caught."""
    planted = APP / "pools" / "_planted_upward.py"
    planted.write_text("from app.bids.models import Bid\n")
    try:
        assert ("app/pools/_planted_upward.py", "app.bids.models") in upward_imports()
    finally:
        planted.unlink()


def core_files() -> list[Path]:
    """The core's modules: a module, or every module of a package (app/db/)."""
    files = [APP / f"{name}.py" for name in CORE if (APP / f"{name}.py").exists()]
    files += [p for name in CORE if (APP / name).is_dir() for p in (APP / name).rglob("*.py")]
    assert len(files) >= len(CORE), "a core module named in CORE is missing"
    return files


def test_the_core_imports_no_domain():
    for path in core_files():
        domains = {m for m in imported_modules(path) if m.split(".")[:2][-1] in DOMAIN_ORDER}
        assert not domains, f"{path} imports {domains}"


def test_nothing_below_the_http_floor_imports_it_or_flask():
    """Domains and the core know nothing of the web, the scheduler or the CLI: those compose them."""
    below = core_files() + [p for d in DOMAIN_ORDER for p in (APP / d).rglob("*.py")]
    offenders = {
        (str(path.relative_to(APP.parent)), module)
        for path in below
        for module in imported_modules(path)
        if module.startswith(ABOVE_THE_DOMAINS)
    }
    assert offenders == set()


def test_each_domain_has_its_http_floor_in_app_web():
    """A domain's routes and schemas live in app/web/<domain>/, never beside its services."""
    for domain in DOMAIN_ORDER:
        strays = [p.name for p in (APP / domain).glob("*.py") if p.name in {"web.py", "api.py", "schemas.py"}]
        assert strays == [], f"app/{domain} holds {strays}: move them to app/web/{domain}/"


def test_every_commit_goes_through_the_unit_of_work():
    """Routes, jobs and commands commit with app.unit_of_work.commit, the one place that runs follow-ups."""
    offenders = [
        f"{path.relative_to(APP.parent)}:{number}"
        for path in APP.rglob("*.py")
        if path.name != "unit_of_work.py"
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if re.search(r"\bsession(\(\))?\.commit\(\)", line)
    ]
    assert offenders == []
