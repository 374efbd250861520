"""The offline preview reads and type-checks the stack's config as `pulumi preview` does, from the same
declarations in Pulumi.yaml, with the CLI's wording, every problem at once (exit 2, one line each)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import yaml

from tools import stack_config
from tools.mockrun import ROOT, STACKS
from tools.stack_config import CliLoader, StackConfigError, config_string


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yes", "yes"), ("on", "on"), ("No", "No"),  # YAML 1.1 booleans are strings for the CLI
        ("true", True), ("False", False),
        ("012345678901", 12345678901.0),  # not octal (8, 9), so a float: the leading 0 is gone
        ("14", 14), ("0755", 493), ("0o17", 15), ("0x1F", 31), ("1_000", 1000), ("+1", 1),
        ("1e3", 1000.0), (".5", 0.5), ("08", 8.0),
        ("2024-01-02", "2024-01-02"), ("1:30", "1:30"), ("1.2.3", "1.2.3"), ('"12"', "12"),
        ("~", None), ("null", None),
    ],
)
def test_yaml_scalars_are_read_as_the_cli_reads_them(text, expected):
    value = yaml.load(f"v: {text}", Loader=CliLoader)["v"]
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("ml.m5.large", "ml.m5.large"), (14, "14"), (True, "true"), (0.85, "0.85"), (12345678901.0, "12345678901"),
     (["111111111111"], '["111111111111"]'), ([123456789012], "[123456789012]"),
     ([{"environment": "qa", "approval": True}], '[{"approval":true,"environment":"qa"}]')],
)
def test_values_reach_the_program_as_the_cli_passes_them(value, expected):
    assert config_string(value) == expected


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_file_passes_the_cli_type_checks(stack):
    stack_config.load_stack_config(stack, ROOT)


def _project_with(tmp_path, stack_text: str, project_text: str | None = None):
    (tmp_path / "Pulumi.yaml").write_text(project_text or (ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.dev.yaml").write_text(stack_text)
    return tmp_path


def _with(**settings: str) -> str:
    """The dev stack file with some of its lines replaced (``key="yaml text"``)."""
    lines = (ROOT / "Pulumi.dev.yaml").read_text().splitlines()
    out: list[str] = []
    replacing = False
    for line in lines:
        if replacing and line.startswith("    "):
            continue  # the replaced value's list items or fields
        key = line.strip().split(":", 2)[1] if line.startswith("  mlops:") else None
        replacing = key in settings
        out.append(f"  mlops:{key}: {settings.pop(key)}" if key in settings else line)
    out += [f"  mlops:{key}: {value}" for key, value in settings.items()]
    return "\n".join(out) + "\n"


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ({"protect": "yes"}, "Stack 'dev' with configuration key 'protect' must be of type 'boolean'"),
        ({"trainingInstanceCount": "two"}, "Stack 'dev' with configuration key 'trainingInstanceCount' must be "
                                           "of type 'integer'"),
        ({"trainingInstanceCount": "1.5"}, "key 'trainingInstanceCount' must be of type 'integer'"),
        ({"notificationEmails": "ml-dev@example.com"}, "key 'notificationEmails' must be of type 'array<string>'"),
        ({"notificationEmails": "[42]"}, "key 'notificationEmails' must be of type 'array<string>'"),
        ({"allowedAccountIds": "[abc]"}, "key 'allowedAccountIds' must be of type 'array<integer>'"),
        ({"accountResources": "[true]"}, "key 'accountResources' must be of type 'boolean'"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_with_the_clis_words(tmp_path, setting, expected):
    root = _project_with(tmp_path, _with(**setting))
    with pytest.raises(StackConfigError) as error:
        stack_config.load_stack_config("dev", root)
    (problem,) = error.value.problems
    assert expected in problem


@pytest.mark.parametrize(
    "setting",
    [{"logRetentionDays": '"14"'},  # a quoted integer: the CLI's integer check accepts digit strings
     {"protect": '"true"'}, {"allowedAccountIds": '["111111111111", 222222222222]'}, {"owner": "42"}],
)
def test_what_the_cli_accepts_passes(tmp_path, setting):
    stack_config.load_stack_config("dev", _project_with(tmp_path, _with(**setting)))


def test_untyped_keys_are_not_checked(tmp_path):
    """promotionTargets is an untyped project `value` (Pulumi.yaml cannot type a list of objects)."""
    config = stack_config.load_stack_config("dev", _project_with(tmp_path, _with(promotionTargets="42")))
    assert config["mlops:promotionTargets"] == "42"


def test_a_default_of_the_wrong_type_is_refused(tmp_path):
    project = (ROOT / "Pulumi.yaml").read_text().replace("    default: 30\n", "    default: thirty\n", 1)
    root = _project_with(tmp_path, (ROOT / "Pulumi.dev.yaml").read_text(), project)
    with pytest.raises(StackConfigError) as error:
        stack_config.load_stack_config("dev", root)
    assert "The default value specified for configuration key 'logRetentionDays' is not of the expected type " \
           "'integer'" in error.value.problems


def test_the_preview_reports_every_type_problem_and_exits_2(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(ROOT, project, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "container",
                                                                 "tests", "docs", "integration", "data"))
    (project / "Pulumi.dev.yaml").write_text(_with(protect="yes", trainingInstanceCount="two",
                                                   notificationEmails="ml-dev@example.com"))
    result = subprocess.run([sys.executable, "-m", "tools.preview", "--stack", "dev"], cwd=project,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "error: stack dev: Stack 'dev' with configuration key 'notificationEmails' must be of type 'array<string>'",
        "error: stack dev: Stack 'dev' with configuration key 'protect' must be of type 'boolean'",
        "error: stack dev: Stack 'dev' with configuration key 'trainingInstanceCount' must be of type 'integer'",
    ]
