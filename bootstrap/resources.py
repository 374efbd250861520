"""What one account needs before the program's first ``pulumi up``, built from ``BootstrapSettings``.

- ``mlops-deployer``: the role each stack's ``deployRoleArn`` names. Its policies (``mlops-deployer-<area>``,
  ``bootstrap/permissions.py``) manage exactly the program's resource types, scoped to the account's
  environments. It trusts the GitHub deploy role of this account and, for every environment here (the
  registry's own too: its promotion deploys approved catalog packages there first), that environment's
  promotion deploy role in the registry account (``mlops-<registry>-promotion-deploy-<environment>``), by
  exact ARN; in the registry's account also ``mlops-<registry>-provisioning-deploy``, the provisioning API's
  deploy of the registry stack.
- With ``githubRepository``: the GitHub OIDC provider (unless ``githubOidcProviderArn`` names an existing
  one) and two roles the workflows assume: ``mlops-github-deploy`` (``AWS_DEPLOY_ROLE_ARN``; GitHub
  environments ``<environment>``; may only assume the deploy role) and ``mlops-github-preview``
  (``AWS_PREVIEW_ROLE_ARN``; GitHub environments ``<environment>-preview``; no write permission: the
  preview runs the program with its own credentials, ``deployRoleArn`` cleared). Both read the catalog
  store (the registry stack's bucket, ``catalog/pipelines/``), which every run of the program reads.
- ``pulumiBackend: cloud``: the Secrets Manager secret ``mlops/pulumi-access-token`` whose ARN is the
  registry stack's ``promotionPulumiTokenSecretArn`` (the value is put by hand, never through Pulumi).
- ``pulumiBackend: s3``: a state bucket and a KMS key for ``--secrets-provider awskms://alias/mlops-pulumi``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from bootstrap.permissions import deployer_policies, preview_statements
from bootstrap.settings import MAIN_PROJECT, BootstrapSettings, SettingsError
from components import catalog_store
from components.names import Names, account_root, github_deploy_role, github_preview_role

DEPLOY_ROLE = f"{MAIN_PROJECT}-deployer"
"""The role every stack's ``deployRoleArn`` names, in the stack's account."""
GITHUB_DEPLOY_ROLE = github_deploy_role(MAIN_PROJECT)
GITHUB_PREVIEW_ROLE = github_preview_role(MAIN_PROJECT)
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_AUDIENCE = "sts.amazonaws.com"
TOKEN_SECRET = f"{MAIN_PROJECT}/pulumi-access-token"
STATE_KEY_ALIAS = f"alias/{MAIN_PROJECT}-pulumi"
MAX_SESSION_SECONDS = 3600 * 2  # a promotion deploy or a workflow's `pulumi up` within two hours
MANAGED_POLICY_MAX_CHARACTERS = 6144
"""IAM's limit on a managed policy document, whitespace not counted."""


def state_bucket_name(account: str, region: str) -> str:
    return f"{MAIN_PROJECT}-pulumi-state-{account}-{region}"


def environment_names(settings: BootstrapSettings) -> list[Names]:
    """The program's names of each environment deployed into this account."""
    return [Names(MAIN_PROJECT, environment, settings.account_id, settings.region)
            for environment in settings.environments]


def registry_names(settings: BootstrapSettings) -> Names:
    return Names(MAIN_PROJECT, settings.registry_environment, settings.registry_account_id, settings.region)


def promotion_principals(settings: BootstrapSettings) -> list[str]:
    """The registry stack's deploy roles that deploy this account's environments: the promotion's (the
    registry's own environment too: approved catalog packages are deployed there first), and in the
    registry's own account the provisioning API's deploy of the registry stack."""
    registry = registry_names(settings)
    roles = [registry.promotion_deploy_role_arn(environment) for environment in settings.promoted_environments]
    return roles + ([registry.provisioning_deploy_role_arn] if settings.holds_registry else [])


def _document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, indent=1)


@dataclass(frozen=True)
class Bootstrap:
    deploy_role: aws.iam.Role
    github_deploy_role: aws.iam.Role | None
    github_preview_role: aws.iam.Role | None
    token_secret: aws.secretsmanager.Secret | None
    state_bucket: aws.s3.Bucket | None
    state_key: aws.kms.Key | None


