"""What a promotion build sets on its target stack for the package it promotes (standard library only).

The promotion carries an Approved package of any platform group: the trained model's group or a catalog
entry's group (uploaded models). Each group has its own config key on the target stack:

    the trained group              modelPackageArn=<arn>
    a catalog entry's group        catalogPackages.<model_name>=<arn>     (pulumi config set-all --path)

and everything else the target serves stays as it is: the stack's current outputs (``modelPackageArn``,
``catalogPackages``: what it serves now) are pinned again, so promoting one model never rolls another one
back to the placeholder in the repository's stack file. The plan (``PROMOTION_PLAN``, written by
``components/promotion.py``) says which group is which and where each catalog entry goes::

    {"registry": "dev", "trainedGroup": "mlops-dev-models",
     "catalogGroups": {"mlops-dev-byom-iris-tree-models": {"model": "iris-tree",
                        "endpoints": {"dev": "iris-tree-dev", "staging": "iris-tree-staging", "prod": null}}}}

(``endpoints`` names the environments the entry reaches, each with its endpoint, null for a batch entry.)

    python3 pipeline/promotion_config.py deploy --plan "$PROMOTION_PLAN" --package "$MODEL_PACKAGE_ARN" \\
        --environment "$TARGET_STACK" --outputs outputs.json        # `pulumi config set-all --path` arguments,
                                                                    # one per line; none: nothing to deploy here
    python3 pipeline/promotion_config.py verify ... --outputs deployed.json    # exit 1 unless it is served
    python3 pipeline/promotion_config.py tests ... --endpoint "$ENDPOINT_NAME"  # integration/run.py arguments
    python3 pipeline/promotion_config.py keep --outputs outputs.json [--trained]  # a merge deploy's pins:
                                                                    # what the stack serves now, kept

Exit codes: 0 done, 1 the deployed stack does not serve the package (verify), 2 invalid arguments (a
package that is not a versioned model package ARN, of a group the platform does not promote).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

PACKAGE_ARN = re.compile(
    r"arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:[0-9]{12}:model-package/(?P<group>[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62})/[0-9]+")
TRAINED_KEY = "modelPackageArn"
CATALOG_KEY = "catalogPackages"
CATALOG_CASES = Path("integration/cases/catalog")
"""Integration cases of a catalog entry: ``integration/cases/catalog/<model_name>/*.json``."""
EXIT_OK, EXIT_NOT_SERVED, EXIT_INVALID = 0, 1, 2


class PromotionError(ValueError):
    """The package or the plan cannot be promoted; the message says what is wrong and what is allowed."""


@dataclass(frozen=True)
class CatalogGroup:
    model: str
    endpoints: dict[str, str | None]
    """Environments the entry reaches -> its endpoint there (None: a batch entry)."""


@dataclass(frozen=True)
class Plan:
    registry: str
    trained_group: str
    catalog_groups: dict[str, CatalogGroup]

    @classmethod
    def from_json(cls, text: str) -> Plan:
        try:
            raw = json.loads(text)
            groups = {group: CatalogGroup(str(value["model"]), dict(value["endpoints"]))
                      for group, value in raw.get("catalogGroups", {}).items()}
            return cls(str(raw["registry"]), str(raw["trainedGroup"]), groups)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise PromotionError(f"PROMOTION_PLAN is not the plan the promotion component writes ({error!r})") from None

    def group_of(self, package_arn: str) -> str:
        """The group of a versioned package ARN that the platform promotes."""
        match = PACKAGE_ARN.fullmatch(package_arn)
        if not match:
            raise PromotionError(f"{package_arn!r} is not a versioned model package ARN "
                                 "(arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>)")
        group = match["group"]
        if group != self.trained_group and group not in self.catalog_groups:
            allowed = ", ".join([self.trained_group, *sorted(self.catalog_groups)])
            raise PromotionError(f"{package_arn} is in group {group}, which this promotion does not carry "
                                 f"(its groups: {allowed})")
        return group


@dataclass(frozen=True)
class Deploy:
    """What the deploy build of one environment does for one package."""

    settings: tuple[tuple[str, str], ...]
    """(config path, value) pairs for ``pulumi config set-all --path``; empty when ``skip`` says why not."""
    skip: str = ""


def _current_pins(outputs: dict, plan: Plan, environment: str) -> dict[str, str]:
    """What the stack serves now, as config paths: the trained model's package (targets only: the registry
    stack's own endpoint belongs to its training workflow) and every uploaded catalog model reaching it."""
    pins = {}
    trained = outputs.get(TRAINED_KEY)
    if isinstance(trained, str) and trained and environment != plan.registry:
        pins[TRAINED_KEY] = trained
    served = outputs.get(CATALOG_KEY) or {}
    reaching = {g.model for g in plan.catalog_groups.values() if environment in g.endpoints}
    for model, arn in sorted(served.items()) if isinstance(served, dict) else ():
        if model in reaching and isinstance(arn, str) and arn:
            pins[f"{CATALOG_KEY}.{model}"] = arn
    return pins


def kept_settings(outputs: dict, *, trained: bool) -> tuple[tuple[str, str], ...]:
    """What a deploy that promotes nothing (a merge to main) pins again so that it rolls nothing back: every
    catalog model the stack serves now, and the trained model's package where ``trained`` (the stacks
    promotion deploys; the registry's own endpoint belongs to its training workflow)."""
    pins = {}
    current = outputs.get(TRAINED_KEY)
    if trained and isinstance(current, str) and current:
        pins[TRAINED_KEY] = current
    served = outputs.get(CATALOG_KEY)
    for model, arn in sorted(served.items()) if isinstance(served, dict) else ():
        if isinstance(arn, str) and PACKAGE_ARN.fullmatch(arn):
            pins[f"{CATALOG_KEY}.{model}"] = arn
    return tuple(sorted(pins.items()))


def deploy_settings(plan: Plan, package_arn: str, environment: str, outputs: dict) -> Deploy:
    """The config one environment's deploy sets for ``package_arn``, or why it deploys nothing."""
    group = plan.group_of(package_arn)
    if group == plan.trained_group:
        if environment == plan.registry:
            return Deploy((), f"{package_arn} is a trained model: the training workflow already deployed it in "
                              f"{environment}; nothing to deploy here")
        key = TRAINED_KEY
    else:
        entry = plan.catalog_groups[group]
        if environment not in entry.endpoints:
            return Deploy((), f"the catalog entry {entry.model} does not reach {environment} (it reaches "
                              f"{', '.join(entry.endpoints) or 'no environment of this promotion'}); nothing to "
                              f"deploy here")
        key = f"{CATALOG_KEY}.{entry.model}"
    pins = _current_pins(outputs, plan, environment)
    pins[key] = package_arn
    return Deploy(tuple(sorted(pins.items())))


def serves(plan: Plan, package_arn: str, environment: str, outputs: dict) -> tuple[bool, str]:
    """Whether the deployed stack (its outputs after ``pulumi up``) serves ``package_arn``, and what it serves."""
    deploy = deploy_settings(plan, package_arn, environment, outputs)
    if deploy.skip:
        return True, deploy.skip
    group = plan.group_of(package_arn)
    if group == plan.trained_group:
        served = outputs.get(TRAINED_KEY)
        where = TRAINED_KEY
    else:
        model = plan.catalog_groups[group].model
        served = (outputs.get(CATALOG_KEY) or {}).get(model)
        where = f"{CATALOG_KEY}.{model}"
    return served == package_arn, f"{environment} serves {served or 'nothing'} ({where})"


def integration_arguments(plan: Plan, package_arn: str, environment: str, endpoint: str) -> tuple[list[str], str]:
    """``integration/run.py`` arguments for the package in ``environment``, or why no test runs: the trained
    model's endpoint with ``integration/cases``; a catalog entry's endpoint with its own cases."""
    group = plan.group_of(package_arn)
    if group == plan.trained_group:
        return ["--endpoint", endpoint, "--cases", "integration/cases"], ""
    entry = plan.catalog_groups[group]
    if environment not in entry.endpoints:
        return [], f"the catalog entry {entry.model} does not reach {environment}: no integration tests"
    catalog_endpoint = entry.endpoints[environment]
    if catalog_endpoint is None:
        return [], f"the catalog entry {entry.model} is a batch model: no endpoint to test in {environment}"
    cases = CATALOG_CASES / entry.model
    if not sorted(cases.glob("*.json")):
        return [], (f"no integration cases for the catalog entry {entry.model}: add {cases}/*.json (the format of "
                    f"integration/cases) to test its endpoint {catalog_endpoint}")
    return ["--endpoint", catalog_endpoint, "--cases", str(cases)], ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("deploy", "verify", "tests", "keep"))
    parser.add_argument("--plan", help="the PROMOTION_PLAN JSON document (not for keep)")
    parser.add_argument("--package", help="the promoted model package ARN (not for keep)")
    parser.add_argument("--environment", help="the target stack's environment (not for keep)")
    parser.add_argument("--trained", action="store_true", help="keep: pin the trained model's package too")
    parser.add_argument("--outputs", type=Path, help="`pulumi stack output --json` of the target stack")
    parser.add_argument("--endpoint", default="", help="the trained model's endpoint in the environment (tests)")
    args = parser.parse_args(argv)
    missing = [f"--{name}" for name in ("plan", "package", "environment") if getattr(args, name) is None]
    if args.command != "keep" and missing:
        parser.error(f"{args.command} needs {', '.join(missing)}")
    try:
        outputs = json.loads(args.outputs.read_text()) if args.outputs else {}
        if not isinstance(outputs, dict):
            raise PromotionError(f"{args.outputs} is not the JSON object `pulumi stack output --json` writes")
        if args.command == "keep":
            for path, value in kept_settings(outputs, trained=args.trained):
                print(f"{path} = {value}", file=sys.stderr)
                print("--plaintext")
                print(f"{path}={value}")
            return EXIT_OK
        plan = Plan.from_json(args.plan)
        if args.command == "deploy":
            deploy = deploy_settings(plan, args.package, args.environment, outputs)
            if deploy.skip:
                print(deploy.skip, file=sys.stderr)
            for path, value in deploy.settings:
                print(f"{path} = {value}", file=sys.stderr)
                print("--plaintext")
                print(f"{path}={value}")
            return EXIT_OK
        if args.command == "verify":
            ok, message = serves(plan, args.package, args.environment, outputs)
            print(message, file=sys.stdout if ok else sys.stderr)
            return EXIT_OK if ok else EXIT_NOT_SERVED
        arguments, skip = integration_arguments(plan, args.package, args.environment, args.endpoint)
        if skip:
            print(skip, file=sys.stderr)
        for argument in arguments:
            print(argument)
        return EXIT_OK
    except (PromotionError, OSError, ValueError) as error:
        print(f"promotion: {error}", file=sys.stderr)
        return EXIT_INVALID


if __name__ == "__main__":
    sys.exit(main())
