"""CLI of the codec generator: `python -m panda.net.kafka.codegen [--specs DIR] [--out DIR]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from panda.net.kafka.codegen import default_output_dir, default_spec_dir, write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m panda.net.kafka.codegen")
    parser.add_argument("--specs", type=Path, default=None,
                        help="message spec dir (default: $KAFKA_MESSAGES_DIR or "
                             "../shared/kafka-protocol/messages)")
    parser.add_argument("--out", type=Path, default=None, help="output package dir")
    args = parser.parse_args(argv)
    specs = args.specs or default_spec_dir()
    if not specs.is_dir():
        print(f"codegen: spec dir {specs} not found", file=sys.stderr)
        return 2
    paths = write(specs, args.out or default_output_dir())
    print(f"codegen: wrote {len(paths)} modules from {specs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
