"""User and key administration: ``user create|quota|admin`` and ``key add|list|revoke``.

They use the services directly, against the stage the environment names (with nothing set and a
``make run`` stack up, against that stack's moto server). A new key is printed once and never stored.
"""

from __future__ import annotations

import argparse
import json
import re
import sys

from chalicelib.config import GB, MB

UNITS = {"": 1, "B": 1, "KB": 1024, "MB": MB, "GB": GB, "TB": 1024 * GB}


def size(text: str) -> int:
    """``10GB``, ``500 MB`` or plain bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?B?)\s*", text.upper())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 10GB, 500MB or 1048576")
    return int(float(match[1]) * UNITS[match[2]])


def register(subparsers) -> None:
    user = subparsers.add_parser("user", help="create users, set quotas, make admins").add_subparsers(
        dest="user_command", required=True)
    create = user.add_parser("create", help="create a user and print their first API key")
    create.add_argument("user_id")
    create.add_argument("--name")
    create.add_argument("--quota", type=size, help="bytes, or 10GB / 500MB (default: the stage's default quota)")
    create.add_argument("--admin", action="store_true")
    create.set_defaults(run=_admin(run_user_create))
    quota = user.add_parser("quota", help="set a user's quota")
    quota.add_argument("user_id")
    quota.add_argument("quota", type=size)
    quota.set_defaults(run=_admin(run_user_quota))
    admin = user.add_parser("admin", help="make a user an admin (or no longer, with --revoke)")
    admin.add_argument("user_id")
    admin.add_argument("--revoke", action="store_true")
    admin.set_defaults(run=_admin(run_user_admin))

    key = subparsers.add_parser("key", help="add, list and revoke API keys").add_subparsers(
        dest="key_command", required=True)
    add = key.add_parser("add", help="a new key for a user (printed once)")
    add.add_argument("user_id")
    add.add_argument("--label")
    add.set_defaults(run=_admin(run_key_add))
    listing = key.add_parser("list", help="a user's keys by hash")
    listing.add_argument("user_id")
    listing.set_defaults(run=_admin(run_key_list))
    revoke = key.add_parser("revoke", help="revoke a key, given as the key or as its hash")
    revoke.add_argument("key")
    revoke.set_defaults(run=_admin(run_key_revoke))


def _admin(handler):
    """Run an admin command on the services; a domain error (unknown user...) is one line on stderr."""

    def run(args: argparse.Namespace) -> int:
        from chalicelib.cli import services
        from chalicelib.errors import PrsnlError

        services()
        try:
            return handler(args)
        except PrsnlError as error:
            print(f"error: {error.message} ({error.code})", file=sys.stderr)
            return 1

    return run


def run_user_create(args: argparse.Namespace) -> int:
    from chalicelib import wiring
    from chalicelib.records import apikeys, users

    services = wiring.services()
    now = services.clock.now()
    user = users.create_user(args.user_id, name=args.name or args.user_id, now=now, is_admin=args.admin,
                             quota_bytes=services.settings.default_quota_bytes if args.quota is None else args.quota)
    _print_user(user)
    print(f"API key (shown once): {apikeys.issue_key(user.user_id, now=now, label='first key')}")
    return 0


def run_user_quota(args: argparse.Namespace) -> int:
    from chalicelib.records import users

    _print_user(users.set_quota(args.user_id, args.quota))
    return 0


def run_user_admin(args: argparse.Namespace) -> int:
    from chalicelib.records import users

    _print_user(users.set_admin(args.user_id, not args.revoke))
    return 0


def run_key_add(args: argparse.Namespace) -> int:
    from chalicelib import wiring
    from chalicelib.records import apikeys, users

    users.get_user(args.user_id)
    print(apikeys.issue_key(args.user_id, now=wiring.services().clock.now(), label=args.label))
    return 0


def run_key_list(args: argparse.Namespace) -> int:
    from chalicelib.records import apikeys

    for key in apikeys.list_keys(args.user_id):
        print(f"{key.key_hash}  {key.created_at:%Y-%m-%d %H:%M}  {key.label or ''}")
    return 0


def run_key_revoke(args: argparse.Namespace) -> int:
    from chalicelib.records import apikeys

    if not apikeys.revoke_key(args.key):
        print("no such key")
        return 1
    print("revoked")
    return 0


def _print_user(user) -> None:
    from chalicelib.records import quotas

    print(json.dumps({**quotas.user_stats(user), "is_admin": user.is_admin}, indent=2))
