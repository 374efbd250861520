"""Assemble the mlops policy pack; the rules live in ``rules/``.

`pulumi preview --policy-pack policies --policy-pack-config policies/config/<env>.json` runs this
file (with this directory on sys.path) and talks to the analyzer it serves over gRPC. Enforcement
levels and rule settings come from that config file the normal pulumi-policy way; without one every
rule is mandatory, so forgetting the file never weakens the guard rails.
"""

from pulumi_policy import EnforcementLevel, PolicyPack

from rules import ALL_POLICIES

PolicyPack(
    name="mlops-guardrails",
    policies=ALL_POLICIES,
    enforcement_level=EnforcementLevel.MANDATORY,
    description="Tagging, IAM, data, compute, API and SageMaker guard rails for the mlops platform.",
    provider="aws",
)
