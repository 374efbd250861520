"""Offline preview: what ``pulumi up`` would create for a stack, without AWS or the Pulumi CLI.

    python -m tools.preview --stack dev           # a tree of components and resources + counts
    python -m tools.preview --stack prod --json   # one JSON document
    python -m tools.preview --stack dev --catalog-store DIR   # with a local copy of the catalog store

Runs the program under Pulumi's mocks with the stack's real config (``tools.mockrun``), then judges the
recorded resources with the policy pack through its gRPC analyzer interface, as ``pulumi preview
--policy-pack policies`` would.

Exit codes: 0 success, 1 a mandatory policy violation, 2 invalid stack configuration or model catalog
(``SettingsError``), or a stack without a policy configuration (the reason on stderr, one line per problem).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from tools.mockrun import STACKS, ProgramRun, RecordedResource, run_program
from tools.stack_config import StackConfigError

EXIT_OK, EXIT_VIOLATION, EXIT_CONFIG = 0, 1, 2


def _default_policy_check(run: ProgramRun) -> list[dict[str, Any]]:
    """The policy pack's verdict on the stack; an empty list until the pack exists."""
    try:
        from tools.policy_runner import run_policy_pack
    except ImportError:
        return []
    return run_policy_pack([r.as_dict() for r in run.resources], stack=run.stack)


def render_tree(run: ProgramRun) -> str:
    """Components with their children indented below them; type and logical name on each line."""
    children: dict[str | None, list[RecordedResource]] = {}
    urns = {r.urn for r in run.resources}
    for resource in run.resources:
        parent = resource.parent if resource.parent in urns else None
        children.setdefault(parent, []).append(resource)
    lines = [f"stack {run.stack}"]

    def walk(parent: str | None, depth: int) -> None:
        for resource in sorted(children.get(parent, []), key=lambda r: (r.custom, r.type, r.name)):
            marker = "+ " if resource.custom else "■ "
            flags = "  [protected]" if resource.protect else ""
            lines.append(f"{'    ' * depth}{marker}{resource.type}  {resource.name}{flags}")
            walk(resource.urn, depth + 1)

    walk(None, 1)
    return "\n".join(lines)


def render_counts(run: ProgramRun) -> str:
    counts = Counter(r.type for r in run.resources)
    width = max(map(len, counts), default=0)
    rows = [f"  {token:<{width}}  {n:>3}" for token, n in sorted(counts.items())]
    return "\n".join(["resources by type:", *rows, f"  {'total':<{width}}  {sum(counts.values()):>3}"])


def render_violations(violations: Sequence[dict[str, Any]]) -> str:
    if not violations:
        return "policy violations: none"
    rows = [f"  [{v.get('enforcement', '?')}] {v.get('policy')}: {v.get('name') or v.get('urn') or 'stack'}: "
            f"{v.get('message')}" for v in violations]
    return "\n".join([f"policy violations: {len(violations)}", *rows])


def as_document(run: ProgramRun, violations: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The preview as one JSON-able document, in an order that does not depend on the order in which the
    program's outputs resolved (which changes between runs): resources by type, name and parent,
    violations by policy, resource and message. ``main`` writes it with sorted keys, so two previews of
    the same program are byte-identical and their ``diff`` shows only what changed."""
    names: dict[str | None, str] = {r.urn: r.name for r in run.resources}
    resources = [{"type": r.type, "name": r.name, "parent": names.get(r.parent), "inputs": r.inputs}
                 for r in run.resources]
    return {
        "stack": run.stack,
        "resources": sorted(resources, key=lambda r: (r["type"], r["name"], r["parent"] or "")),
        "outputs": run.outputs,
        "violations": sorted(violations, key=lambda v: json.dumps(
            [v.get("policy"), v.get("urn") or v.get("name") or "", v.get("message")], default=str)),
    }


def main(argv: Sequence[str] | None = None, *,
         policy_check: Callable[[ProgramRun], list[dict[str, Any]]] = _default_policy_check,
         program=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.preview", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True, choices=STACKS, help="the stack to preview")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the tree")
    parser.add_argument("--no-policy", action="store_true", help="skip the policy pack")
    parser.add_argument("--catalog-store", metavar="DIR",
                        help="a local copy of the catalog store (the provisioning API's entries; aws s3 sync "
                             "s3://<registry bucket>/catalog/pipelines/ DIR), read with the catalog file")
    args = parser.parse_args(argv)
    if args.catalog_store is None:
        return _preview(args, policy_check, program)
    from program.catalog import STORE_VARIABLE

    before = os.environ.get(STORE_VARIABLE)
    os.environ[STORE_VARIABLE] = args.catalog_store
    try:
        return _preview(args, policy_check, program)
    finally:
        if before is None:
            os.environ.pop(STORE_VARIABLE, None)
        else:
            os.environ[STORE_VARIABLE] = before


def _preview(args: argparse.Namespace, policy_check: Callable[[ProgramRun], list[dict[str, Any]]], program) -> int:

    from program.settings import SettingsError
    from tools.policy_runner import PolicyConfigError

    try:
        run = run_program(args.stack) if program is None else run_program(args.stack, program=program)
    except (SettingsError, StackConfigError) as error:
        for line in error.problems:
            print(f"error: stack {args.stack}: {line}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        violations = [] if args.no_policy else policy_check(run)
    except PolicyConfigError as error:
        for line in error.errors:
            print(f"error: stack {args.stack}: {line}", file=sys.stderr)
        return EXIT_CONFIG

    if args.json:
        json.dump(as_document(run, violations), sys.stdout, indent=2, sort_keys=True, default=str)
        sys.stdout.write("\n")
    else:
        print(render_tree(run))
        print()
        print(render_counts(run))
        print()
        print(render_violations(violations))
    mandatory = [v for v in violations if v.get("enforcement") == "mandatory"]
    return EXIT_VIOLATION if mandatory else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
