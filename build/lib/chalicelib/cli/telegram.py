"""Telegram commands: ``bot`` (polling mode, for local development), ``set-webhook``, ``link-telegram``.

With nothing set and a ``make run`` stack up, they use that stack's moto server (see maintenance).
The token and webhook secret come from PRSNL_TELEGRAM_TOKEN / PRSNL_TELEGRAM_WEBHOOK_SECRET, or
from Secrets Manager (PRSNL_TELEGRAM_TOKEN_SECRET / PRSNL_TELEGRAM_WEBHOOK_SECRET_SECRET).
"""

from __future__ import annotations

import argparse
import contextlib
import threading

from chalicelib.cli import services as cli_services


def register(subparsers) -> None:
    bot = subparsers.add_parser("bot", help="run the Telegram bot with getUpdates (removes the webhook)")
    bot.add_argument("--poll-seconds", type=int, default=10, help="long-poll timeout of each getUpdates")
    bot.set_defaults(run=run_bot)

    hook = subparsers.add_parser("set-webhook", help="register the webhook URL with its secret token")
    hook.add_argument("url", help="the public URL of POST /telegram/webhook")
    hook.set_defaults(run=run_set_webhook)

    link = subparsers.add_parser("link-telegram", help="make a Telegram user act as one of our users")
    link.add_argument("user_id", help="our user id")
    link.add_argument("telegram_id", type=int, help="the Telegram user id (the bot shows it in /help)")
    link.set_defaults(run=run_link)


def run_bot(args: argparse.Namespace) -> int:
    from chalicelib.telegram import polling

    services = cli_services()
    allowed = ", ".join(map(str, services.settings.telegram_allowed_users))
    print(f"Telegram bot polling; serving {allowed or 'nobody (set PRSNL_TELEGRAM_ALLOWED_USERS)'}. "
          "Ctrl-C stops it.", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        polling.run(services, stop=threading.Event(), timeout=args.poll_seconds)
    return 0


def run_set_webhook(args: argparse.Namespace) -> int:
    from chalicelib.telegram import bot as telegram_bot
    from chalicelib.telegram.credentials import credentials

    settings = cli_services().settings
    secret = credentials(settings).webhook_secret
    if not secret:
        print("no webhook secret: set PRSNL_TELEGRAM_WEBHOOK_SECRET or PRSNL_TELEGRAM_WEBHOOK_SECRET_SECRET")
        return 1
    telegram_bot.run(settings, lambda bot: bot.set_webhook(
        args.url, secret_token=secret, allowed_updates=telegram_bot.ALLOWED_UPDATES))
    print(f"webhook set to {args.url} (updates: {', '.join(telegram_bot.ALLOWED_UPDATES)})")
    return 0


def run_link(args: argparse.Namespace) -> int:
    from chalicelib.records import users

    cli_services()
    users.link_telegram(args.user_id, args.telegram_id)
    print(f"Telegram user {args.telegram_id} now saves into {args.user_id}")
    return 0
