"""Derive the set of taggable AWS resource types from the installed pulumi-aws SDK.

The policy pack's own virtualenv does not carry pulumi-aws (120 MB), so the pack ships the list as
``policies/rules/taggable_types.json``; ``test_pack.py`` checks it against the pulumi-aws
pinned in requirements.txt. After upgrading pulumi-aws, regenerate it:

    .venv/bin/python -m tests.policies.derive_taggable_types --write
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pathlib
import re

TARGET = pathlib.Path(__file__).resolve().parents[2] / "policies" / "rules" / "taggable_types.json"

_CLASS = re.compile(r"^class (\w+)\(pulumi\.CustomResource\):", re.M)
_TOKEN = re.compile(r"super\(\w+, __self__\)\.__init__\(\s*'(aws:[^']+)'")
_TAGS_PARAM = re.compile(r"\btags: ")


def derive() -> list[str]:
    """Type tokens of every pulumi-aws custom resource whose constructor takes ``tags``."""
    spec = importlib.util.find_spec("pulumi_aws")
    if spec is None or spec.origin is None:
        raise RuntimeError("pulumi_aws is not installed; install requirements.txt first")
    root = pathlib.Path(spec.origin).parent
    tokens: set[str] = set()
    for source in root.rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        starts = [m.start() for m in _CLASS.finditer(text)]
        for i, start in enumerate(starts):
            body = text[start : starts[i + 1] if i + 1 < len(starts) else len(text)]
            init = body.find("def _internal_init(")
            token = _TOKEN.search(body)
            if init < 0 or token is None:
                continue
            signature = body[init : body.find("):", init)]
            if _TAGS_PARAM.search(signature):
                tokens.add(token.group(1))
    return sorted(tokens)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {TARGET.name} (else print a summary)")
    args = parser.parse_args()
    tokens = derive()
    if args.write:
        TARGET.write_text(json.dumps(tokens, indent=0) + "\n", encoding="utf-8")
        print(f"wrote {len(tokens)} taggable types to {TARGET}")
    else:
        print(f"{len(tokens)} taggable types; run with --write to update {TARGET}")


if __name__ == "__main__":
    main()
