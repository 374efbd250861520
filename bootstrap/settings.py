"""Typed, validated settings of one bootstrap stack (one AWS account).

The same discipline as ``program/settings.py``, with the same parsers and key loop
(``program/shared.py``): every key is declared in ``bootstrap/Pulumi.yaml`` (type,
description, default) and in ``KEYS`` below (how it is parsed); ``BootstrapSettings.from_raw`` is a pure
function over the raw config strings and reports every problem at once, one line each, naming the key,
the bad value and what is allowed, before any resource exists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from program import config_values as shared

PROJECT = "mlops-bootstrap"
MAIN_PROJECT = "mlops"
"""The program this bootstrap prepares accounts for (the ``name`` in the repository's ``Pulumi.yaml``)."""
PULUMI_BACKENDS = ("none", "cloud", "s3")
# Names this program gives its own resources in every account (``mlops-deployer``, ``mlops-github-*``,
# ``mlops-pulumi-*``): an environment with one of these names would put them inside the deploy role's
# own ``mlops-<environment>-*`` scope.
RESERVED_ENVIRONMENTS = ("deployer", "github", "pulumi")

# GitHub: owner 1-39 characters (letters, digits, '-'), repository name letters, digits, '.', '_', '-'.
_GITHUB_REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
_OIDC_PROVIDER_ARN = re.compile(
    r"^arn:aws[a-z-]*:iam::\d{12}:oidc-provider/token\.actions\.githubusercontent\.com$")


class SettingsError(shared.ConfigError):
    """Bootstrap configuration is invalid. ``problems`` holds one line per bad key."""

    configuration = "bootstrap"


def _account(raw: str) -> str:
    """A 12-digit account id. ``pulumi config set --path`` stores digits as a number, which arrives
    here as its decimal text; an id with leading zeros must be quoted, so a shorter number is refused."""
    value = raw.strip()
    if not shared.ACCOUNT.match(value):
        raise shared.Invalid("a 12-digit AWS account id (quote ids with leading zeros: \"012345678901\")")
    return value


def _environments(raw: str) -> tuple[str, ...]:
    allowed = (f"a list of the program's environments deployed into this account, each "
               f"{shared.ENVIRONMENT_ALLOWED}, at least one, none repeated, none of {', '.join(RESERVED_ENVIRONMENTS)}")
    value = shared.json_value(raw, list, allowed)
    if not value:
        raise shared.Invalid(allowed)
    bad = [v for v in value
           if not isinstance(v, str) or not shared.ENVIRONMENT.match(v) or v in RESERVED_ENVIRONMENTS]
    if bad or len(set(value)) != len(value):
        raise shared.Invalid(allowed + (f"; {', '.join(map(repr, bad))} is not one" if bad else "; one is repeated"))
    return tuple(value)


_github_repository = shared.string_value(_GITHUB_REPOSITORY, "a GitHub repository as owner/name, or empty (no GitHub "
                                                             "roles)")
_github_oidc_provider = shared.string_value(_OIDC_PROVIDER_ARN, "the ARN of this account's existing GitHub OIDC "
                                                                "provider (arn:aws:iam::<account>:oidc-provider/"
                                                                "token.actions.githubusercontent.com), or empty "
                                                                "to create it")

KEYS: dict[str, shared.Key] = {
    "accountId": shared.Key(_account),
    "region": shared.Key(shared.region_name),
    "owner": shared.Key(shared.owner_name),
    "costCenter": shared.Key(shared.cost_center),
    "environments": shared.Key(_environments),
    "registryEnvironment": shared.Key(shared.environment_name),
    "registryAccountId": shared.Key(_account, optional=True),
    "githubRepository": shared.Key(_github_repository, optional=True),
    "githubOidcProviderArn": shared.Key(_github_oidc_provider, optional=True),
    "pulumiBackend": shared.Key(shared.one_of(PULUMI_BACKENDS)),
}


@dataclass(frozen=True)
class BootstrapSettings:
    stack: str
    account_id: str
    region: str
    owner: str
    cost_center: str
    environments: tuple[str, ...]
    """The program's environments (stacks) deployed into this account: the deploy role may manage theirs."""
    registry_environment: str
    registry_account_id: str
    """Where the registry stack runs the promotion (its deploy builds assume this account's deploy role)."""
    github_repository: str | None
    github_oidc_provider_arn: str | None
    pulumi_backend: str

    @property
    def promoted_environments(self) -> tuple[str, ...]:
        """Environments of this account that the registry's promotion deploys: every one. The registry's own
        too: its first stage deploys approved catalog packages (uploaded models) to the registry stack."""
        return self.environments

    @property
    def holds_registry(self) -> bool:
        return self.registry_environment in self.environments

    @property
    def tags(self) -> dict[str, str]:
        """Tags of every resource: Environment is the bootstrap stack (the account's role: tooling, prod, ...)."""
        return shared.resource_tags(environment=self.stack, project=MAIN_PROJECT, owner=self.owner,
                                    cost_center=self.cost_center)

    @classmethod
    def from_raw(cls, raw: Mapping[str, str | None], *, stack: str) -> BootstrapSettings:
        """Parse and validate raw config strings (``{"accountId": "111111111111", ...}``, no namespace)."""
        values, problems = shared.parse_keys(raw, KEYS, PROJECT)
        unknown = sorted(set(raw) - set(KEYS))
        problems.extend(f"{PROJECT}:{key} is not a known setting (known: {', '.join(KEYS)})" for key in unknown)
        if not problems:
            problems.extend(_cross_checks(values))
        if problems:
            raise SettingsError(problems)
        return cls(
            stack=stack,
            account_id=values["accountId"],
            region=values["region"],
            owner=values["owner"],
            cost_center=values["costCenter"],
            environments=values["environments"],
            registry_environment=values["registryEnvironment"],
            registry_account_id=values["registryAccountId"] or values["accountId"],
            github_repository=values["githubRepository"],
            github_oidc_provider_arn=values["githubOidcProviderArn"],
            pulumi_backend=values["pulumiBackend"],
        )


def _cross_checks(v: Mapping[str, Any]) -> list[str]:
    problems = []
    holds_registry = v["registryEnvironment"] in v["environments"]
    registry_account = v["registryAccountId"]
    if holds_registry and registry_account not in (None, v["accountId"]):
        problems.append(f"{PROJECT}:registryAccountId = {registry_account!r} is invalid: this account holds the "
                        f"registry environment {v['registryEnvironment']!r} (environments), so the registry account "
                        f"is this one ({v['accountId']}); leave registryAccountId empty")
    if not holds_registry and registry_account is None:
        problems.append(f"{PROJECT}:registryAccountId is missing: it is required when the registry environment "
                        f"{v['registryEnvironment']!r} is not in this account's environments (the promotion's deploy "
                        "roles there are trusted by this account's deploy role)")
    if v["pulumiBackend"] != "none" and not holds_registry:
        problems.append(f"{PROJECT}:pulumiBackend = {v['pulumiBackend']!r} is invalid in an account without the "
                        f"registry environment {v['registryEnvironment']!r}: the Pulumi backend and token live in "
                        "the tooling account, where the promotion runs; use 'none' here")
    provider = v["githubOidcProviderArn"]
    if provider is not None and provider.split(":")[4] != v["accountId"]:
        problems.append(f"{PROJECT}:githubOidcProviderArn = {provider!r} is invalid: the provider must be in this "
                        f"account ({v['accountId']})")
    if provider is not None and v["githubRepository"] is None:
        problems.append(f"{PROJECT}:githubOidcProviderArn is set but githubRepository is empty: the provider is only "
                        "used by the GitHub roles; set githubRepository or clear githubOidcProviderArn")
    return problems


def load_settings() -> BootstrapSettings:
    """Read every declared key from the stack's config and validate it (raises SettingsError)."""
    import pulumi
    from pulumi.runtime.config import CONFIG, get_config_env

    config = pulumi.Config(PROJECT)
    raw = {key: config.get(key) for key in KEYS}
    # Keys set in the stack file but never read are typos (``accountID``): report them too.
    namespace = f"{PROJECT}:"
    for full_key in {*CONFIG.get(), *get_config_env()}:
        if full_key.startswith(namespace) and full_key[len(namespace):] not in KEYS:
            raw[full_key[len(namespace):]] = str(pulumi.runtime.get_config(full_key))
    return BootstrapSettings.from_raw(raw, stack=pulumi.get_stack())
