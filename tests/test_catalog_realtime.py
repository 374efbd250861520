"""Real-time catalog entries: an endpoint each (ModelEndpoint reused) and a route on the inference API, per stack.

The shipped catalog (mlops-config.json) has two real-time entries reaching dev, staging and prod:
iris-xgboost (built-in xgboost 1.7-1, one value everywhere, default endpoint name) and iris-tree (custom
image, per-environment instance types and endpoint names). The stack files pin the packages they serve.
"""

from __future__ import annotations

import json

import pytest

from components.catalog_endpoint import DEFAULT_CAPTURE_PERCENT, capture_percent
from components.names import image_repository_arn
from program.settings import SettingsError
from tests.catalog.bodies import catalog, framework_body
from tests.conftest import policy_statements
from tools.mockrun import ROOT, run_program
from tools.policy_runner import run_policy_pack
from tools.tokens import Token

ENVIRONMENTS = ("dev", "staging", "prod")
ACCOUNTS = {"dev": "111111111111", "staging": "222222222222", "prod": "333333333333"}
REGISTRY_BUCKET = "mlops-dev-111111111111-eu-west-1"
XGBOOST_REPOSITORY = "arn:aws:ecr:eu-west-1:141502667606:repository/sagemaker-xgboost"  # sagemaker-core, eu-west-1
TREE_REPOSITORY = "arn:aws:ecr:eu-west-1:111111111111:repository/mlops-dev-iris-tree"
TREE_INSTANCES = {"dev": "ml.t2.medium", "staging": "ml.m5.large", "prod": "ml.c5.xlarge"}
STACK_MAX = {"dev": 1, "staging": 4, "prod": 8}
STACK_CAPTURE = {"dev": 0, "staging": 20, "prod": 100}
COMPONENT = "mlops:catalog:RealtimeEndpoint"


def pinned(model: str) -> str:
    return f"arn:aws:sagemaker:eu-west-1:111111111111:model-package/mlops-dev-byom-{model}-models/1"


def endpoint_names(stack: str) -> dict[str, str]:
    # iris-tree's endpoint_name (iris-tree-<env>) inside the stack's names: the deploy role creates nothing else
    return {"iris-xgboost": f"mlops-{stack}-byom-iris-xgboost-endpoint", "iris-tree": f"mlops-{stack}-iris-tree-{stack}"}


def part(run, model: str, token: str, suffix: str):
    return run.one(token, f"mlops-{run.stack}-byom-{model}-endpoint-{suffix}")


def statements(run, model: str) -> list[dict]:
    return policy_statements(part(run, model, Token.IAM_ROLE_POLICY, "model-policy").inputs["policy"])


def shipped_catalog() -> dict:
    return json.loads((ROOT / "mlops-config.json").read_text())


def write(tmp_path, document) -> str:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(document))
    return str(path)


