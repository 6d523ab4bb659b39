"""CDK entry point: ``python -m infra.cdk_app`` (``make synth``) or ``cdk synth|deploy`` through cdk.json.

Synthesizes the stage named by PRSNL_STAGE (default ``dev``) into infra/cdk.out, offline: no AWS account and no
Docker engine (the worker image is only staged; ``cdk deploy`` builds it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from infra.node import use_bundled_node

DEFAULT_OUTDIR = Path(__file__).resolve().parent / "cdk.out"


def main() -> None:
    use_bundled_node()
    os.environ.setdefault("PRSNL_STAGE", "dev")
    os.environ.setdefault("AWS_DEFAULT_REGION", os.environ.get("CDK_DEFAULT_REGION", "us-east-1"))
    from aws_cdk import Environment  # after use_bundled_node: jsii starts node on first import

    from chalicelib.config import load_settings
    from infra.assembly import build_app

    settings = load_settings()
    outdir = Path(os.environ.get("CDK_OUTDIR", DEFAULT_OUTDIR))
    if "CDK_OUTDIR" not in os.environ:  # our own outdir (the cdk CLI manages its own): drop stale assets
        shutil.rmtree(outdir, ignore_errors=True)
    env = Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=settings.region)
    with tempfile.TemporaryDirectory(prefix="prsnl-synth-") as work, contextlib.chdir(work):
        app, _ = build_app(outdir=outdir, settings=settings, work_dir=Path(work), env=env)
        app.synth()


if __name__ == "__main__":
    main()
