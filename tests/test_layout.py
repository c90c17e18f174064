"""The package's layers, read from the source: the theory half imports nothing from the practice
half; neither half imports a public face or anything above it; no import cycles; scripts outside
the package use only the public API; installed code never edits sys.path; every document the code
cites exists in the repository; no ``physical_time`` naming for the natural clock ``lam lr t``."""
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


PUBLIC_FACES = tuple(f"l2theory.{name}" for name in (
    "kernels", "solvers", "models", "data", "train", "experiments"))
ABOVE_THE_HALVES = PUBLIC_FACES + ("l2theory._experiments", "l2theory.figures", "l2theory._cli",
                                   "l2theory.cli", "l2theory.__main__")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_modules() -> dict[str, Path]:
    return {_module_name(p): p for p in _py(PACKAGE)}


def _imported_modules(path: Path, modules) -> set[str]:
    """The package modules a file imports anywhere in it (inside functions too): ``import a.b``
    and ``from a import b`` give ``a.b`` when that is a module, else ``a``; relative imports are
    resolved against the file's package."""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                     for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def _import_graph() -> dict[str, set[str]]:
    modules = _package_modules()
    return {m: _imported_modules(p, modules) - {m} for m, p in modules.items()}


def test_the_import_graph_sees_lazy_and_from_imports():
    """The reader behind the layering tests finds the imports it must judge."""
    graph = _import_graph()
    assert "l2theory._practice.models" in graph["l2theory.models"]  # from a package
    assert "l2theory._practice.datasets.augment" in graph["l2theory.data"]  # from a module
    assert "l2theory.train" in graph["l2theory._experiments.sweeps"]  # inside a function


@pytest.mark.parametrize("half", ["_theory", "_practice"])
def test_neither_half_imports_a_public_face_or_anything_above_it(half):
    graph = _import_graph()
    modules = [m for m in graph if m.startswith(f"l2theory.{half}")]
    assert modules
    for module in modules:
        above = sorted(n for n in graph[module] if n.startswith(ABOVE_THE_HALVES))
        assert not above, f"{module} imports {above}"


def test_no_import_cycles():
    """No module reaches itself through the imports of others (lazy imports included): every
    module can be read, and tested, above the ones it uses."""
    graph = _import_graph()
    done: set[str] = set()

    def visit(module, path):
        if module in path:
            cycle = path[path.index(module):] + [module]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if module in done:
            return
        for used in sorted(graph[module]):
            visit(used, path + [module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])


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
