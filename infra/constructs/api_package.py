"""The API function's package, kept small and quick to import: Chalice's managed layer without botocore's models
of the AWS services no function calls, and both zips with their modules compiled.

boto3 and botocore are bundled (pinned in requirements.txt to the versions the tests run), not the Lambda
runtime's: the runtime's change under us and PynamoDB pulls botocore in anyway. botocore is 16 MB of the zipped
layer, nearly all of it service models (``botocore/data/<service>/``), of which the functions use four.
Lambda's code directories are read-only, so Python cannot cache the bytecode it compiles: without compiled
modules in the zips, every cold start compiles each module it imports again. They are compiled by the Python that
synthesizes (Chalice gives the functions that Python's runtime), unchecked against their sources, which never change.
"""

from __future__ import annotations

import compileall
import py_compile
import re
import shutil
import tempfile
import zipfile
from pathlib import Path

from chalice.cdk import Chalice

# what the API and schedule functions reach: PynamoDB (dynamodb), storage (s3), the jobs queue (sqs), secrets,
# the event bus (events: the schedule that delivers the outbox)
SERVICES = frozenset({"dynamodb", "s3", "sqs", "secretsmanager", "events"})
_MODEL = re.compile(r"(?:^|/)botocore/data/([^/]+)/")


def shape(path: Path, *, shown_as: str, keep: frozenset[str] = SERVICES) -> None:
    """Rewrite the zip at ``path``: without the service models outside ``keep`` (botocore's own data stays), with
    every module compiled (tracebacks name it under ``shown_as``, where Lambda puts the zip)."""
    with tempfile.TemporaryDirectory() as work:
        tree = Path(work) / "tree"
        with zipfile.ZipFile(path) as source:
            source.extractall(tree, members=[e for e in source.namelist() if _kept(e, keep)])
        compileall.compile_dir(tree, ddir=shown_as, quiet=2, workers=0,
                               invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        slim = Path(shutil.make_archive(str(Path(work) / "slim"), "zip", tree))
        shutil.move(slim, path)


def _kept(name: str, keep: frozenset[str]) -> bool:
    model = _MODEL.search(name)
    return model is None or model[1] in keep


class SlimChalice(Chalice):
    """Chalice's construct, with its zips shaped between packaging and staging as assets."""

    def _package_app(self) -> None:  # the construct's packaging step (chalice/cdk/construct.py)
        super()._package_app()
        out = Path(self._sam_package_dir)
        shape(out / "deployment.zip", shown_as="/var/task")
        if (out / "layer-deployment.zip").exists():
            shape(out / "layer-deployment.zip", shown_as="/opt")


def unpacked(layer: Path, app: Path, dest: Path) -> list[Path]:
    """The package laid out as Lambda does (the app code in the task directory, the layer's ``python/`` under
    /opt); returns the directories a Python that sees only the package needs on its path."""
    task, opt = dest / "task", dest / "opt"
    with zipfile.ZipFile(app) as code, zipfile.ZipFile(layer) as deps:
        code.extractall(task)
        deps.extractall(opt)
    return [task, *sorted((opt / "python" / "lib").glob("python3*/site-packages")), opt / "python"]
