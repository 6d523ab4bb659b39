"""API package benchmark (issue 19): what ``chalice package`` builds for the API function (the layer of
requirements.txt and the app code, slimmed as the CDK app slims it), and how long ``import app`` takes from that
package alone (a Python that sees only it, as Lambda's does), against the goals: <= 15 MB zipped, <= 200 ms.
Run: ``.venv/bin/python bench/api_package.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MB = 1024 * 1024
GOAL_MB, GOAL_MS = 15, 200


def package(out: Path) -> tuple[Path, Path]:
    from chalice import api

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # chalice asks one for the role's service principal
    policy = out.parent / "policy.json"
    policy.write_text('{"Version": "2012-10-17", "Statement": []}')
    api.package_app(project_dir=str(ROOT), output_dir=str(out), stage="dev",
                    chalice_config={"automatic_layer": True, "autogen_policy": False, "iam_policy_file": str(policy)})
    layer = out / "layer-deployment.zip"
    app = out / "deployment.zip"
    try:
        from infra.constructs.api_package import shape
    except ImportError:  # a tree from before the shaping: measured as Chalice packages it
        return layer, app
    shape(layer, shown_as="/opt")
    shape(app, shown_as="/var/task")
    return layer, app


def by_package(layer: Path, top: int = 6) -> str:
    sizes: dict[str, int] = {}
    with zipfile.ZipFile(layer) as deps:
        for entry in deps.infolist():
            name = re.sub(r"^python/(lib/python[^/]+/site-packages/)?", "", entry.filename).split("/")[0]
            sizes[name] = sizes.get(name, 0) + entry.compress_size
    biggest = sorted(sizes.items(), key=lambda kv: -kv[1])[:top]
    return ", ".join(f"{name} {size / MB:.1f}" for name, size in biggest)


RUNTIME_SDK = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")


def runtime_sdk(dest: Path) -> Path:
    """What Lambda's Python runtime adds after the layers (/var/runtime): the SDK, here this venv's."""
    import importlib.util

    dest.mkdir()
    for name in RUNTIME_SDK:
        origin = Path(importlib.util.find_spec(name).origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (dest / source.name).symlink_to(source)
    return dest


def import_ms(paths: list[Path], runs: int) -> tuple[float, float, list[str]]:
    """``import app`` with only the package (and the runtime's SDK after it) on the path: min and median ms, and
    the top-level packages loaded."""
    # CPU time, not wall time: on a shared machine the wall clock also counts the waits for a core
    code = ("import sys; sys.path[:0] = sys.argv[1:]; import time; t = time.process_time(); import app; "
            "ms = 1000 * (time.process_time() - t); "
            "print(ms); print(' '.join(sorted({m.split('.')[0] for m in sys.modules} - set(sys.stdlib_module_names))))")
    env = {"PATH": os.environ["PATH"], "AWS_DEFAULT_REGION": "us-east-1", "PYTHONDONTWRITEBYTECODE": "1"}
    times, loaded = [], []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-I", "-S", "-c", code, *map(str, paths)], env=env,
                             capture_output=True, text=True, cwd=paths[0])
        if out.returncode:
            raise SystemExit(f"import app failed from the package alone:\n{out.stderr}")
        out = out.stdout.splitlines()
        times.append(float(out[0]))
        loaded = out[1].split()
    return min(times), statistics.median(times), loaded


def main() -> int:
    from infra.constructs.api_package import unpacked

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="prsnl-package-") as work:
        layer, app = package(Path(work) / "out")
        total = (layer.stat().st_size + app.stat().st_size) / MB
        print(f"package: layer {layer.stat().st_size / MB:.1f} MB + app {app.stat().st_size / MB:.1f} MB = "
              f"{total:.1f} MB zipped (goal <= {GOAL_MB} MB: {'met' if total <= GOAL_MB else 'MISSED'})")
        print(f"  largest in the layer (MB zipped): {by_package(layer)}")
        paths = [*unpacked(layer, app, Path(work) / "unpacked"), runtime_sdk(Path(work) / "runtime")]
        low, median, loaded = import_ms(paths, args.runs)
        print(f"import app from the package alone (CPU time): min {low:.0f} ms, median {median:.0f} ms of {args.runs} "
              f"(goal <= {GOAL_MS} ms: {'met' if low <= GOAL_MS else 'MISSED'})")
        print(f"  top-level packages loaded: {' '.join(loaded)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
