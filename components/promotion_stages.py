"""The promotion pipeline's stages, derived from the ordered list of promotion targets.

For every target, in order: where a manual approval precedes the deployment (``approval``), first the
preview of its stack with the package pinned (``pulumi preview --diff``, the change set the approver
reviews) and the approval; then the deployment (``pulumi up``, refused when the changes differ from the
approved preview), then the integration tests against its endpoint (``integration_tests``). With the
repository's stack files that is::

    Source -> DeployStaging -> TestStaging -> PreviewProd -> ApproveProd -> DeployProd

A new environment (``qa`` between staging and prod) is a new entry in ``promotionTargets``: its stages
follow from it, and nothing here changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from components.names import Names

PACKAGE_VARIABLE = "MODEL_PACKAGE_ARN"

StageKind = Literal["preview", "approve", "deploy", "test"]


@dataclass(frozen=True)
class PromotionTarget:
    """One environment an Approved package travels to."""

    environment: str
    names: Names
    """The target stack's names (its environment, in its own account)."""
    deploy_role_arn: str
    """The target stack's deployRoleArn: its provider assumes it, so the deploy build may too."""
    approval: bool = False
    """A manual approval precedes the deployment."""
    integration_tests: bool = False
    """The integration tests run against this environment's endpoint after the deployment."""

    @property
    def title(self) -> str:
        """``staging`` -> ``Staging``, ``eu-prod`` -> ``EuProd`` (stage names and namespaces)."""
        return "".join(part.capitalize() for part in self.environment.split("-"))


@dataclass(frozen=True)
class CatalogGroup:
    """A catalog entry's model package group (uploaded models): where its Approved packages go."""

    model_name: str
    group_name: str
    endpoints: tuple[tuple[str, str | None], ...]
    """(environment, the entry's endpoint there or None for a batch entry), for each environment of the
    promotion (the registry's, then the targets') that the entry reaches, in that order."""


@dataclass(frozen=True)
class Stage:
    kind: StageKind
    target: PromotionTarget

    @property
    def name(self) -> str:
        """Stage name and action namespace: ``PreviewProd``, ``ApproveProd``, ``DeployStaging``, ``TestStaging``."""
        return f"{self.kind.capitalize()}{self.target.title}"


def preview_artifact(target: PromotionTarget) -> str:
    """The output artifact of a target's preview: the approved changes its deploy compares against."""
    return f"preview_{target.environment.replace('-', '_')}"


def stage_plan(targets: tuple[PromotionTarget, ...] | list[PromotionTarget]) -> list[Stage]:
    """The stages after Source, in order."""
    stages: list[Stage] = []
    for target in targets:
        if target.approval:
            stages.append(Stage("preview", target))
            stages.append(Stage("approve", target))
        stages.append(Stage("deploy", target))
        if target.integration_tests:
            stages.append(Stage("test", target))
    return stages


def approval_message(stages: list[Stage], index: int) -> tuple[str, str]:
    """What the approver of ``stages[index]`` reads, and the link: the preview of the target's changes
    (the stage before the approval), with the newest test report before it named in the text."""
    approval = stages[index]
    earlier = stages[:index]
    deployed = [s.target.environment for s in earlier if s.kind == "deploy"]
    tested = [s for s in earlier if s.kind == "test"]
    (preview,) = [s for s in earlier if s.kind == "preview" and s.target == approval.target]
    target = approval.target.environment
    package = f"Model package #{{variables.{PACKAGE_VARIABLE}}}"
    where = f" is live in {deployed[-1]}" if deployed else " was approved in the model registry"
    passed = ""
    if tested:
        tested_in = tested[-1].target.environment
        passed = (" and passed the integration tests" + ("" if deployed and deployed[-1] == tested_in else f" in {tested_in}")
                  + f" (report: #{{{tested[-1].name}.REPORT_URL}})")
    text = (f"{package}{where}{passed}. The link shows what deploying it would change in {target} "
            f"(pulumi preview --diff). Approve to deploy exactly that to {target}, or reject to stop the promotion.")
    return text, f"#{{{preview.name}.PREVIEW_URL}}"
