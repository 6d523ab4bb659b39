"""``prsnl-video``: the command line of PRSNL Video.

Each module of this package adds its commands through ``register(subparsers)``; a command is a
function ``run(args) -> int``. Client commands talk to the API (URL and key from .local/stack.json
or PRSNL_API_URL / PRSNL_API_KEY); admin and maintenance commands use the services directly.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

COMMAND_MODULES = ("client", "admin", "maintenance", "ops", "telegram")


def services():
    """The services for commands that work on the data directly (admin, maintenance, ops, bot)."""
    from chalicelib import wiring

    _use_local_stack()
    return wiring.services()


def _use_local_stack() -> None:
    """With no AWS endpoint or credentials in the environment, talk to the running ``make run`` stack."""
    named = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_PROFILE")
    if any(os.environ.get(name) for name in named) or os.environ.get("PRSNL_STAGE", "local") != "local":
        return
    from chalicelib.local import stack

    try:
        endpoint = json.loads(stack.stack_file().read_text())["aws_endpoint_url"]
    except (OSError, ValueError, KeyError):
        return
    os.environ.update(stack.local_environment(int(endpoint.rsplit(":", 1)[1])))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prsnl-video", description="PRSNL Video command line")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"chalicelib.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
