"""bootstrap/: its settings, its stacks under the program's recording mocks and policy pack, and its agreement
with the program (the deploy roles the stack files name, the promotion roles they trust, the roles the
GitHub workflows assume)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import bootstrap.permissions
from bootstrap.settings import KEYS, BootstrapSettings, SettingsError
from tools.mockrun import ROOT, ProgramRun, load_stack_config, run_program, stack_names
from tools.policy_runner import run_policy_pack
from tools.tokens import AWS_PROVIDER, Token

BOOTSTRAP = ROOT / "bootstrap"
PROJECT = "mlops-bootstrap"
STACKS = ("tooling", "staging", "prod")
STRICTEST_POLICY_CONFIG = ROOT / "policies" / "config" / "prod.json"
SINGLE_ACCOUNT = {"environments": '["dev", "staging", "prod"]'}
VARIANTS: dict[str, tuple[str, dict[str, str]]] = {
    "tooling": ("tooling", {}),
    "staging": ("staging", {}),
    "prod": ("prod", {}),
    "single-account": ("tooling", SINGLE_ACCOUNT),
    "tooling+s3-backend": ("tooling", {"pulumiBackend": "s3"}),
    "single-account+s3-backend": ("tooling", {**SINGLE_ACCOUNT, "pulumiBackend": "s3"}),
    "no-github": ("prod", {"githubRepository": ""}),
}
_RUNS: dict[str, ProgramRun] = {}


def run_bootstrap(stack: str, overrides: dict[str, str] | None = None) -> ProgramRun:
    return run_program(stack, root=BOOTSTRAP, program=BOOTSTRAP / "__main__.py",
                       overrides={f"{PROJECT}:{k}": v for k, v in (overrides or {}).items()})


def variant(name: str) -> ProgramRun:
    if name not in _RUNS:
        _RUNS[name] = run_bootstrap(*VARIANTS[name])
    return _RUNS[name]


def raw_config(stack: str, **changes: str | None) -> dict[str, str]:
    """A stack file's config as the CLI hands it over (Pulumi.yaml defaults included), without namespace."""
    raw = {k.split(":", 1)[1]: v for k, v in load_stack_config(stack, BOOTSTRAP).items()}
    for key, value in changes.items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    return raw


def statements(document: str) -> list[dict]:
    parsed = json.loads(document)
    return parsed["Statement"] if isinstance(parsed["Statement"], list) else [parsed["Statement"]]


# --- settings -----------------------------------------------------------------------------------------


def test_the_stacks_are_the_stack_files():
    assert stack_names(BOOTSTRAP) == tuple(sorted(STACKS))


def test_pulumi_yaml_declares_exactly_the_keys_the_settings_parse():
    declared = yaml.safe_load((BOOTSTRAP / "Pulumi.yaml").read_text())
    assert declared["name"] == PROJECT
    assert set(declared["config"]) == set(KEYS)


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_file_is_valid(stack):
    settings = BootstrapSettings.from_raw(raw_config(stack), stack=stack)
    assert settings.tags["Environment"] == stack


@pytest.mark.parametrize(("stack", "changes", "expected"), [
    ("tooling", {"accountId": "12345"}, "mlops-bootstrap:accountId = '12345' is invalid: expected a 12-digit"),
    ("tooling", {"accountId": None}, "mlops-bootstrap:accountId is missing: it is required"),
    ("tooling", {"environments": "[]"}, "mlops-bootstrap:environments = '[]' is invalid: expected a list"),
    ("tooling", {"environments": '["dev", "github"]'}, "'github' is not one"),
    ("tooling", {"environments": '["dev", "dev"]'}, "one is repeated"),
    ("tooling", {"registryAccountId": "999999999999"},
     "registryAccountId = '999999999999' is invalid: this account holds the registry environment 'dev'"),
    ("staging", {"registryAccountId": ""}, "registryAccountId is missing: it is required when the registry"),
    ("staging", {"pulumiBackend": "s3"}, "pulumiBackend = 's3' is invalid in an account without the registry"),
    ("tooling", {"pulumiBackend": "gcs"}, "pulumiBackend = 'gcs' is invalid: expected one of none, cloud, s3"),
    ("tooling", {"githubRepository": "not a repo"}, "githubRepository = 'not a repo' is invalid"),
    ("tooling", {"githubOidcProviderArn": "arn:aws:iam::222222222222:oidc-provider/token.actions.githubusercontent.com"},
     "the provider must be in this account (111111111111)"),
    ("tooling", {"acountId": "111111111111"}, "mlops-bootstrap:acountId is not a known setting"),
])
def test_bad_settings_name_the_key_the_value_and_what_is_allowed(stack, changes, expected):
    with pytest.raises(SettingsError) as error:
        BootstrapSettings.from_raw(raw_config(stack, **changes), stack=stack)
    assert any(expected in problem for problem in error.value.problems), error.value.problems


