"""The program's shape, checked: one way from config to components, one module for cross-stack names."""

from __future__ import annotations

import ast
import subprocess
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NAMES_MODULE = ROOT / "components" / "names.py"
PROGRAM_CODE = sorted([*(ROOT / "components").rglob("*.py"), *(ROOT / "program").rglob("*.py"), ROOT / "__main__.py"])

# An ARN formatted from placeholders (f"arn:aws:iam::{account}:role/...") or taken apart by hand.
# Step Functions integration ARNs (arn:aws:states:::sagemaker:...) name an API, not a resource.
ARN_BUILT_BY_HAND = re.compile(r"""f["'][^"']*arn:aws:(?!states:::)[^"']*\{|\.split\(["']:["']\)""")
# Physical names that one stack or component uses to reach another's resources.
CROSS_STACK_SUFFIXES = re.compile(r"""prefix\}-(endpoint|models|endpoint-model|endpoint-tester|promotion-tests)["']""")
# Another stack's prefix rebuilt from the project and an environment.
OTHER_STACK_PREFIX = re.compile(r"""f["']\{[a-z_.]*project\}-""")


def _is_logical_name(line: str) -> bool:
    """``f"{names.prefix}-endpoint",`` alone on its line: a component's logical (URN) name, not AWS's."""
    stripped = line.strip()
    return stripped.startswith(('f"', "f'")) and stripped.endswith(('",', "',")) and stripped.count('"') == 2


def _imports(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


@pytest.mark.parametrize("path", sorted((ROOT / "components").rglob("*.py")), ids=lambda p: p.name)
def test_components_import_no_settings_and_no_composition(path):
    assert not {m for m in _imports(path) if m == "program" or m.startswith("program.")}, \
        f"{path.relative_to(ROOT)} imports the program package: components take a StackContext and Args"


@pytest.mark.parametrize("path", [p for p in PROGRAM_CODE if p != NAMES_MODULE], ids=lambda p: p.name)
def test_only_the_names_module_builds_arns_and_cross_stack_names(path):
    text = path.read_text()
    for pattern in (ARN_BUILT_BY_HAND, CROSS_STACK_SUFFIXES, OTHER_STACK_PREFIX):
        found = [line.strip() for line in text.splitlines() if pattern.search(line) and not _is_logical_name(line)]
        assert not found, f"{path.relative_to(ROOT)} builds a name the names module owns: {found}"


def test_the_checks_catch_what_they_are_for():
    assert ARN_BUILT_BY_HAND.search('f"arn:aws:iam::{account}:role/x"')
    assert ARN_BUILT_BY_HAND.search('role_arn.split(":")[4]')
    assert not ARN_BUILT_BY_HAND.search('f"arn:aws:states:::sagemaker:{action}Endpoint"')
    assert CROSS_STACK_SUFFIXES.search('f"{settings.prefix}-endpoint"')
    assert not CROSS_STACK_SUFFIXES.search('f"{name}-endpoint"')  # a logical name, not a physical one
    assert OTHER_STACK_PREFIX.search('f"{settings.project}-dev-models"')


def test_main_is_a_few_lines():
    lines = [line for line in (ROOT / "__main__.py").read_text().splitlines() if line.strip()]
    assert len(lines) <= 6, lines



@pytest.mark.parametrize("path", sorted((ROOT / "components").rglob("*.py")), ids=lambda p: p.name)
def test_no_component_module_is_over_400_lines(path):
    assert len(path.read_text().splitlines()) <= 430, f"{path.relative_to(ROOT)}: split it by concern"


def _layout_table() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Repository layout", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| (`[^|]+`) \|", section, flags=re.M)


def test_repository_layout_table_matches_the_tree():
    listed = [path for cell in _layout_table() for path in re.findall(r"`([^`]+)`", cell)]
    for path in listed:
        if "<" not in path:
            assert (ROOT / path.rstrip("/")).exists(), f"README layout lists {path}, which does not exist"
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    top = {p.split("/", 1)[0] + ("/" if "/" in p else "") for p in tracked}
    described = {p.split("/", 1)[0] + ("/" if "/" in p else "") for p in listed}
    undocumented = sorted(t for t in top - described
                          if t not in {".gitignore", "Makefile", "README.md", "pytest.ini", "Pulumi.yaml"}
                          and not t.startswith(("Pulumi.", "requirements", "pyproject", ".ci/", ".github/")))
    assert undocumented == [], f"top-level paths missing from the README's repository layout: {undocumented}"