# --- the shipped catalog, per stack ------------------------------------------------------------------


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_one_endpoint_per_realtime_entry_in_every_stack(stack_run, stack):
    run = stack_run(stack)
    components = sorted(r.name for r in run.resources if r.type == COMPONENT)
    assert components == [f"mlops-{stack}-byom-iris-tree-endpoint", f"mlops-{stack}-byom-iris-xgboost-endpoint"]
    names = endpoint_names(stack)
    catalog_endpoints = sorted(r.inputs["name"] for r in run.by_type(Token.SAGEMAKER_ENDPOINT)
                               if r.name.startswith(f"mlops-{stack}-byom-"))
    assert catalog_endpoints == sorted(names.values())
    for model in names:
        sagemaker_model = part(run, model, Token.SAGEMAKER_MODEL, "model")
        assert sagemaker_model.inputs["primaryContainer"] == {"modelPackageName": pinned(model)}
        assert sagemaker_model.inputs["executionRoleArn"] == part(run, model, Token.IAM_ROLE, "model-role").outputs["arn"]
        config = part(run, model, Token.SAGEMAKER_ENDPOINT_CONFIGURATION, "config")
        endpoint = part(run, model, Token.SAGEMAKER_ENDPOINT, "endpoint")
        assert endpoint.inputs["endpointConfigName"] == config.outputs["name"]
        (variant,) = config.inputs["productionVariants"]
        assert variant["modelName"] == sagemaker_model.outputs["name"]


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_outputs_list_each_entrys_endpoint_url_and_package(stack_run, stack):
    run = stack_run(stack)
    api = run.named(f"mlops-{stack}-inference-api").outputs["id"]
    bucket = f"mlops-{stack}-{ACCOUNTS[stack]}-eu-west-1"
    monitored = lambda model, endpoint: {  # noqa: E731  (staging and prod monitor their endpoints)
        "monitoringScheduleName": f"mlops-{stack}-byom-{model}-data-quality",
        "monitoringReportUri": f"s3://{bucket}/monitoring/{endpoint}/data-quality"} if stack != "dev" else {}
    assert run.outputs["catalogEndpoints"] == {
        model: {"endpointName": endpoint,
                "url": f"https://{api}.execute-api.eu-west-1.amazonaws.com/v1/models/{model}/predict",
                "modelPackageArn": pinned(model), **monitored(model, endpoint)}
        for model, endpoint in endpoint_names(stack).items()}
    assert run.outputs["inferenceUrl"] == f"https://{api}.execute-api.eu-west-1.amazonaws.com/v1/predict"


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_variant_key_and_capture_follow_the_entry_in_each_environment(stack_run, stack):
    run = stack_run(stack)
    bucket = f"mlops-{stack}-{ACCOUNTS[stack]}-eu-west-1"
    for model, instance in (("iris-xgboost", "ml.m5.large"), ("iris-tree", TREE_INSTANCES[stack])):
        config = part(run, model, Token.SAGEMAKER_ENDPOINT_CONFIGURATION, "config").inputs
        (variant,) = config["productionVariants"]
        assert (variant["instanceType"], variant["initialInstanceCount"], variant["variantName"]) == (instance, 1, "AllTraffic")
        assert config["kmsKeyArn"] == run.outputs["kmsKeyArn"]  # no kms_key_arn in the entry: the stack's key
        capture = config["dataCaptureConfig"]
        assert capture["enableCapture"] is True
        assert capture["destinationS3Uri"] == f"s3://{bucket}/data-capture/{model}"
        assert capture["kmsKeyId"] == run.outputs["kmsKeyArn"]
        expected = STACK_CAPTURE[stack] or DEFAULT_CAPTURE_PERCENT
        assert capture["initialSamplingPercentage"] == expected
        assert [o["captureMode"] for o in capture["captureOptions"]] == ["Input", "Output"]


def test_capture_share_is_the_stacks_or_all_requests():
    assert capture_percent(20) == 20 and capture_percent(100) == 100
    assert capture_percent(0) == DEFAULT_CAPTURE_PERCENT == 100


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_autoscaling_alarms_and_updates_as_the_stacks_endpoint(stack_run, stack):
    run = stack_run(stack)
    for model, endpoint in endpoint_names(stack).items():
        targets = [r for r in run.by_type(Token.APPAUTOSCALING_TARGET) if r.name.startswith(f"mlops-{stack}-byom-{model}-")]
        if STACK_MAX[stack] > 1:  # the entry's count is the minimum, the stack's maximum the maximum
            (target,) = targets
            assert (target.inputs["minCapacity"], target.inputs["maxCapacity"]) == (1, STACK_MAX[stack])
            assert target.inputs["resourceId"] == f"endpoint/{endpoint}/variant/AllTraffic"
        else:
            assert targets == []
        alarms = {a.inputs["metricName"]: a.inputs for a in run.by_type(Token.CLOUDWATCH_METRIC_ALARM)
                  if a.parent_name == f"mlops-{stack}-byom-{model}-endpoint"}
        assert set(alarms) == {"Invocation5XXErrors", "ModelLatency"}
        for alarm in alarms.values():
            assert alarm["dimensions"] == {"EndpointName": endpoint, "VariantName": "AllTraffic"}
            assert alarm["alarmActions"] == [run.outputs["notificationTopicArn"]]
        inputs = part(run, model, Token.SAGEMAKER_ENDPOINT, "endpoint").inputs
        if stack == "prod":  # canary with rollback on the entry's own alarms
            rollback = {a["alarmName"] for a in inputs["deploymentConfig"]["autoRollbackConfiguration"]["alarms"]}
            assert rollback == {f"{endpoint}-5xx-errors", f"{endpoint}-model-latency"}
            assert part(run, model, Token.SAGEMAKER_ENDPOINT, "endpoint").protect
        else:
            assert "deploymentConfig" not in inputs


