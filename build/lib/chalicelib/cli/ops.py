"""``ops``: captures per platform over the last hour, day and week — what GET /api/admin/metrics answers.

Like the maintenance commands it reads the services directly (with nothing set and a ``make run``
stack up, that stack's moto server), so it works while the API is down.
"""

from __future__ import annotations

import argparse
import json

COLUMNS = f"{'platform':<12}{'count':>7}{'success':>9}{'dl p50':>9}{'dl p95':>9}{'proc p50':>10}{'proc p95':>10}"


def register(subparsers) -> None:
    ops = subparsers.add_parser("ops", help="captures per platform: count, success rate, p50/p95 times, top errors")
    ops.add_argument("--json", action="store_true", help="print the admin endpoint's JSON")
    ops.set_defaults(run=run_ops)


def run_ops(args: argparse.Namespace) -> int:
    from chalicelib.cli import services
    from chalicelib.ops import rollups

    summary = rollups.summary(services())
    print(json.dumps(summary, indent=2) if args.json else "\n".join(lines(summary)))
    return 0


def lines(summary: dict) -> list[str]:
    out = []
    for window, platforms in summary["windows"].items():
        out += [f"last {window}", f"{COLUMNS}  top errors"]
        out += [_row(platform, figures) for platform, figures in platforms.items()] or ["  no finished captures"]
        out.append("")
    return out[:-1]


def _row(platform: str, figures: dict) -> str:
    rate = figures["success_rate"]
    download, processing = figures["download_seconds"], figures["processing_seconds"]
    errors = ", ".join(f"{error['code']} ({error['count']})" for error in figures["top_errors"])
    return (f"{platform:<12}{figures['count']:>7}{'-' if rate is None else f'{100 * rate:.0f}%':>9}"
            f"{_seconds(download['p50']):>9}{_seconds(download['p95']):>9}"
            f"{_seconds(processing['p50']):>10}{_seconds(processing['p95']):>10}  {errors}").rstrip()


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"≤{value:g} s"
