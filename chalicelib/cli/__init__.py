"""``prsnl-video``: the command line of PRSNL Video.

Each module of this package adds its commands through ``register(subparsers)``; a command is a
function ``run(args) -> int``. Client commands talk to the API (URL and key from .local/stack.json
or PRSNL_API_URL / PRSNL_API_KEY); admin and maintenance commands use the services directly.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

COMMAND_MODULES = ("client", "admin", "maintenance", "ops", "telegram")


def services():
    """The services for commands that work on the data directly (admin, maintenance, ops, bot)."""
    from chalicelib import wiring
    from chalicelib.local import stack

    stack.use_running_stack()  # with no AWS endpoint or credentials set, the running `make run` stack
    return wiring.services()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prsnl-video", description="PRSNL Video command line")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"chalicelib.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except BrokenPipeError:  # `prsnl-video list | head`: the reader left, which is no error to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush does not fail again
        return 0


if __name__ == "__main__":
    sys.exit(main())