def create_provider(settings: BootstrapSettings) -> aws.Provider:
    """Run once per account with that account's administrator credentials; never into another account."""
    return aws.Provider(f"aws-{settings.stack}", region=settings.region, allowed_account_ids=[settings.account_id],
                        default_tags=aws.ProviderDefaultTagsArgs(tags=settings.tags))


def build(settings: BootstrapSettings) -> dict[str, Any]:
    """Create the account's resources; return the stack outputs."""
    provider = create_provider(settings)
    opts = pulumi.ResourceOptions(provider=provider)
    names = Names(MAIN_PROJECT, settings.stack, settings.account_id, settings.region)

    github = _github_roles(settings, names, opts) if settings.github_repository else None
    deploy_role = _deploy_role(settings, names, opts, github[0] if github else None)
    if github:
        aws.iam.RolePolicy(
            "github-deploy-assume-deployer", role=github[0].id,
            policy=deploy_role.arn.apply(lambda arn: _document(
                {"Sid": "AssumeDeployRole", "Effect": "Allow", "Action": ["sts:AssumeRole"], "Resource": [arn]})),
            opts=opts)

    outputs: dict[str, Any] = {"deployRoleArn": deploy_role.arn}
    if github:
        outputs.update({"githubDeployRoleArn": github[0].arn, "githubPreviewRoleArn": github[1].arn})
    if settings.pulumi_backend == "cloud":
        secret = aws.secretsmanager.Secret(
            "pulumi-access-token", name=TOKEN_SECRET,
            description="PULUMI_ACCESS_TOKEN for the promotion's deploy builds (promotionPulumiTokenSecretArn). "
                        "Put the value with `aws secretsmanager put-secret-value`; Pulumi never holds it.",
            # The AWS managed key (aws/secretsmanager): the promotion's deploy roles read the secret with
            # secretsmanager:GetSecretValue alone, which is all the program grants them.
            recovery_window_in_days=7, opts=opts)
        outputs["promotionPulumiTokenSecretArn"] = secret.arn
    if settings.pulumi_backend == "s3":
        bucket, key = _state_backend(settings, names, opts, github)
        outputs.update({"pulumiBackendUrl": pulumi.Output.concat("s3://", bucket.bucket),
                        "pulumiSecretsProvider": f"awskms://{STATE_KEY_ALIAS}?region={settings.region}",
                        "pulumiStateKeyArn": key.arn})
    return outputs


# ---------------------------------------------------------------------------------------------------
# The deploy role


def _deploy_role(settings: BootstrapSettings, names: Names, opts: pulumi.ResourceOptions,
                 github_deploy: aws.iam.Role | None) -> aws.iam.Role:
    trusted: list[pulumi.Input[str]] = list(promotion_principals(settings))
    if github_deploy is not None:
        trusted.append(github_deploy.arn)
    if not trusted:
        # Nobody to trust yet (no GitHub, no promoted environment here): people of this account only,
        # through their own IAM permissions.
        trusted.append(account_root(settings.account_id))
    trust = pulumi.Output.all(*trusted).apply(lambda arns: _document(
        {"Sid": "DeployersOfThisAccount", "Effect": "Allow", "Principal": {"AWS": sorted(arns)},
         "Action": "sts:AssumeRole"}))
    environments = ", ".join(settings.environments)
    role = aws.iam.Role(
        "deployer", name=DEPLOY_ROLE, assume_role_policy=trust, max_session_duration=MAX_SESSION_SECONDS,
        description=f"Deploys the {MAIN_PROJECT} stacks of this account ({environments}); bootstrap/",
        opts=opts)
    documents = deployer_policies(environment_names(settings))
    too_large = {area: size for area, size in policy_sizes(documents).items() if size > MANAGED_POLICY_MAX_CHARACTERS}
    if too_large:
        raise SettingsError([
            f"mlops-bootstrap:environments = {list(settings.environments)!r} is invalid: the deploy role's {area} "
            f"policy would be {size} characters, IAM allows {MANAGED_POLICY_MAX_CHARACTERS}; bootstrap fewer "
            "environments per account" for area, size in too_large.items()])
    for area, document in documents.items():
        policy = aws.iam.Policy(
            f"deployer-{area}", name=f"{DEPLOY_ROLE}-{area}", policy=json.dumps(document, indent=1),
            description=f"{DEPLOY_ROLE}: {area} resources of {environments}", opts=opts)
        aws.iam.RolePolicyAttachment(f"deployer-{area}", role=role.name, policy_arn=policy.arn, opts=opts)
    return role


