"""What every ``l2theory`` command shares: its argument parser and the check of an output folder.

Errors are reported by the dispatcher (``l2theory.cli``): a command raises ``ValueError``,
``TypeError`` or ``OSError`` for a user error and ``l2theory.cli`` prints one line (no traceback)
and exits with status 2.
"""
from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import NoReturn

# "-1e-3", "-.5", "-2.", "-inf": negative numbers, so "--lam -1e-3" is a value, not an option
_NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|infinity|nan)$",
                              re.IGNORECASE)


class Parser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` for an ``l2theory`` command.

    - A usage error is one line on stderr, ``<prog>: error: <what>; see <prog> --help`` (exit 2),
      not the full usage block.
    - A negative number in any notation (``-1e-3``) is a value, so the option's own check sees it.
    - ``--debug``: let errors raise with their traceback (read by ``l2theory.cli``; also
      ``L2THEORY_DEBUG=1``).
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = _NEGATIVE_NUMBER
        self.add_argument("--debug", action="store_true",
                          help="show the Python traceback of an error (also L2THEORY_DEBUG=1)")

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


def check_out(path: str | os.PathLike, option: str = "--out", none_ok: bool = False) -> Path:
    """``path`` as a ``Path`` if it is a folder that can be written, or can be created (its nearest
    existing parent is a writable folder); otherwise ``ValueError`` naming ``option``. Creates
    nothing, so a command that fails later leaves no empty folder behind."""
    path = Path(path)
    alt = f", or {option} none to write nothing" if none_ok else ""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        where = "is a file" if existing == path else f"cannot be created: {existing} is a file"
        raise ValueError(f"{option}={str(path)!r}: {where}, not a folder; pass a folder{alt}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{option}={str(path)!r}: cannot write in {existing} (permission "
                         f"denied); pass a folder you can write to{alt}")
    return path


def debug_requested(argv: list[str]) -> bool:
    """``--debug`` among the arguments, or ``L2THEORY_DEBUG`` set to anything but ``0``/empty."""
    return "--debug" in argv or os.environ.get("L2THEORY_DEBUG", "0") not in ("", "0")

