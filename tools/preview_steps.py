"""What a `pulumi preview --json` would change, as a comparable list, and the check that an update still
does exactly what was approved.

    python3 tools/preview_steps.py steps PREVIEW.json > steps.json      # the approved changes
    python3 tools/preview_steps.py compare APPROVED_STEPS.json PREVIEW.json

The promotion previews a target stack with the promoted package before its manual approval and keeps
the steps as an artifact; after the approval the deploy previews again and refuses to run `pulumi up`
when the two differ (someone changed the stack, the program or the package in between). Pulumi's own
update plans (`--save-plan`/`--plan`) would do this too, but are still a public preview with known corner
cases, so the comparison is explicit here. Stdlib only: it runs in the deploy build before anything
else is installed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

UNCHANGED = {"same", "read"}


def _step_objects(document: Any) -> Iterator[dict[str, Any]]:
    """Every object with an ``op`` and a ``urn`` (the preview's steps), wherever the format nests them."""
    if isinstance(document, dict):
        if isinstance(document.get("op"), str) and isinstance(document.get("urn"), str):
            yield document
        for value in document.values():
            yield from _step_objects(value)
    elif isinstance(document, list):
        for value in document:
            yield from _step_objects(value)


def changes(preview: Any) -> list[dict[str, Any]]:
    """The steps that change something: operation, resource URN and the properties that differ."""
    found = set()
    for step in _step_objects(preview):
        if step["op"] in UNCHANGED:
            continue
        diffs = step.get("diffs") or sorted((step.get("detailedDiff") or {}).keys())
        found.add((step["op"], step["urn"], tuple(sorted(str(d) for d in diffs))))
    return [{"op": op, "urn": urn, "diffs": list(diffs)} for op, urn, diffs in sorted(found, key=lambda s: (s[1], s[0]))]


def compare(approved: list[dict[str, Any]], current: list[dict[str, Any]]) -> list[str]:
    """One line per difference between the approved changes and the ones the update would make now."""
    as_set = lambda steps: {(s["op"], s["urn"], tuple(s.get("diffs", []))) for s in steps}  # noqa: E731
    before, now = as_set(approved), as_set(current)
    lines = [f"not approved: {op} {urn} {list(diffs) or ''}".rstrip() for op, urn, diffs in sorted(now - before)]
    lines += [f"approved but no longer planned: {op} {urn} {list(diffs) or ''}".rstrip()
              for op, urn, diffs in sorted(before - now)]
    return lines


def _load(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise SystemExit(f"error: cannot read {path}: {error}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/preview_steps.py", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    steps = commands.add_parser("steps", help="print the changes of a `pulumi preview --json` document")
    steps.add_argument("preview")
    check = commands.add_parser("compare", help="exit 1 when a preview differs from the approved changes")
    check.add_argument("approved", help="the approved steps (output of `steps`)")
    check.add_argument("preview", help="the new `pulumi preview --json` document")
    args = parser.parse_args(argv)
    if args.command == "steps":
        json.dump(changes(_load(args.preview)), sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    approved = _load(args.approved)
    differences = compare(approved, changes(_load(args.preview)))
    if differences:
        print("the stack would change differently from the preview the approver saw; nothing was deployed. "
              "Start the promotion again to preview and approve the current changes:", file=sys.stderr)
        for line in differences[:50]:
            print(f"  {line}", file=sys.stderr)
        return 1
    print(f"the update matches the approved preview ({len(approved)} changes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