def policy_sizes(documents: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Characters IAM counts in each document (JSON without whitespace)."""
    return {area: len(json.dumps(document, separators=(",", ":"))) for area, document in documents.items()}


# ---------------------------------------------------------------------------------------------------
# GitHub Actions


def _github_roles(settings: BootstrapSettings, names: Names,
                  opts: pulumi.ResourceOptions) -> tuple[aws.iam.Role, aws.iam.Role]:
    provider_arn: pulumi.Input[str]
    if settings.github_oidc_provider_arn:
        provider_arn = settings.github_oidc_provider_arn
    else:
        provider_arn = aws.iam.OpenIdConnectProvider(
            "github-oidc", url=f"https://{GITHUB_OIDC_HOST}", client_id_lists=[GITHUB_AUDIENCE], opts=opts).arn

    def trust(subjects: list[str]) -> pulumi.Output[str]:
        return pulumi.Output.from_input(provider_arn).apply(lambda arn: _document({
            "Sid": "GitHubEnvironments", "Effect": "Allow", "Principal": {"Federated": arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{GITHUB_OIDC_HOST}:aud": GITHUB_AUDIENCE,
                                           f"{GITHUB_OIDC_HOST}:sub": subjects}}}))

    repository = settings.github_repository
    deploy = aws.iam.Role(
        "github-deploy", name=GITHUB_DEPLOY_ROLE, max_session_duration=MAX_SESSION_SECONDS,
        description="GitHub Actions deploy workflow (AWS_DEPLOY_ROLE_ARN): may assume the deploy role",
        # The workflows run `pulumi up` in the GitHub environment named after the stack.
        assume_role_policy=trust([f"repo:{repository}:environment:{e}" for e in settings.environments]),
        opts=opts)
    preview = aws.iam.Role(
        "github-preview", name=GITHUB_PREVIEW_ROLE,
        description="GitHub Actions pull-request preview (AWS_PREVIEW_ROLE_ARN): no write permission",
        assume_role_policy=trust([f"repo:{repository}:environment:{e}-preview" for e in settings.environments]),
        opts=opts)
    aws.iam.RolePolicy("github-preview-invokes", role=preview.id, policy=_document(*preview_statements()),
                       opts=opts)
    for logical, role in (("github-deploy-read-catalog-store", deploy), ("github-preview-read-catalog-store", preview)):
        aws.iam.RolePolicy(logical, role=role.id, policy=_document(*catalog_store_statements(settings)), opts=opts)
    return deploy, preview


def catalog_store_statements(settings: BootstrapSettings) -> list[dict[str, Any]]:
    """Both workflows run the program, whose catalog is the file plus the catalog store in the registry stack's
    bucket (read with the workflow's own credentials, not the deploy role's): list and read the store, decrypt
    it through S3 (the registry account's keys: the key's id is random; the bucket's policy and this role's
    S3 grants bound what it decrypts). In another account than the registry's, the registry stack's bucket
    and key policies grant these roles the same (``components/catalog_store.py``)."""
    registry = registry_names(settings)
    return [*catalog_store.read_statements(Names.s3_arn(registry.bucket)),
            catalog_store.key_read_statement(registry.arn("kms", "key/*"), registry.region)]


# ---------------------------------------------------------------------------------------------------
# Self-managed Pulumi backend (pulumiBackend: s3)


def _state_backend(settings: BootstrapSettings, names: Names, opts: pulumi.ResourceOptions,
                   github: tuple[aws.iam.Role, aws.iam.Role] | None) -> tuple[aws.s3.Bucket, aws.kms.Key]:
    """State bucket and secrets key in the tooling account. Who may use them: the account's people (IAM),
    the GitHub roles (identity policies below) and the promotion's deploy roles, which the program
    creates later: the key policy names them by ``aws:PrincipalArn`` (their identity policies grant the
    bucket's objects, not this key)."""
    account = settings.account_id
    deployers = promotion_principals_of_registry(settings)
    key_policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "AccountAdministersThroughIam", "Effect": "Allow", "Principal": {"AWS": account_root(account)},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "PromotionDeploysUseStateAndSecrets", "Effect": "Allow", "Principal": {"AWS": "*"},
         "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], "Resource": "*",
         "Condition": {"StringEquals": {"aws:PrincipalAccount": account},
                       "ArnLike": {"aws:PrincipalArn": deployers}}},
    ]}
    key = aws.kms.Key("pulumi-state-key", description="Pulumi state bucket and stack secrets (awskms://)",
                      enable_key_rotation=True, deletion_window_in_days=30, policy=json.dumps(key_policy, indent=1),
                      opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=True)))
    aws.kms.Alias("pulumi-state-key", name=STATE_KEY_ALIAS, target_key_id=key.key_id, opts=opts)
    name = state_bucket_name(account, settings.region)
    bucket = aws.s3.Bucket("pulumi-state", bucket=name,
                           opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=True)))
    aws.s3.BucketVersioning("pulumi-state", bucket=bucket.id,
                            versioning_configuration={"status": "Enabled"}, opts=opts)
    aws.s3.BucketServerSideEncryptionConfiguration(
        "pulumi-state", bucket=bucket.id,
        rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms",
                                                            "kms_master_key_id": key.arn},
                "bucket_key_enabled": True}], opts=opts)
    aws.s3.BucketPublicAccessBlock("pulumi-state", bucket=bucket.id, block_public_acls=True,
                                   block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True,
                                   opts=opts)
    aws.s3.BucketOwnershipControls("pulumi-state", bucket=bucket.id,
                                   rule={"object_ownership": "BucketOwnerEnforced"}, opts=opts)
    bucket_arn = Names.s3_arn(name)
    aws.s3.BucketPolicy("pulumi-state", bucket=bucket.id, policy=_document(
        {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": [bucket_arn, Names.s3_arn(name, "*")], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
        opts=opts)
    if github:
        state = [
            {"Sid": "ListState", "Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [bucket_arn]},
            {"Sid": "ReadWriteState", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
             "Resource": [Names.s3_arn(name, ".pulumi/*")]},
        ]
        # A preview reads the state and takes the stack's lock (.pulumi/locks/...); it writes nothing else.
        preview_state = [
            state[0],
            {"Sid": "ReadState", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [Names.s3_arn(name, ".pulumi/*")]},
            {"Sid": "TakeLocks", "Effect": "Allow", "Action": ["s3:PutObject", "s3:DeleteObject"],
             "Resource": [Names.s3_arn(name, ".pulumi/locks/*")]},
        ]
        for logical, role, statements, crypto in (
                ("github-deploy-state", github[0], state, ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]),
                ("github-preview-state", github[1], preview_state, ["kms:Decrypt", "kms:GenerateDataKey"])):
            aws.iam.RolePolicy(logical, role=role.id, policy=_with_state_key(key.arn, statements, crypto), opts=opts)
    return bucket, key


def _with_state_key(key_arn: pulumi.Output[str], statements: list[dict[str, Any]],
                    actions: list[str]) -> pulumi.Output[str]:
    def document(arn: str) -> str:
        return _document(*statements, {"Sid": "UseStateKey", "Effect": "Allow", "Action": actions, "Resource": [arn]})

    return key_arn.apply(document)


def promotion_principals_of_registry(settings: BootstrapSettings) -> list[str]:
    """The promotion deploy roles the registry stack creates for its targets. The tooling account does not
    know every target's name from its own settings: the promotion names them ``mlops-<registry>-promotion-
    deploy-<target>``; the key policy matches the pattern (any target of this registry)."""
    registry = registry_names(settings)
    return [registry.promotion_deploy_role_arn("*"), registry.provisioning_deploy_role_arn]
