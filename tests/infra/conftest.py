"""One synth per test session (shared by the xdist workers through a file lock), read back from disk by every test.

The synth is the real one: ``app.synth()`` with cdk-nag as a validation plugin, offline, into a temp directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest

from infra.node import use_bundled_node

use_bundled_node()  # before any test module imports aws_cdk (jsii starts node on that import)

STAGE = "dev"
ACCOUNT, REGION = "123456789012", "us-east-1"  # a fixed dummy env keeps the template deterministic


@dataclass(frozen=True)
class Synth:
    outdir: Path
    error: str | None  # cdk-nag findings make app.synth() raise after writing the templates

    @property
    def template_path(self) -> Path:
        return self.outdir / f"{STAGE}.template.json"

    def template(self) -> dict:
        return json.loads(self.template_path.read_text())

    def validation_report(self) -> dict:
        return json.loads((self.outdir / "validation-report.json").read_text())


def _synthesize(outdir: Path, work_dir: Path) -> Synth:
    from aws_cdk import Environment

    from chalicelib.config import load_settings
    from infra.assembly import build_app

    environment = {name: value for name, value in os.environ.items() if not name.startswith(("PRSNL_", "AWS_"))}
    with (
        mock.patch.dict(os.environ, {**environment, "PRSNL_STAGE": STAGE, "AWS_DEFAULT_REGION": REGION}, clear=True),
        contextlib.chdir(work_dir),  # Chalice writes chalice.out/ into the current directory
    ):
        app, _ = build_app(
            outdir=outdir, settings=load_settings(), work_dir=work_dir, env=Environment(account=ACCOUNT, region=REGION)
        )
        try:
            app.synth()
            error = None
        except RuntimeError as exc:
            if "ValidationFailed" not in str(exc):
                raise
            error = str(exc)
    return Synth(outdir, error)


@pytest.fixture(scope="session")
def synth(tmp_path_factory) -> Synth:
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the run's directory, common to all its xdist workers
    outdir, work_dir, record = shared / "cdk.out", shared / "cdk-work", shared / "cdk-synth.json"
    with open(shared / "cdk-synth.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not record.exists():
            work_dir.mkdir(exist_ok=True)
            result = _synthesize(outdir, work_dir)
            record.write_text(json.dumps({"error": result.error}))
    saved = json.loads(record.read_text())
    return Synth(outdir, saved["error"])


@pytest.fixture(scope="session")
def template(synth):
    from aws_cdk.assertions import Template

    return Template.from_json(synth.template())
