"""The package's layers, read from the source: the theory half imports nothing from the practice
half; scripts outside the package use only the public API; installed code never edits sys.path;
every document the code cites exists in the repository; no ``physical_time`` naming for the
natural clock ``lam lr t``."""
import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "l2theory"


def _imports(path: Path) -> list[str]:
    """Every module name imported by a file (``from a.b import c`` gives ``a.b`` and
    ``a.b.c``)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            names += [f"{node.module}.{a.name}" for a in node.names]
    return names


def _py(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "results" not in p.parts)


def test_theory_half_imports_nothing_from_the_practice_half():
    practice = ("l2theory._practice", "l2theory.data", "l2theory.train", "l2theory.models",
                "l2theory._experiments", "l2theory.experiments", "l2theory.figures",
                "l2theory._cli")
    files = _py(PACKAGE / "_theory")
    assert files
    for path in files:
        bad = [n for n in _imports(path) if n.startswith(practice)]
        assert not bad, f"{path.relative_to(REPO)} imports {bad}"


@pytest.mark.parametrize("folder", ["paper_figures", "benchmarks"])
def test_scripts_use_only_the_public_api(folder):
    for path in _py(REPO / folder):
        private = [n for n in _imports(path) if re.match(r"l2theory(\.\w+)*\._", n)]
        assert not private, f"{path.relative_to(REPO)} imports private {private}"


def test_installed_code_never_edits_sys_path():
    for path in _py(PACKAGE) + _py(REPO / "paper_figures"):
        assert "sys.path" not in path.read_text(), path.relative_to(REPO)


def test_every_cited_document_exists():
    cited = set()
    for path in _py(PACKAGE) + _py(REPO / "paper_figures") + _py(REPO / "benchmarks") + [
            REPO / "README.md"]:
        text = path.read_text()
        cited |= set(re.findall(r"\b((?:docs|benchmarks|paper_figures)/[\w./-]+\.md)\b", text))
        assert "THEORY.md" not in text, f"{path.relative_to(REPO)} cites THEORY.md"
    assert "docs/conventions.md" in cited
    for doc in sorted(cited):
        assert (REPO / doc).is_file(), f"cited document {doc} is missing"


def test_no_physical_time_name_for_the_natural_clock():
    """The natural clock ``lam lr t`` is ``natural_time`` everywhere: no ``physical_time`` name
    (nor an alias of it) in the package."""
    for path in _py(PACKAGE):
        assert "physical_time" not in path.read_text(), \
            f"{path.relative_to(REPO)} uses the name physical_time"
