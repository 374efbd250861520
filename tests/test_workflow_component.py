"""TrainingWorkflow and ApprovalApi components under mocks: wiring, least privilege, logging, tracing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from components.approval_api import ApprovalApi, ApprovalApiArgs
from components.training_workflow import TrainingWorkflow, TrainingWorkflowArgs
from program.compose import shared_context
from program.images import model_monitor_image_uri
from tests.conftest import as_list, policy_statements
from tests.iam_reference import resource_types
from tools.mockrun import ROOT, run_components
from tools.tokens import Token


def workflow_and_approval(settings):
    """The workflow and approval components on the real shared resources; the image repository and the
    inference API are other components, so their names stand in for them."""
    ctx, _, _ = shared_context(settings)
    names = ctx.names
    approval = ApprovalApi(f"{names.prefix}-approval", ApprovalApiArgs(
        ctx, state_machine_arns=(names.state_machine_arn,), link_ttl_seconds=settings.approval_timeout_seconds),
        opts=ctx.opts)
    workflow = TrainingWorkflow(f"{names.prefix}-workflow", TrainingWorkflowArgs(
        ctx, training=settings.training,
        image_repository_arn=names.arn("ecr", f"repository/{names.image_repository}"),
        approval_request_function_arn=approval.request_function_arn,
        smoke_test_function_arn=names.lambda_arn(names.inference_function),
        inference_url="https://abc123.execute-api.eu-west-1.amazonaws.com/v1/predict",
        baseline_image_uri=model_monitor_image_uri(settings.region),
        approval_timeout_seconds=settings.approval_timeout_seconds,
        endpoint_instance_type=settings.endpoint.spec.instance_type,
        endpoint_instance_count=settings.endpoint.spec.instance_count,
        deploy_endpoint=settings.endpoint.managed_by == "workflow"), opts=ctx.opts)
    return {"stateMachineArn": workflow.state_machine_arn, "approvalUrl": approval.decision_url}
_RUNS: dict[str, object] = {}


@pytest.fixture(params=["dev", "prod"])
def run(request):
    if request.param not in _RUNS:
        _RUNS[request.param] = run_components(request.param, workflow_and_approval)
    return _RUNS[request.param]


def role_statements(run, role_name_suffix: str) -> list[dict]:
    policies = [p for p in run.by_type(Token.IAM_ROLE_POLICY) if p.name.endswith(role_name_suffix)]
    assert len(policies) == 1, [p.name for p in run.by_type(Token.IAM_ROLE_POLICY)]
    return policy_statements(policies[0].inputs["policy"])


def definition(run) -> dict:
    return json.loads(run.one(Token.SFN_STATE_MACHINE).inputs["definition"])


def test_no_wildcard_actions_and_star_resources_only_where_aws_requires(run):
    for policy in run.by_type(Token.IAM_ROLE_POLICY):
        for stmt in policy_statements(policy.inputs["policy"]):
            actions = as_list(stmt["Action"])
            assert all("*" not in action for action in actions), (policy.name, actions)
            if "*" in as_list(stmt["Resource"]):
                # Only actions the Service Authorization Reference lists without a resource type.
                assert all(resource_types(a) == {} for a in actions), (policy.name, stmt["Sid"], actions)


def test_pass_role_names_the_sagemaker_role_for_sagemaker_only(run):
    sagemaker_role = run.one(Token.IAM_ROLE, f"mlops-{run.stack}-workflow-sagemaker-role")
    passes = [s for p in run.by_type(Token.IAM_ROLE_POLICY) for s in policy_statements(p.inputs["policy"])
              if "iam:PassRole" in as_list(s["Action"])]
    assert len(passes) == 1
    assert passes[0]["Resource"] == [sagemaker_role.outputs["arn"]]
    assert passes[0]["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}


def test_state_machine_role_scopes_sagemaker_to_this_stack(run):
    statements = {s["Sid"]: s for s in role_statements(run, "-workflow-policy")}
    account = json.loads(run.config["mlops:allowedAccountIds"])[0]
    if run.stack == "dev":  # modelDeployment: workflow
        deploy = statements["DeployStageEndpoint"]["Resource"]
        assert f"arn:aws:sagemaker:eu-west-1:{account}:endpoint/mlops-{run.stack}-endpoint" in deploy
    else:  # modelDeployment: promotion: Pulumi owns the endpoint, the workflow may not touch it
        assert "DeployStageEndpoint" not in statements
        assert not any("Endpoint" in action for st in statements.values() for action in as_list(st["Action"]))
    train = statements["TrainAndEvaluate"]["Resource"]
    assert all(f":training-job/mlops-{run.stack}-" in r or f":transform-job/mlops-{run.stack}-" in r for r in train)
    invoked = set(statements["InvokeWorkflowFunctions"]["Resource"])
    referenced = {state["Parameters"]["FunctionName"] for state in definition(run)["States"].values()
                  if state.get("Type") == "Task" and "lambda:invoke" in state["Resource"]}
    assert referenced == invoked


def test_trust_policies_name_the_service_and_this_account(run):
    account = json.loads(run.config["mlops:allowedAccountIds"])[0]
    for role in run.by_type(Token.IAM_ROLE):
        (stmt,) = policy_statements(role.inputs["assumeRolePolicy"])
        assert set(stmt["Principal"]) == {"Service"} and "*" not in stmt["Principal"]["Service"]
        assert stmt["Condition"]["StringEquals"] == {"aws:SourceAccount": account}


def test_logging_without_execution_data_and_tracing(run):
    machine = run.one(Token.SFN_STATE_MACHINE)
    logging = machine.inputs["loggingConfiguration"]
    assert logging["level"] == "ALL"
    assert logging["includeExecutionData"] is False  # the approval task's input holds the task token
    assert machine.inputs["tracingConfiguration"] == {"enabled": True}
    log_group = run.one(Token.CLOUDWATCH_LOG_GROUP, f"mlops-{run.stack}-workflow-logs")
    assert log_group.inputs["retentionInDays"] == int(run.config["mlops:logRetentionDays"])
    assert logging["logDestination"] == log_group.outputs["arn"] + ":*"


def test_the_state_machine_is_created_after_its_roles_policy(run):
    # CreateStateMachine with logging checks that the role may deliver logs: the policy must exist first.
    machine = run.one(Token.SFN_STATE_MACHINE)
    policy = run.one(Token.IAM_ROLE_POLICY, f"mlops-{run.stack}-workflow-policy")
    assert policy.urn in machine.dependencies


def test_definition_uses_stack_settings(run):
    states = definition(run)["States"]
    assert states["RequestApproval"]["TimeoutSeconds"] == int(run.config["mlops:approvalTimeoutSeconds"])
    assert states["RequestApproval"]["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert states["Train"]["Resource"] == "arn:aws:states:::sagemaker:createTrainingJob.sync"
    training = states["Train"]["Parameters"]
    assert training["ResourceConfig"]["InstanceType"] == run.config["mlops:trainingInstanceType"]
    if run.stack == "dev":
        assert states["CreateEndpoint"]["Parameters"]["EndpointName"] == f"mlops-{run.stack}-endpoint"
        assert states["ApproveModelPackage"]["Next"] == "CreateEndpointConfig"
    else:
        assert not {"CreateEndpoint", "UpdateEndpoint", "SmokeTest"} & set(states)
        assert states["ApproveModelPackage"]["Next"] == "NotifySuccess"
        assert states["NotifySuccess"]["Parameters"]["Payload"]["deployment"] == "promotion"


def test_definition_is_statelint_clean(run, tmp_path):
    statelint = shutil.which("statelint", path=str(Path(sys.executable).parent))
    path = tmp_path / "definition.json"
    path.write_text(json.dumps(definition(run)))
    result = subprocess.run([statelint, str(path)], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "", result.stdout + result.stderr


def test_every_lambda_traced_encrypted_with_retained_logs(run):
    retention = int(run.config["mlops:logRetentionDays"])
    key = run.one(Token.KMS_KEY).outputs["arn"]
    for function in run.by_type(Token.LAMBDA_FUNCTION):
        assert function.inputs["tracingConfig"] == {"mode": "Active"}
        assert function.inputs["kmsKeyArn"] == key
        log_group = function.inputs["loggingConfig"]["logGroup"]
        (group,) = [g for g in run.by_type(Token.CLOUDWATCH_LOG_GROUP) if g.inputs["name"] == log_group]
        assert group.inputs["retentionInDays"] == retention and group.inputs["kmsKeyId"] == key
        assert log_group == f"/aws/lambda/{function.inputs['name']}"


def test_approval_functions_wired_to_table_secret_api_and_workflow(run):
    functions = {f.inputs["name"]: f for f in run.by_type(Token.LAMBDA_FUNCTION)}
    request = functions[f"mlops-{run.stack}-approval-request"].inputs["environment"]["variables"]
    decision = functions[f"mlops-{run.stack}-approval-decision"].inputs["environment"]["variables"]
    assert request["APPROVAL_API_URL"] == run.outputs["approvalUrl"]
    assert request["LINK_TTL_SECONDS"] == run.config["mlops:approvalTimeoutSeconds"]
    assert request["APPROVALS_TABLE"] == decision["APPROVALS_TABLE"] == f"mlops-{run.stack}-approvals"
    assert request["SIGNING_SECRET_ARN"] == decision["SIGNING_SECRET_ARN"]
    statements = {s["Sid"]: s for s in role_statements(run, "-approval-decide-policy")}
    assert statements["ResumeWorkflow"]["Resource"] == [run.outputs["stateMachineArn"]]
    assert set(statements["ResumeWorkflow"]["Action"]) == {"states:SendTaskSuccess", "states:SendTaskFailure"}


def test_decision_function_answers_inside_api_gateways_integration_timeout(run):
    """API Gateway gives up after 29 s; the function must outlast its own budget (every dependency call's
    connect and read timeouts and retries counted) so it always settles the approval record."""
    sys.path.insert(0, str(ROOT / "lambdas"))
    from approval_decision import handler as decision

    functions = {f.inputs["name"]: f for f in run.by_type(Token.LAMBDA_FUNCTION)}
    timeout = functions[f"mlops-{run.stack}-approval-decision"].inputs["timeout"]
    assert decision.BUDGET_SECONDS + decision.SAFETY_SECONDS + 1 <= timeout < 29


def test_approval_api_methods_carry_the_signed_link_marker_and_stage_is_logged_and_throttled(run):
    methods = run.by_type(Token.APIGATEWAY_METHOD)
    assert sorted(m.inputs["httpMethod"] for m in methods) == ["GET", "POST"]
    for method in methods:
        assert method.inputs["authorization"] == "NONE"
        assert "method.request.querystring.sig" in method.inputs["requestParameters"]
    stage = run.one(Token.APIGATEWAY_STAGE)
    assert stage.inputs["accessLogSettings"]["destinationArn"].startswith("arn:aws:logs:")
    assert stage.inputs["xrayTracingEnabled"] is True
    settings = run.one(Token.APIGATEWAY_METHOD_SETTINGS).inputs["settings"]
    assert settings["throttlingRateLimit"] <= 10 and settings["dataTraceEnabled"] is False
    for permission in run.by_type(Token.LAMBDA_PERMISSION):
        assert permission.inputs["sourceArn"].endswith("/decision")


def test_the_required_sig_parameter_is_enforced_by_a_parameter_validator(run):
    validators = {v.id: v for v in run.by_type(Token.APIGATEWAY_REQUEST_VALIDATOR)}
    methods = {m.inputs["httpMethod"]: m for m in run.by_type(Token.APIGATEWAY_METHOD)}
    assert methods["GET"].inputs["requestParameters"] == {"method.request.querystring.sig": True}
    validator = validators[methods["GET"].inputs["requestValidatorId"]]
    assert validator.inputs["validateRequestParameters"] is True
    # The stage serves a deployment made after the validator exists.
    deployment = run.one(Token.APIGATEWAY_DEPLOYMENT)
    assert validator.urn in deployment.dependencies


def test_approval_state_is_encrypted_and_key_is_kept_across_deployments(run):
    table = run.one(Token.DYNAMODB_TABLE)
    assert table.inputs["serverSideEncryption"]["enabled"] is True
    assert table.inputs["ttl"] == {"attributeName": "ttl", "enabled": True}
    secret = run.one(Token.SECRETSMANAGER_SECRET)
    assert secret.inputs["kmsKeyId"] == run.one(Token.KMS_KEY).outputs["arn"]
    assert secret.protect == table.protect == (run.stack == "prod")
    assert run.one(Token.SAGEMAKER_MODEL_PACKAGE_GROUP).protect == (run.stack == "prod")


def test_evaluate_may_write_only_its_reports_and_ships_the_drawing_library(run):
    statements = {s["Sid"]: s for s in role_statements(run, "-evaluate-policy")}
    bucket = run.one(Token.S3_BUCKET).outputs["bucket"]
    assert statements["WriteEvaluationReport"]["Action"] == ["s3:PutObject"]
    assert statements["WriteEvaluationReport"]["Resource"] == [f"arn:aws:s3:::{bucket}/workflow/reports/*"]
    assert statements["EncryptEvaluationReport"]["Resource"] == [run.one(Token.KMS_KEY).outputs["arn"]]
    evaluate = definition(run)["States"]["EvaluateModel"]["Parameters"]["Payload"]
    assert evaluate["reportPrefix.$"] == f"States.Format('s3://{bucket}/workflow/reports/{{}}', $.run.name)"
    (function,) = [f for f in run.by_type(Token.LAMBDA_FUNCTION) if f.inputs["name"].endswith("-evaluate")]
    archive = function.inputs["code"]["archive"]
    assert "drawsvg/__init__.py" in archive and "drawsvg-2.4.2.dist-info/licenses/LICENSE.txt" in archive
