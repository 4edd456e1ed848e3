"""`factory`: the command line. Parses and validates, then starts the TUI or a headless run.

The grammar is `parser.py`; each command lives in a small module, imported only when it runs,
and imports its heavy modules (textual, pydantic, GitPython) inside, so `factory --help`
answers at once.
"""

from __future__ import annotations

import importlib
import os
import sys

from factory_tui import startup

from .parser import build_parser

EXIT_INTERRUPTED = 130

# command -> "module:function", imported when the command runs
COMMANDS = {
    "ceo": "runs:cmd_ceo",
    "demo": "runs:cmd_demo",
    "run": "runs:cmd_run",
    "tmux": "runs:cmd_tmux",
    "status": "reports:cmd_status",
    "projects": "reports:cmd_projects",
    "eval": "reports:cmd_eval",
    "backlog": "project:cmd_backlog",
    "message": "project:cmd_message",
    "ace": "project:cmd_ace",
    "doctor": "project:cmd_doctor",
    "watch": "project:cmd_watch",
}

__all__ = ["COMMANDS", "EXIT_INTERRUPTED", "build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    startup.hold()  # collection resumes once start-up is over (see startup.py)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from factory_tui.engine.errors import FactoryError

    try:
        module, function = COMMANDS[args.command].split(":")
        command = getattr(importlib.import_module(f"{__name__}.{module}"), function)
        return int(command(args))
    except FactoryError as error:
        print(f"factory: {error}", file=sys.stderr)
        return error.exit_code
    except BrokenPipeError:  # `factory status --all | head`: the reader has what it wanted
        # Quietly, with the 1 rich exits with when a pipe closes under its own output.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as error:  # a folder it cannot read or write: .factory chmod 000, a full disk
        where = error.filename or "a file"
        print(
            f"factory: cannot use {where}: {error.strerror or error} (check that it exists, "
            "that you may read and write it, and that the disk has room)",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("factory: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ImportError as error:  # GitPython refuses to load without a git executable
        if "git executable" not in str(error):
            raise
        print(
            "factory: git was not found on PATH; the factory keeps every change in git: "
            "install git and try again",
            file=sys.stderr,
        )
        return 2
