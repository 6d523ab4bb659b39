"""Storage care commands: ``maintenance [--apply]``, ``backup``, ``restore``, ``snapshot``.

They use the services directly, against the stage the environment names; with nothing set and a
``make run`` stack up, against that stack's moto server.
"""

from __future__ import annotations

import argparse
import json

from chalicelib.cli import services as cli_services


def register(subparsers) -> None:
    sweep = subparsers.add_parser("maintenance", help="orphan sweep, broken records, stuck jobs, quota drift")
    sweep.add_argument("--apply", action="store_true", help="make the changes (default: a dry run that only reports)")
    sweep.add_argument("--json", action="store_true", help="print the report as JSON")
    sweep.set_defaults(run=run_maintenance)

    backup = subparsers.add_parser("backup", help="snapshot every table and copy new media to the backup bucket")
    backup.add_argument("--no-media", dest="media", action="store_false", help="tables only")
    backup.set_defaults(run=run_backup)

    restore = subparsers.add_parser("restore", help="a whole table set from a snapshot, or one deleted video")
    target = restore.add_mutually_exclusive_group(required=True)
    target.add_argument("--snapshot", help="restore every table of this snapshot (see --list)")
    target.add_argument("--video", help="restore this deleted video (record and objects)")
    target.add_argument("--list", action="store_true", help="list the complete snapshots")
    restore.add_argument("--from", dest="source", help="with --video: the snapshot to take the record from")
    restore.set_defaults(run=run_restore)

    snapshot = subparsers.add_parser("snapshot", help="record today's storage figures (the daily trend point)")
    snapshot.set_defaults(run=run_snapshot)


def run_maintenance(args: argparse.Namespace) -> int:
    from chalicelib.ops import maintenance

    report = maintenance.run(services=cli_services(), apply=args.apply)
    print(json.dumps(report.to_dict(), indent=2) if args.json else "\n".join(report.lines()))
    return 0


def run_backup(args: argparse.Namespace) -> int:
    from chalicelib.ops import backup

    _print(backup.backup(services=cli_services(), media=args.media))
    return 0


def run_restore(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from chalicelib.ops import backup

    services = cli_services()
    if args.list:
        print("\n".join(backup.snapshots(services=services)))
    elif args.snapshot:
        _print(backup.restore_tables(args.snapshot, services=services))
        print("run `maintenance --apply` to reconcile the counters with what changed since the snapshot")
    else:
        _print(asdict(backup.restore_video(args.video, services=services, snapshot=args.source)))
    return 0


def run_snapshot(args: argparse.Namespace) -> int:
    from chalicelib.ops import trends

    _print(trends.snapshot(services=cli_services()))
    return 0


def _print(data) -> None:
    print(json.dumps(data, indent=2, default=str))