# --- least privilege -------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_each_entry_has_its_own_role_reading_only_its_artifact_and_image(stack_run, stack):
    run = stack_run(stack)
    account = ACCOUNTS[stack]
    bucket = f"mlops-{stack}-{account}-eu-west-1"
    key = run.outputs["kmsKeyArn"]
    for model, repository in (("iris-xgboost", XGBOOST_REPOSITORY), ("iris-tree", TREE_REPOSITORY)):
        endpoint = endpoint_names(stack)[model]
        role = part(run, model, Token.IAM_ROLE, "model-role")
        assert role.inputs["name"] == f"mlops-{stack}-byom-{model}-endpoint-model"
        (trust,) = policy_statements(role.inputs["assumeRolePolicy"])
        assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"}
        assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": account}}
        via_s3 = {"StringEquals": {"kms:ViaService": ["s3.eu-west-1.amazonaws.com"]}}
        assert statements(run, model) == [
            {"Sid": "PullModelImage", "Effect": "Allow", "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
             "Resource": [repository]},
            {"Sid": "EcrLogin", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": ["*"]},
            {"Sid": "ReadModelArtifacts", "Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"],
             "Resource": [f"arn:aws:s3:::{REGISTRY_BUCKET}/models/{model}/model.tar.gz"]},
            {"Sid": "DecryptModelArtifacts", "Effect": "Allow", "Action": ["kms:Decrypt"],
             "Resource": ["arn:aws:kms:eu-west-1:111111111111:key/*"], "Condition": via_s3},
            {"Sid": "WriteLogs", "Effect": "Allow",
             "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
             "Resource": [f"arn:aws:logs:eu-west-1:{account}:log-group:/aws/sagemaker/Endpoints/{endpoint}:*"]},
            {"Sid": "PublishMetrics", "Effect": "Allow", "Action": ["cloudwatch:PutMetricData"], "Resource": ["*"],
             "Condition": {"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "AWS/SageMaker"]}}},
            {"Sid": "WriteCapturedData", "Effect": "Allow", "Action": ["s3:PutObject"],
             "Resource": [f"arn:aws:s3:::{bucket}/data-capture/{model}/*"]},
            {"Sid": "EncryptCapturedData", "Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Encrypt"],
             "Resource": [key], "Condition": via_s3},
        ]


def test_image_uris_name_their_repository():
    assert image_repository_arn("141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1") == XGBOOST_REPOSITORY
    assert image_repository_arn("123456789012.dkr.ecr.us-east-1.amazonaws.com/team/model@sha256:" + "a" * 64) == \
        "arn:aws:ecr:us-east-1:123456789012:repository/team/model"
    for bad in ("docker.io/library/python:3.12", "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost"):
        with pytest.raises(ValueError, match="is not an ECR image URI"):
            image_repository_arn(bad)


# --- the inference API's routes ------------------------------------------------------------------


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_a_route_per_served_entry(stack_run, stack):
    run = stack_run(stack)
    api = run.named(f"mlops-{stack}-inference-api")
    function = run.named(f"mlops-{stack}-inference-proxy-function")
    models = run.named(f"mlops-{stack}-inference-models")
    assert models.inputs["pathPart"] == "models" and models.inputs["parentId"] == api.outputs["rootResourceId"]
    for model in endpoint_names(stack):
        base = f"mlops-{stack}-inference-models-{model}"
        resource, predict = run.named(base), run.named(f"{base}-predict")
        assert (resource.inputs["pathPart"], resource.inputs["parentId"]) == (model, models.id)
        assert (predict.inputs["pathPart"], predict.inputs["parentId"]) == ("predict", resource.id)
        method = run.named(f"{base}-post")
        assert (method.inputs["httpMethod"], method.inputs["resourceId"]) == ("POST", predict.id)
        assert method.inputs["authorization"] == ("NONE" if stack == "dev" else "AWS_IAM")  # dev: api-key
        assert method.inputs["requestModels"] == {"application/json": "ModelPredictRequest"}
        integration = run.named(f"{base}-integration")
        assert integration.inputs["type"] == "AWS_PROXY" and integration.inputs["uri"] == function.outputs["invokeArn"]
        permission = run.named(f"{base}-permission")
        assert permission.inputs["sourceArn"] == f"{api.outputs['executionArn']}/v1/POST/models/{model}/predict"
    deployment = run.named(f"mlops-{stack}-inference-deployment")
    assert {f"mlops-{stack}-inference-models-{m}-post" for m in endpoint_names(stack)} <= {
        d.rsplit("::", 1)[1] for d in deployment.dependencies}


def test_the_redeployment_trigger_covers_the_routes(run_stack, stack_run, tmp_path):
    shipped = shipped_catalog()
    shipped["pipelines"] = [p for p in shipped["pipelines"] if p.get("model_name") != "iris-tree"]
    run = run_stack("staging", overrides={
        "catalogFile": write(tmp_path, shipped),
        "catalogPackages": json.dumps({m: pinned(m) for m in ("iris-xgboost", "iris-xgboost-batch")})})
    assert sorted(run.outputs["catalogEndpoints"]) == ["iris-xgboost"]
    trigger = run.named("mlops-staging-inference-deployment").inputs["triggers"]["redeployment"]
    assert trigger != stack_run("staging").named("mlops-staging-inference-deployment").inputs["triggers"]["redeployment"]


# --- entries that are not served, and names that would collide -----------------------------------


def test_an_entry_without_a_package_is_skipped_with_the_programs_message(run_stack, monkeypatch):
    import pulumi

    said: list[str] = []
    monkeypatch.setattr(pulumi.log, "info", lambda message, *args, **kwargs: said.append(message))
    run = run_stack("prod", overrides={"catalogPackages": json.dumps(
        {m: pinned(m) for m in ("iris-xgboost", "iris-xgboost-batch")})})
    assert sorted(run.outputs["catalogEndpoints"]) == ["iris-xgboost"]
    assert not [r for r in run.resources if "iris-tree" in r.name and "batch" not in r.name]
    variables = run.named("mlops-prod-inference-proxy-function").inputs["environment"]["variables"]
    assert sorted(json.loads(variables["MODELS"])) == ["iris-xgboost"]
    assert [m for m in said if "iris-tree'" in m] == [
        "pipelines[1] (model_name 'iris-tree'): no package pinned in catalogPackages; offline, the newest Approved "
        "package is not looked up, so this preview serves nothing for it"]


@pytest.mark.parametrize("given, taken", [
    ("mlops-staging-endpoint", "the stack's own endpoint (the trained model's)"),
    ("endpoint", "the stack's own endpoint (the trained model's)"),
    ("byom-iris-xgboost-endpoint", "the endpoint of pipelines[0] (model_name 'iris-xgboost')"),
])
def test_an_entry_may_not_take_another_endpoints_name(run_stack, tmp_path, given, taken):
    shipped = shipped_catalog()
    shipped["pipelines"][1]["endpoint_name"]["staging"] = given
    with pytest.raises(SettingsError) as error:
        run_stack("staging", overrides={"catalogFile": write(tmp_path, shipped)}, records=[])
    (problem,) = error.value.problems
    endpoint = given if given.startswith("mlops-staging-") else f"mlops-staging-{given}"
    assert problem.endswith(f"pipelines[1] (model_name 'iris-tree'): endpoint_name.staging = {given!r} gives the "
                            f"endpoint {endpoint!r}, which is {taken}: choose another endpoint_name")


def test_endpoint_names_stay_inside_the_stacks_names():
    from components.names import Names

    names = Names("mlops", "prod", "333333333333", "eu-west-1")
    assert names.catalog_endpoint_name("iris") == "mlops-prod-byom-iris-endpoint"
    assert names.catalog_endpoint_name("iris", "mlops-prod-iris") == "mlops-prod-iris"  # already inside: as given
    assert names.catalog_endpoint_name("iris", "iris-prod") == "mlops-prod-iris-prod"
    assert names.catalog_endpoint_name("iris", "mlops-dev-iris") == "mlops-prod-mlops-dev-iris"  # another stack's
    long = names.catalog_endpoint_name("iris", "e" * 63)
    assert len(long) == 63 and long.startswith("mlops-prod-eee") and long != names.catalog_endpoint_name("iris", "e" * 62)


# --- bodies in the AWS MLOps Framework's format ------------------------------------------------------

BUILTIN_0_90_REPOSITORY = XGBOOST_REPOSITORY  # xgboost 0.90-1: the same repository, another tag
FRAMEWORK_IMAGE_REPOSITORY = "arn:aws:ecr:us-east-1:123456789012:repository/mlops-ecrrep"


@pytest.mark.parametrize("kind, repository", [("byom_realtime_builtin", BUILTIN_0_90_REPOSITORY),
                                              ("byom_realtime_custom", FRAMEWORK_IMAGE_REPOSITORY)])
@pytest.mark.parametrize("multi", [False, True], ids=["single", "multi"])
@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_framework_bodies_produce_the_right_components(tmp_path, kind, repository, multi, stack):
    body = framework_body(kind, multi=multi)
    package = "arn:aws:sagemaker:eu-west-1:111111111111:model-package/mlops-dev-byom-testmodel-models/3"
    run = run_program(stack, overrides={"catalogFile": write(tmp_path, catalog(body)),
                                        "catalogPackages": json.dumps({"testmodel": package})})
    endpoint = f"mlops-{stack}-{stack}-endpoint" if multi else f"mlops-{stack}-test-endpoint"
    capture = f"{stack}_datacapture" if multi else "datacapture"
    assert [r.name for r in run.resources if r.type == COMPONENT] == [f"mlops-{stack}-byom-testmodel-endpoint"]
    assert part(run, "testmodel", Token.SAGEMAKER_ENDPOINT, "endpoint").inputs["name"] == endpoint
    config = part(run, "testmodel", Token.SAGEMAKER_ENDPOINT_CONFIGURATION, "config").inputs
    assert config["productionVariants"][0]["instanceType"] == "ml.m5.large"
    assert config["dataCaptureConfig"]["destinationS3Uri"] == f"s3://bucket/{capture}"
    assert part(run, "testmodel", Token.SAGEMAKER_MODEL, "model").inputs["primaryContainer"] == {"modelPackageName": package}
    by_sid = {s["Sid"]: s for s in statements(run, "testmodel")}
    assert by_sid["PullModelImage"]["Resource"] == [repository]
    assert by_sid["ReadModelArtifacts"]["Resource"] == [f"arn:aws:s3:::{REGISTRY_BUCKET}/model.tar.gz"]
    assert by_sid["WriteCapturedData"]["Resource"] == [f"arn:aws:s3:::bucket/{capture}/*"]
    assert run.outputs["catalogEndpoints"]["testmodel"]["endpointName"] == endpoint
    assert run_policy_pack(run.resources, stack=stack) == []


def test_a_model_package_entry_reads_what_the_trained_models_endpoint_reads(tmp_path):
    body = framework_body("byom_realtime_custom", registry=True)
    body["model_package_name"] = "arn:aws:sagemaker:eu-west-1:111111111111:model-package/mlops-dev-models/4"
    run = run_program("staging", overrides={"catalogFile": write(tmp_path, catalog(body)), "catalogPackages": "{}"})
    assert part(run, "testmodel", Token.SAGEMAKER_MODEL, "model").inputs["primaryContainer"] == {
        "modelPackageName": body["model_package_name"]}
    by_sid = {s["Sid"]: s for s in statements(run, "testmodel")}
    assert by_sid["PullModelImage"]["Resource"] == ["arn:aws:ecr:eu-west-1:111111111111:repository/mlops-*"]
    assert by_sid["ReadModelArtifacts"]["Action"] == ["s3:GetObject"]
    assert by_sid["ReadModelArtifacts"]["Resource"] == [f"arn:aws:s3:::{REGISTRY_BUCKET}/workflow/*"]
    assert run_policy_pack(run.resources, stack="staging") == []


def test_an_entrys_kms_key_encrypts_its_volumes_and_capture(tmp_path):
    body = framework_body("byom_realtime_custom")
    key = "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    body["kms_key_arn"] = key
    package = "arn:aws:sagemaker:eu-west-1:111111111111:model-package/mlops-dev-byom-testmodel-models/3"
    run = run_program("staging", overrides={"catalogFile": write(tmp_path, catalog(body)),
                                            "catalogPackages": json.dumps({"testmodel": package})})
    config = part(run, "testmodel", Token.SAGEMAKER_ENDPOINT_CONFIGURATION, "config").inputs
    assert config["kmsKeyArn"] == config["dataCaptureConfig"]["kmsKeyId"] == key
    assert {s["Sid"]: s for s in statements(run, "testmodel")}["EncryptCapturedData"]["Resource"] == [key]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_stacks_tester_role_may_invoke_each_catalog_endpoint_where_there_is_one(stack, stack_run):
    """The promotion's integration tests of a catalog package (staging: endpointTesterRole) invoke the entry's
    endpoint with the stack's tester role; the endpoint grants exactly that, on that role."""
    run = stack_run(stack)
    grants = [p for p in run.by_type(Token.IAM_ROLE_POLICY) if p.name.endswith("-tester-grant")]
    if stack == "prod":  # no tester role there
        assert grants == []
        return
    assert {p.inputs["role"] for p in grants} == {"mlops-staging-endpoint-tester"}
    invoked = sorted(s["Resource"][0] for p in grants for s in json.loads(p.inputs["policy"])["Statement"]
                     if s["Sid"] == "InvokeEndpoint")
    assert invoked == [f"arn:aws:sagemaker:eu-west-1:222222222222:endpoint/{name}" for name in
                       sorted(endpoint_names("staging").values())]


def test_an_endpoint_named_in_capitals_is_granted_by_its_lower_case_arn(tmp_path):
    """SageMaker's ARNs name resources in lower case (endpoint ``mlops-staging-Credit-Scoring`` is
    ``endpoint/mlops-staging-credit-scoring``) and IAM compares ARNs case-sensitively."""
    body = {**framework_body("byom_realtime_custom"), "endpoint_name": "Credit-Scoring"}
    package = "arn:aws:sagemaker:eu-west-1:111111111111:model-package/mlops-dev-byom-testmodel-models/3"
    run = run_program("staging", overrides={"catalogFile": write(tmp_path, catalog(body)),
                                            "catalogPackages": json.dumps({"testmodel": package})})
    name = part(run, "testmodel", Token.SAGEMAKER_ENDPOINT, "endpoint").inputs["name"]
    assert name == "mlops-staging-Credit-Scoring"
    invoke = [s for p in run.by_type(Token.IAM_ROLE_POLICY) for s in policy_statements(p.inputs["policy"])
              if "sagemaker:InvokeEndpoint" in s["Action"]]
    granted = {r for s in invoke for r in s["Resource"] if "endpoint/mlops-staging-" in r and "clarify" not in r}
    assert "arn:aws:sagemaker:eu-west-1:222222222222:endpoint/mlops-staging-credit-scoring" in granted
    assert not any(r != r.lower() for r in granted), granted
