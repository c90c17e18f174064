"""Command line: ``l2theory <command> [options]`` (``l2theory --version``, ``l2theory --help``).

Each command lives in the module that implements it; this file only dispatches, so
``l2theory --help`` stays fast (no JAX import) and each half of the package owns its commands.

Errors are handled here, once for every command: a user error (a bad option or value,
``ValueError``/``TypeError``; a missing dataset or an unwritable folder, ``OSError``) is printed
as ``l2theory <command>: error: <message>`` on stderr without a traceback, exit status 2; Ctrl-C
prints one line (for ``train``/``sweep``: what is saved and how to resume), exit status 130.
``train`` exits with status 1 when its run diverged, ``sweep`` when every run did (a line on
stderr names them).
``--debug`` (or ``L2THEORY_DEBUG=1``) lets the error raise with its traceback instead. Anything
else is a bug and raises with its traceback (exit status 1).
"""
from __future__ import annotations

import importlib
import sys

# command -> (module, function, one-line help)
COMMANDS = {
    "demo": ("l2theory._cli.demo", "main",
             "theory demo: predicted t* and lam_opt, infinite-width test curves (figure)"),
    "predict": ("l2theory._cli.predict", "main",
                "predict a training run without training: t*, c, lam_opt and its verdict"),
    "train": ("l2theory._cli.training", "train_main",
              "train one finite-width network (measured t* beside the predicted)"),
    "sweep": ("l2theory._cli.training", "sweep_main", "vectorized lam x lr x seed sweep"),
    "figures": ("l2theory._cli.figures", "main",
                "regenerate the paper's figures and a report (--preset quick|paper)"),
}

USER_ERRORS = (ValueError, TypeError, OSError)


def _usage() -> str:
    lines = ["usage: l2theory [--version] <command> [options]", "", "commands:"]
    lines += [f"  {name:<8} {help_}" for name, (_, _, help_) in COMMANDS.items()]
    lines += ["", "`l2theory <command> --help` lists a command's options; --debug (or "
              "L2THEORY_DEBUG=1) shows the traceback of an error."]
    return "\n".join(lines)


def _message(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror and error.filename:
        return f"{error.filename}: {error.strerror}"
    return str(error) or type(error).__name__


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    if argv[0] == "--version":
        from l2theory import __version__

        print(f"l2theory {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        import difflib

        close = difflib.get_close_matches(name, list(COMMANDS), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        print(f"l2theory: unknown command {name!r}; {hint}valid commands: "
              f"{', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    from l2theory._cli._common import debug_requested

    module, func, _ = COMMANDS[name]
    try:
        return int(getattr(importlib.import_module(module), func)(rest) or 0)
    except SystemExit as e:  # argparse: --help (0) or a usage error, already printed (2)
        if e.code is None or isinstance(e.code, int):
            return e.code or 0
        raise
    except KeyboardInterrupt as e:
        if debug_requested(rest):
            raise
        print(f"l2theory {name}: {_message(e) if e.args else 'interrupted'}", file=sys.stderr)
        return 130
    except USER_ERRORS as e:
        if debug_requested(rest):
            raise
        print(f"l2theory {name}: error: {_message(e)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
