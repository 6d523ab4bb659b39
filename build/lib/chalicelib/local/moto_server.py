"""``python -m chalicelib.local.moto_server PORT``: moto's server on loopback, ending with the stack that started it."""

from __future__ import annotations

import sys

from chalicelib.local.processes import die_with_parent


def main(argv: list[str]) -> int:
    die_with_parent()
    from moto.server import main as moto_main

    moto_main(["-H", "127.0.0.1", "-p", argv[0]])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
