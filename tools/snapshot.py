"""Record what every stack registers, sorted, so two versions of the program can be diffed.

    python -m tools.snapshot OUT_DIR [STACK ...]     # default: every stack file's stack

Writes ``OUT_DIR/<stack>.json``: the resources (type, name, parent's name, protect, inputs) sorted by
their JSON, and the stack outputs. A pure restructuring of the program leaves every file
byte-identical: ``diff -r before/ after/`` prints nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tools.mockrun import run_program, stack_names


def snapshot(stack: str) -> dict[str, Any]:
    run = run_program(stack)
    names = {r.urn: r.name for r in run.resources}
    rows = [{"type": r.type, "name": r.name, "parent": names.get(r.parent) if r.parent else None, "protect": r.protect,
             "inputs": r.inputs} for r in run.resources]
    rows.sort(key=lambda row: json.dumps(row, sort_keys=True))
    return {"resources": rows, "outputs": run.outputs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.snapshot", description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path, help="folder for <stack>.json (created if missing)")
    parser.add_argument("stacks", nargs="*", help="stacks to record (default: every Pulumi.<stack>.yaml)")
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for stack in args.stacks or stack_names():
        document = snapshot(stack)
        (args.out_dir / f"{stack}.json").write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
        print(f"{stack}: {len(document['resources'])} resources -> {args.out_dir / f'{stack}.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