def test_every_problem_is_reported_at_once():
    with pytest.raises(SettingsError) as error:
        BootstrapSettings.from_raw(raw_config("tooling", accountId="1", region="Mars", owner=""), stack="tooling")
    assert [p.split(" ", 1)[0] for p in error.value.problems] == [
        "mlops-bootstrap:accountId", "mlops-bootstrap:region", "mlops-bootstrap:owner"]


def test_a_stack_run_refuses_bad_settings_before_creating_anything():
    records: list = []
    with pytest.raises(SettingsError):
        run_program("tooling", root=BOOTSTRAP, program=BOOTSTRAP / "__main__.py", records=records,
                    overrides={f"{PROJECT}:environments": '["Dev"]'})
    assert [r for r in records if r.type != AWS_PROVIDER] == []


def test_too_many_environments_for_one_deploy_role_are_refused():
    with pytest.raises(SettingsError) as error:
        run_bootstrap("tooling", {"environments": json.dumps(["dev", "qa", "uat", "perf", "staging", "prod"])})
    assert "IAM allows 6144" in str(error.value)


# --- the stacks under the mocks and the policy pack -------------------------------------------------


@pytest.mark.parametrize("name", list(VARIANTS))
def test_each_account_previews_clean_under_the_policy_pack(name):
    """Judged with the strictest stack's policy configuration (every rule mandatory)."""
    run = variant(name)
    stack = VARIANTS[name][0]
    assert run_policy_pack(run.resources, stack=stack, project=PROJECT, config=STRICTEST_POLICY_CONFIG) == []


def test_the_pack_judges_bootstrap_resources(monkeypatch):
    def careless(scope):
        return [{"Sid": "Everything", "Effect": "Allow", "Action": ["s3:*"], "Resource": ["*"]}]

    monkeypatch.setitem(bootstrap.permissions.AREAS, "careless", careless)
    run = run_bootstrap("prod")
    violations = run_policy_pack(run.resources, stack="prod", project=PROJECT, config=STRICTEST_POLICY_CONFIG)
    assert {v["policy"] for v in violations} >= {"aws-iam-policy-disallow-wildcard-actions"}
    assert {v["name"] for v in violations} == {"deployer-careless"}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_the_provider_touches_only_its_account(name):
    run = variant(name)
    account = run.config[f"{PROJECT}:accountId"]
    provider = run.one(AWS_PROVIDER)
    assert json.loads(provider.inputs["allowedAccountIds"]) == [account]
    assert "assumeRoles" not in provider.inputs
    assert all(r.provider and r.provider.startswith(provider.urn) for r in run.resources if r.custom and r is not provider)


# --- agreement with the program ---------------------------------------------------------------------


def _outputs_by_account() -> dict[str, dict]:
    return {variant(s).config[f"{PROJECT}:accountId"]: variant(s).outputs for s in STACKS}


def test_every_stack_file_names_its_accounts_bootstrapped_deploy_role(stack_config):
    outputs = _outputs_by_account()
    for stack in ("dev", "staging", "prod"):
        config = stack_config(stack)
        account = json.loads(config["mlops:allowedAccountIds"])[0]
        assert config["mlops:deployRoleArn"] == outputs[account]["deployRoleArn"], stack
    for target in json.loads(stack_config("dev")["mlops:promotionTargets"]):
        account = target["deployRoleArn"].split(":")[4]
        assert target["deployRoleArn"] == outputs[account]["deployRoleArn"], target


def _deployer_trust(run: ProgramRun) -> list[str]:
    (trust,) = statements(run.one(Token.IAM_ROLE, "deployer").inputs["assumeRolePolicy"])
    assert trust["Action"] == "sts:AssumeRole" and "Condition" not in trust
    return trust["Principal"]["AWS"]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_target_deploy_roles_trust_exactly_their_promotion_deploy_role_and_the_deploy_workflow(stack, stack_run):
    """The ARN the registry stack's promotion really gives its deploy role for this target (recorded from
    the program's dev stack), and this account's GitHub deploy role: nobody else."""
    promotion_role = stack_run("dev").one(Token.IAM_ROLE, f"mlops-dev-promotion-deploy-{stack}-role").outputs["arn"]
    run = variant(stack)
    assert sorted(_deployer_trust(run)) == sorted([promotion_role, run.outputs["githubDeployRoleArn"]])


