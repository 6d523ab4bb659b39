"""Build the CDK app: the stage's stack, cdk.json's context (feature flags) and cdk-nag as a validation plugin."""

from __future__ import annotations

import json
from pathlib import Path

from aws_cdk import App, Environment, Validations
from cdk_nag import AwsSolutionsChecks

from chalicelib.config import Settings
from infra.options import options_from_context
from infra.stacks.prsnl_stack import REPO_ROOT, PrsnlStack

CDK_JSON = REPO_ROOT / "cdk.json"


def cdk_context() -> dict:
    """cdk.json's context: ``cdk synth`` passes it itself, but pytest and ``python -m infra.cdk_app`` must too."""
    return json.loads(CDK_JSON.read_text())["context"]


def build_app(
    *, outdir: Path, settings: Settings, work_dir: Path, env: Environment | None = None, context: dict | None = None
) -> tuple[App, PrsnlStack]:
    """The app with every AwsSolutions finding checked at ``app.synth()`` (acknowledged ones carry a reason).

    ``work_dir`` must outlive ``app.synth()``: Chalice packages the API there (run it as the current directory,
    Chalice writes ``chalice.out/`` into it).
    """
    app = App(outdir=str(outdir), context={**cdk_context(), **(context or {})})
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    stack = PrsnlStack(app, settings=settings, options=options_from_context(app.node), work_dir=work_dir, env=env)
    return app, stack
