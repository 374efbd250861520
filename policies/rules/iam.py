"""IAM: least privilege in identity policies, no admin managed policies, no open trust policies.

Policy documents arrive as JSON strings (``policy``, ``assumeRolePolicy``, a role's
``inlinePolicies[*].policy``) or, rarely, as objects. ``Statement``, ``Action``, ``Resource`` and
principal values may each be a single value or a list; action names compare case-insensitively.
Deny statements are never a problem (the TLS-only bucket policy denies ``s3:*`` on purpose), and
resource policies (bucket, key, topic policies) are out of scope here: a KMS key policy's
``kms:*`` for the account root is the AWS default.
"""

from __future__ import annotations

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
    key = ATTACHMENT_TYPES.get(resource.type)
    if key is None:
        return
    patterns = config["disallowedPolicyNames"]
    for arn in as_list(resource.props.get(key)):
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
    passrole_conditions,
    admin_managed_policies,
    wildcard_trust,
]
