"""Synth benchmark (issue 10): how long ``make synth`` takes, cold and warm, against the 60 s goal.

Copies the sources into a temporary directory (no ``.chalice/deployments`` cache there), then runs
``python -m infra.cdk_app`` twice in it, as ``make synth`` does: the cold run includes Chalice's
packaging of the API (``pip download`` of requirements.txt), the warm one reuses its cached package.
Offline except for that first ``pip download`` (PyPI, or a pip cache/wheelhouse). No AWS account, no Docker.
Run: ``.venv/bin/python bench/synth.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_SECONDS = 60
SKIP = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".local",
    "__pycache__",
    "*.pyc",
    ".pytest_cache",
    ".ruff_cache",
    "cdk.out",
    "chalice.out",
    "deployments",
    "bench",
    "node_modules",
)


def synth_seconds(project: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRSNL_", "AWS_", "CDK_"))}
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "infra.cdk_app"], cwd=project, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="prsnl-bench-synth-") as tmp:
        project = Path(tmp) / "project"
        shutil.copytree(ROOT, project, ignore=SKIP)
        figures = {"cold (packages the API)": synth_seconds(project), "warm (cached package)": synth_seconds(project)}
    for name, seconds in figures.items():
        verdict = "ok" if seconds < GOAL_SECONDS else "OVER"
        print(f"synth {name:<24} {seconds:6.1f} s   goal < {GOAL_SECONDS} s: {verdict}")


if __name__ == "__main__":
    main()