def test_the_tooling_deploy_role_is_assumed_by_the_deploy_workflow_and_the_registrys_own_deploys(stack_run):
    """The registry stack deploys itself from two builds: the promotion's deploy of approved catalog packages
    (its deploy role for dev) and the provisioning API's deploy; both as the program names them, nobody else."""
    run = variant("tooling")
    dev = stack_run("dev")
    promotion = dev.one(Token.IAM_ROLE, "mlops-dev-promotion-deploy-dev-role")
    provisioning = dev.one(Token.IAM_ROLE, "mlops-dev-provisioning-deploy-build-role")
    assert provisioning.inputs["name"] == "mlops-dev-provisioning-deploy"
    assert sorted(_deployer_trust(run)) == sorted([promotion.outputs["arn"], provisioning.outputs["arn"],
                                                   run.outputs["githubDeployRoleArn"]])


def test_single_account_one_deploy_role_for_every_stack_trusted_by_the_registrys_deploy_roles(stack_run):
    run = variant("single-account")
    account = run.config[f"{PROJECT}:accountId"]
    expected = [f"arn:aws:iam::{account}:role/mlops-dev-promotion-deploy-{e}" for e in ("staging", "prod", "dev")]
    expected.append(f"arn:aws:iam::{account}:role/mlops-dev-provisioning-deploy")
    assert sorted(_deployer_trust(run)) == sorted([*expected, run.outputs["githubDeployRoleArn"]])
    roles = json.loads(run.one(Token.IAM_POLICY, "deployer-iam").inputs["policy"])
    (passrole,) = [s for s in roles["Statement"] if s["Sid"] == "PassOwnRoles"]
    assert passrole["Resource"] == [f"arn:aws:iam::{account}:role/mlops-{e}-*" for e in ("dev", "staging", "prod")]


def test_without_github_the_deploy_role_trusts_the_registrys_deploy_roles_only():
    run = variant("no-github")
    # prod is still promoted from the tooling account: that role remains the only outside principal; the
    # tooling account's own deployer is assumed by the registry's own deploys (promotion of catalog packages,
    # provisioning API).
    assert _deployer_trust(run) == ["arn:aws:iam::111111111111:role/mlops-dev-promotion-deploy-prod"]
    lonely = run_bootstrap("tooling", {"githubRepository": ""})
    assert sorted(_deployer_trust(lonely)) == ["arn:aws:iam::111111111111:role/mlops-dev-promotion-deploy-dev",
                                               "arn:aws:iam::111111111111:role/mlops-dev-provisioning-deploy"]


def test_the_token_secret_is_the_registry_stacks_promotion_token(stack_config):
    arn = variant("tooling").outputs["promotionPulumiTokenSecretArn"]
    configured = stack_config("dev")["mlops:promotionPulumiTokenSecretArn"]
    # Secrets Manager appends six random characters to a secret's ARN.
    assert arn.rsplit("-", 1)[0] == configured.rsplit("-", 1)[0]
    secret = variant("tooling").one(Token.SECRETSMANAGER_SECRET)
    assert "kmsKeyId" not in secret.inputs  # the AWS managed key: GetSecretValue is all the deploy builds hold


def test_s3_backend_key_serves_the_promotion_deploy_roles_and_the_bucket_is_tls_only():
    run = variant("tooling+s3-backend")
    assert run.outputs["pulumiBackendUrl"] == "s3://mlops-pulumi-state-111111111111-eu-west-1"
    key_policy = statements(run.one(Token.KMS_KEY).inputs["policy"])
    (promotion,) = [s for s in key_policy if s["Sid"] == "PromotionDeploysUseStateAndSecrets"]
    assert promotion["Condition"]["ArnLike"]["aws:PrincipalArn"] == [
        "arn:aws:iam::111111111111:role/mlops-dev-promotion-deploy-*",
        "arn:aws:iam::111111111111:role/mlops-dev-provisioning-deploy"]
    assert promotion["Condition"]["StringEquals"]["aws:PrincipalAccount"] == "111111111111"
    assert all(r.protect for r in (run.one(Token.KMS_KEY), run.one(Token.S3_BUCKET)))
    preview = json.loads(run.one(Token.IAM_ROLE_POLICY, "github-preview-state").inputs["policy"])
    writes = [s for s in preview["Statement"] if "s3:PutObject" in s["Action"]]
    assert [s["Resource"] for s in writes] == [["arn:aws:s3:::mlops-pulumi-state-111111111111-eu-west-1/.pulumi/locks/*"]]


