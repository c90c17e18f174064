"""What every ``l2theory`` command shares: its argument parser and the check of an output folder.

Errors are reported by the dispatcher (``l2theory.cli``): a command raises ``ValueError``,
``TypeError`` or ``OSError`` for a user error and ``l2theory.cli`` prints one line (no traceback)
and exits with status 2.
"""
from __future__ import annotations

import argparse
import difflib
import os
import re
from pathlib import Path
from typing import NoReturn

from l2theory import _checks

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
        self.exit(2, f"{self.prog}: error: {self._suggest(message)}; see `{self.prog} "
                     "--help`\n")

    def _suggest(self, message: str) -> str:
        """``unrecognized arguments: --lrr 0.1`` followed by ``(did you mean --lr?)`` for each
        unknown option that is close to a real one."""
        prefix = "unrecognized arguments: "
        if not message.startswith(prefix):
            return message
        hints = []
        for word in message[len(prefix):].split(" "):
            if word.startswith("--"):
                match = difflib.get_close_matches(word.split("=", 1)[0],
                                                  list(self._option_string_actions), n=1,
                                                  cutoff=0.6)
                if match:
                    hints.append((word.split("=", 1)[0], match[0]))
        if len(hints) == 1:
            return message + f" (did you mean {hints[0][1]}?)"
        return message + (" (did you mean " + ", ".join(f"{good} for {bad}" for bad, good in hints)
                          + "?)" if hints else "")

    def format_help(self) -> str:
        """The help with docstring markup removed: double backquotes, and ``::`` ending a line
        (a reST literal block) as ``:``."""
        return re.sub(r"::$", ":", super().format_help().replace("``", ""), flags=re.MULTILINE)


def check_out(path: str | os.PathLike, option: str = "--out", none_ok: bool = False) -> Path:
    """``path`` as a ``Path`` if it is a folder that can be written, or can be created (tried and
    undone: ``l2theory._checks.writable_folder``); otherwise ``ValueError`` naming ``option``.
    Leaves nothing behind, so a command that fails later leaves no empty folder, and a command
    calls it before any work."""
    alt = f", or {option} none to write nothing" if none_ok else ""
    return Path(_checks.writable_folder(option, path, alternative=alt))


def debug_requested(argv: list[str]) -> bool:
    """``--debug`` among the arguments, or ``L2THEORY_DEBUG`` set to anything but ``0``/empty."""
    return "--debug" in argv or os.environ.get("L2THEORY_DEBUG", "0") not in ("", "0")

