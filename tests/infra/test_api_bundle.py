"""The API function's package as the synth stages it: small, with the boto3 and botocore the tests run, a
botocore that still reaches every service the code calls, and an ``import app`` that loads only the API's frame.
Each check runs a Python that sees only the package (as Lambda's does)."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from infra.constructs.api_package import SERVICES, unpacked

ROOT = Path(__file__).resolve().parents[2]
MAX_MB = 15
# what ``import app`` may load beyond the standard library; boto3 (and s3transfer) load with the first S3 or SQS
# client, python-telegram-bot with the webhook, cryptography with a signed CDN URL
ALLOWED = {"app", "chalicelib", "chalice", "aws_lambda_powertools", "pynamodb", "botocore", "urllib3", "dateutil",
           "jmespath", "six", "certifi", "typing_extensions"}


def _asset(synth, resource: dict, prop: str) -> Path:
    key = resource["Properties"][prop]["Key"]
    [path] = synth.outdir.glob(f"asset.{Path(key).stem}*")
    return path


@pytest.fixture(scope="module")
def package(synth, tmp_path_factory) -> dict:
    resources = synth.template()["Resources"]
    [layer] = [r for r in resources.values() if r["Type"] == "AWS::Serverless::LayerVersion"]
    layer_zip, app_zip = _asset(synth, layer, "ContentUri"), _asset(synth, resources["APIHandler"], "CodeUri")
    return {"layer": layer_zip, "app": app_zip, "paths": unpacked(layer_zip, app_zip, tmp_path_factory.mktemp("pkg"))}


def _run_in_package(package: dict, code: str) -> dict:
    env = {"PATH": os.environ["PATH"], "AWS_DEFAULT_REGION": "us-east-1", "PYTHONDONTWRITEBYTECODE": "1"}
    script = f"import json, sys; sys.path[:0] = sys.argv[1:]; {code}"
    result = subprocess.run([sys.executable, "-I", "-S", "-c", script, *map(str, package["paths"])], env=env,
                            capture_output=True, text=True, cwd=package["paths"][0])
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_api_package_stays_within_its_size(package):
    size = package["layer"].stat().st_size + package["app"].stat().st_size
    assert size <= MAX_MB * 1024 * 1024, f"{size / 2**20:.1f} MB"


def test_the_package_bundles_the_boto3_and_botocore_the_tests_run(package):
    pins = dict(re.findall(r"^(boto3|botocore)==(\S+)", (ROOT / "requirements.txt").read_text(), re.M))
    bundled = _run_in_package(package, "import boto3, botocore; print(json.dumps("
                                       "{'boto3': boto3.__version__, 'botocore': botocore.__version__}))")
    assert bundled == pins == {name: importlib.metadata.version(name) for name in ("boto3", "botocore")}


def test_the_slimmed_botocore_reaches_every_service_the_code_calls(package):
    called = set(re.findall(r'client\("([a-z0-9-]+)"', " ".join(
        path.read_text() for path in (ROOT / "chalicelib").rglob("*.py")))) | {"dynamodb"}  # PynamoDB's
    assert called <= SERVICES
    made = _run_in_package(package, "import boto3; "
                                    f"print(json.dumps(sorted(boto3.client(s).meta.service_model.service_name "
                                    f"for s in {sorted(SERVICES)!r})))")
    assert made == sorted(SERVICES)


def test_importing_app_from_the_package_loads_only_the_allowed_packages(package):
    loaded = _run_in_package(package, "import app; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} "
                                      "- set(sys.stdlib_module_names) - {'__main__'})))")
    assert set(loaded) <= ALLOWED, sorted(set(loaded) - ALLOWED)
    assert "chalicelib" in loaded
