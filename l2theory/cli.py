"""Command line: ``l2theory <command> [options]``.

Each command lives in the module that implements it; this file only dispatches, so
``l2theory --help`` stays fast (no JAX import) and each half of the package owns its commands.
"""
from __future__ import annotations

import importlib
import sys

# command -> (module, function, one-line help)
COMMANDS = {
    "demo": ("l2theory._cli.demo", "main",
             "theory demo: predicted t* and lam_opt, infinite-width test curves (figure)"),
    "train": ("l2theory._cli.training", "train_main", "train one finite-width network"),
    "sweep": ("l2theory._cli.training", "sweep_main", "vectorized lam x lr x seed sweep"),
    "figures": ("l2theory._cli.figures", "main",
                "regenerate the paper's figures and a report (--preset quick|paper)"),
}


def _usage() -> str:
    lines = ["usage: l2theory <command> [options]", "", "commands:"]
    lines += [f"  {name:<8} {help_}" for name, (_, _, help_) in COMMANDS.items()]
    lines += ["", "`l2theory <command> --help` lists a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"l2theory: unknown command {name!r}; valid commands: {', '.join(COMMANDS)}",
              file=sys.stderr)
        return 2
    module, func, _ = COMMANDS[name]
    return int(getattr(importlib.import_module(module), func)(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
