"""The public faces (``l2theory.kernels``, ``solvers``, ``models``, ``data``, ``train``,
``experiments``) as a user meets them: ``__all__`` is exactly what the module offers, ``from ...
import *`` gives it, every public function and class says what it does, and every public name is
mentioned where a user looks for it (the module's docstring, ``help(l2theory.<face>)``, or
README.md / docs/)."""
import importlib
import inspect
import re
import types
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FACES = ["kernels", "solvers", "models", "data", "train", "experiments"]


def _face(name):
    return importlib.import_module(f"l2theory.{name}")


def _offered(module) -> set[str]:
    """The names a module offers: its attributes without a leading underscore, less the modules
    it imported and ``from __future__``'s ``annotations``."""
    return {n for n, v in vars(module).items() if not n.startswith("_")
            and not isinstance(v, types.ModuleType) and n != "annotations"}


@pytest.mark.parametrize("name", FACES)
def test_all_is_what_the_module_offers_and_a_star_import_gives_it(name):
    module = _face(name)
    assert sorted(module.__all__) == sorted(_offered(module))
    assert len(set(module.__all__)) == len(module.__all__)
    namespace: dict = {}
    exec(f"from l2theory.{name} import *", namespace)
    assert sorted(set(namespace) - {"__builtins__"}) == sorted(module.__all__)


@pytest.mark.parametrize("name", FACES)
def test_every_public_function_and_class_says_what_it_does(name):
    module = _face(name)
    for attr in module.__all__:
        obj = getattr(module, attr)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            doc = inspect.getdoc(obj) or ""
            assert doc.strip() and len(doc.splitlines()[0]) > 10, f"{name}.{attr}: no docstring"


@pytest.mark.parametrize("name", FACES)
def test_every_public_name_is_mentioned_where_a_user_looks(name):
    module = _face(name)
    docs = "\n".join(p.read_text() for p in [REPO / "README.md", *sorted(
        (REPO / "docs").glob("*.md"))])
    for attr in module.__all__:
        word = rf"(?<![\w.]){re.escape(attr)}\b"
        in_docstring = re.search(word, module.__doc__ or "")
        in_docs = re.search(rf"\b{name}\.{re.escape(attr)}\b", docs)
        assert in_docstring or in_docs, (
            f"{name}.{attr} is public but neither the module docstring nor README.md/docs/ "
            f"mention it")
