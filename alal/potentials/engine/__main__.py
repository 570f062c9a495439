"""``python -m alal.potentials.engine``: build the compiled kernels now (instead of on first use) and report."""

import sys

from alal.potentials.engine import native


def main() -> int:
    try:
        path = native.build(verbose=True)
        native.load()
    except native.NativeUnavailable as exc:
        print(f"alal engine: compiled kernels unavailable; the torch backend will be used.\n{exc}", file=sys.stderr)
        return 1
    print(f"alal engine: compiled kernels ready: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
