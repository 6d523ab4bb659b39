"""The offline checks CI relies on: cdk-nag (AwsSolutions) clean and cfn-lint clean (synth time: bench/synth.py).

The session synth runs with no AWS credentials or account in the environment and no Docker engine on the
machine: passing here is the proof that ``make synth`` needs neither.
"""

from __future__ import annotations

import json

from cfnlint.api import ManualArgs, lint

NAG_PREFIX = "Annotation::AwsSolutions-"


def _acknowledgments(synth) -> dict[str, str]:
    metadata = json.loads((synth.outdir / "dev.metadata.json").read_text())
    return {
        f"{path} {rule}": reason
        for path, entries in metadata.items()
        for entry in entries
        if entry["type"] == "aws:cdk:acknowledged-rules"
        for rule, reason in entry["data"].items()
    }


def test_cdk_nag_finds_nothing_unacknowledged(synth):
    # GIVEN AwsSolutionsChecks as a policy-validation plugin of the app WHEN app.synth() ran
    violations = [
        v["ruleName"] for report in synth.validation_report()["pluginReports"] for v in report.get("violations", [])
    ]
    # THEN no rule fired that is not acknowledged (synth raises after writing the report otherwise)
    assert violations == []
    assert synth.error is None


def test_every_acknowledgment_names_a_rule_and_gives_a_reason(synth):
    acknowledgments = _acknowledgments(synth)
    assert acknowledgments  # the stack does acknowledge some findings: each must say why
    for where, reason in acknowledgments.items():
        assert NAG_PREFIX in where, where
        assert len(reason) > 30, where


def test_cfn_lint_finds_nothing(synth):
    matches = lint(synth.template_path.read_text(), config=ManualArgs(ignore_checks=["W3005"], regions=["us-east-1"]))
    assert [str(m) for m in matches] == []