# --- the GitHub workflows ---------------------------------------------------------------------------


def _workflow(name: str) -> dict:
    return yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())


def _subjects(run: ProgramRun, role: str) -> list[str]:
    (trust,) = statements(run.one(Token.IAM_ROLE, role).inputs["assumeRolePolicy"])
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert trust["Condition"]["StringEquals"]["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    return trust["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"]


def test_github_roles_trust_exactly_the_environments_the_workflows_run_in():
    up, preview = _workflow("pulumi-up.yml")["jobs"]["up"], _workflow("pull-request.yml")["jobs"]["preview"]
    assert up["environment"] == "${{ inputs.stack }}"
    assert preview["environment"] == "${{ matrix.stack }}-preview"
    deploy_subjects, preview_subjects = [], []
    for stack in STACKS:
        run = variant(stack)
        deploy_subjects += _subjects(run, "github-deploy")
        preview_subjects += _subjects(run, "github-preview")
    repository = variant("tooling").config[f"{PROJECT}:githubRepository"]
    stacks = preview["strategy"]["matrix"]["stack"]
    assert sorted(deploy_subjects) == sorted(f"repo:{repository}:environment:{s}" for s in stacks)
    assert sorted(preview_subjects) == sorted(f"repo:{repository}:environment:{s}-preview" for s in stacks)


CATALOG_STORE_READ = [
    {"Sid": "ListCatalogStore", "Effect": "Allow", "Action": ["s3:ListBucket"],
     "Resource": ["arn:aws:s3:::mlops-dev-111111111111-eu-west-1"],
     "Condition": {"StringLike": {"s3:prefix": ["catalog/pipelines/", "catalog/pipelines/*"]}}},
    {"Sid": "ReadCatalogStore", "Effect": "Allow", "Action": ["s3:GetObject"],
     "Resource": ["arn:aws:s3:::mlops-dev-111111111111-eu-west-1/catalog/pipelines/*"]},
    {"Sid": "DecryptCatalogStore", "Effect": "Allow", "Action": ["kms:Decrypt"],
     "Resource": ["arn:aws:kms:eu-west-1:111111111111:key/*"],
     "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}},
]
"""What both GitHub roles of every account may read: the registry stack's (dev's) catalog store."""


def github_policies(run, role: str) -> dict[str, list[dict]]:
    return {p.name: statements(p.inputs["policy"]) for p in run.by_type(Token.IAM_ROLE_POLICY) if role in p.name}


def test_the_deploy_workflow_role_may_only_assume_the_deploy_role_and_read_the_catalog_store():
    run = variant("staging")
    assert github_policies(run, "github-deploy") == {
        "github-deploy-assume-deployer": [{"Sid": "AssumeDeployRole", "Effect": "Allow", "Action": ["sts:AssumeRole"],
                                           "Resource": [run.outputs["deployRoleArn"]]}],
        "github-deploy-read-catalog-store": CATALOG_STORE_READ}


@pytest.mark.parametrize("name", ["tooling", "staging", "prod", "single-account"])
def test_both_github_roles_of_every_account_read_the_catalog_store_the_program_reads(name):
    run = variant(name)
    for role in ("github-deploy", "github-preview"):
        assert github_policies(run, role)[f"{role}-read-catalog-store"] == CATALOG_STORE_READ


def test_the_preview_role_writes_nothing_and_the_preview_runs_as_itself():
    run = variant("prod")
    actions = {name: [a for s in policy for a in s["Action"]] for name, policy in github_policies(run, "github-preview").items()}
    assert actions == {"github-preview-invokes": ["secretsmanager:GetRandomPassword"],
                       "github-preview-read-catalog-store": ["s3:ListBucket", "s3:GetObject", "kms:Decrypt"]}
    steps = _workflow("pull-request.yml")["jobs"]["preview"]["steps"]
    clear = next(i for i, s in enumerate(steps) if 'deployRoleArn ""' in s.get("run", ""))
    preview = next(i for i, s in enumerate(steps) if s.get("with", {}).get("command") == "preview")
    assert clear < preview


def test_mockrun_runs_another_project_from_its_own_folder():
    run = variant("tooling")
    assert run.one(Token.IAM_ROLE, "deployer").urn.startswith("urn:pulumi:tooling::mlops-bootstrap::")
    assert Path(BOOTSTRAP / "Pulumi.tooling.yaml").is_file()
