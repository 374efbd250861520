"""The README's `pulumi config set` commands work: what the CLI stores passes its type checks and the
program's settings. Account ids stored as numbers are accepted; numbers that lost a leading 0 are not."""

from __future__ import annotations

import re
import shutil
from collections import defaultdict

import pytest

from program.settings import KEYS, Settings, SettingsError
from tests.cli_config import ConfigSet, apply, parse_config_set
from tools import stack_config
from tools.mockrun import ROOT

README = ROOT / "README.md"
DEFAULT_STACK = "dev"  # the stack the README's deploy section selects


def _all_readme_commands() -> list[tuple[str, str]]:
    """(project, command) for every `pulumi config set` in the README: lines of code blocks (after
    `cd bootstrap` in a block they set the bootstrap program's config) and inline code spans (the
    bootstrap program's when the key is one of its keys and not the program's)."""
    from bootstrap.settings import KEYS as BOOTSTRAP_KEYS

    text = README.read_text()
    commands: list[tuple[str, str]] = []
    for block in re.findall(r"```[^\n]*\n(.*?)```", text, flags=re.S):
        project = "mlops"
        for line in (raw.strip() for raw in block.splitlines()):
            if line.startswith("cd "):
                project = "mlops-bootstrap" if line.split()[1].rstrip("/") == "bootstrap" else "mlops"
            elif line.startswith("pulumi config set"):
                commands.append((project, line))
    outside = re.sub(r"```.*?```", "", text, flags=re.S)
    for command in re.findall(r"`(pulumi config set [^`]*)`", outside):
        key = re.sub(r"<[^>]*>", "x", command).split()[-2].split("[")[0].strip("'")
        own = key in BOOTSTRAP_KEYS and key not in KEYS
        commands.append(("mlops-bootstrap" if own else "mlops", command))
    return commands


def readme_commands() -> list[str]:
    """The README's `pulumi config set` commands for this program (not the bootstrap program's)."""
    return [command for project, command in _all_readme_commands() if project == "mlops"]


def test_the_readme_bootstrap_commands_set_known_bootstrap_keys():
    from bootstrap.settings import KEYS as BOOTSTRAP_KEYS

    bootstrap = [command for project, command in _all_readme_commands() if project == "mlops-bootstrap"]
    assert bootstrap, "the README's bootstrap steps set no config"
    for command in bootstrap:
        parsed = parse_config_set(re.sub(r"<[^>]*>", "x", command))
        assert parsed.key.split(":", 1)[1] in BOOTSTRAP_KEYS, command


def _is_template(command: str) -> bool:
    return "<" in command  # `pulumi config set sourceConnectionArn <arn>` shows the form, not a value


def settings_after(stack: str, commands: list[ConfigSet], root=ROOT) -> Settings:
    """The stack's settings after ``commands``, through the CLI's storage and type checks."""
    values = apply(stack_config.read_stack_values(stack, root), commands)
    config = stack_config.load_stack_config(stack, root, stack_values=values)
    raw = {key.split(":", 1)[1]: value for key, value in config.items() if key.startswith("mlops:")}
    return Settings.from_raw(raw, stack=stack)


def test_the_readme_documents_the_account_id_command():
    assert "pulumi config set --path 'allowedAccountIds[0]' 123456789012" in readme_commands()


def test_every_concrete_readme_command_gives_a_valid_stack():
    by_stack: dict[str, list[ConfigSet]] = defaultdict(list)
    for command in readme_commands():
        if not _is_template(command):
            parsed = parse_config_set(command)
            by_stack[parsed.stack or DEFAULT_STACK].append(parsed)
    assert by_stack[DEFAULT_STACK], "the README sets no config for its stack"
    for stack, commands in by_stack.items():
        settings = settings_after(stack, commands)
        # what the commands set is what the program reads (the last of several settings of the key wins)
        accounts = [c for c in commands if c.key == "mlops:allowedAccountIds" and c.path == (0,)]
        if accounts:
            assert settings.account_id == str(accounts[-1].value)


@pytest.mark.parametrize("command", [c for c in readme_commands() if _is_template(c)])
def test_template_commands_name_known_keys(command):
    key = re.sub(r"<[^>]*>", "x", command)
    parsed = parse_config_set(key)
    assert parsed.key.startswith("mlops:") and parsed.key.split(":", 1)[1] in KEYS, command


@pytest.mark.parametrize(
    ("value", "account"),
    [("123456789012", "123456789012"),  # stored as the number 123456789012
     ("012345678901", "012345678901")],  # a leading zero: the CLI stores a string
)
def test_account_ids_as_the_cli_stores_them_are_accepted(value, account):
    command = parse_config_set(f"pulumi config set --path 'allowedAccountIds[0]' {value}")
    assert isinstance(command.value, int) == (value[0] != "0")
    assert settings_after("dev", [command]).account_id == account


def test_a_number_that_lost_its_leading_zero_is_refused_with_what_to_do():
    command = parse_config_set("pulumi config set --path 'allowedAccountIds[0]' 12345678901")
    with pytest.raises(SettingsError) as error:
        settings_after("dev", [command])
    (problem,) = error.value.problems
    assert problem.startswith("mlops:allowedAccountIds = '[12345678901]' is invalid")
    assert "the number 12345678901 has 11 digits" in problem
    assert '"012345678901"' in problem and "pulumi config set --path 'allowedAccountIds[<index>]' 012345678901" in problem


def test_an_unquoted_id_with_a_leading_zero_in_the_stack_file_is_refused(tmp_path):
    """YAML (as the CLI reads it) turns an unquoted 012345678901 into the number 12345678901."""
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    text = (ROOT / "Pulumi.dev.yaml").read_text()
    assert '    - "111111111111"\n' in text
    (tmp_path / "Pulumi.dev.yaml").write_text(text.replace('    - "111111111111"\n', "    - 012345678901\n", 1))
    with pytest.raises(SettingsError, match="the number 12345678901 has 11 digits"):
        settings_after("dev", [], root=tmp_path)
    # quoted, it is a string with its zero
    (tmp_path / "Pulumi.dev.yaml").write_text(text.replace('    - "111111111111"\n', '    - "012345678901"\n', 1))
    assert settings_after("dev", [], root=tmp_path).account_id == "012345678901"


@pytest.mark.parametrize("key", ["allowedAccountIds", "notificationEmails"])
def test_the_command_a_missing_list_key_suggests_works(key):
    """The hint in "mlops:<key> is missing" is a command that, filled in, gives a valid stack."""
    raw = {k.split(":", 1)[1]: v for k, v in stack_config.load_stack_config("dev", ROOT).items()
           if k.startswith("mlops:") and k != f"mlops:{key}"}
    with pytest.raises(SettingsError) as error:
        Settings.from_raw(raw, stack="dev")
    (hint,) = re.findall(r"`(pulumi config set [^`]*)`", error.value.problems[0])
    sample = {"allowedAccountIds": "123456789012", "notificationEmails": "ml-team@example.com"}[key]
    values = {k: v for k, v in stack_config.read_stack_values("dev", ROOT).items() if k != f"mlops:{key}"}
    command = parse_config_set(hint.replace("<value>", sample))
    config = stack_config.load_stack_config("dev", ROOT, stack_values=apply(values, [command]))
    settings = Settings.from_raw({k.split(":", 1)[1]: v for k, v in config.items() if k.startswith("mlops:")},
                                 stack="dev")
    assert sample in (settings.allowed_account_ids + settings.notification_emails)
