"""The provisioning API and the deploy recorder, under moto, with the environment the program gives them.

The Lambdas' environment is the dev stack's as the program records it (topology, regions, accounts, the
catalog file's pipelines, store prefixes); only the topic is moto's. moto's CodePipeline runs nothing and
reports an execution Succeeded the moment it starts, so ``QueuedPipeline`` plays CodePipeline's QUEUED
execution mode, as the component configures it: executions start InProgress, one at a time enters the
Deploy stage (a stage STARTED event), and a finished one hands the stage to the next (a pipeline event).
"""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.store import stored_entries
from catalog.validate import CatalogError, validate_entry
from common import aws
from provisioning_api import handler as api
from provisioning_events import handler as events
from tests.catalog.bodies import FRAMEWORK_BODIES, framework_body
from tests.lambdas.conftest import ACCOUNT, REGION, sns_messages

DOMAIN = "abc123.execute-api.eu-west-1.amazonaws.com"
DEPLOY_STAGE = "Deploy"


@pytest.fixture(scope="module")
def program_env():
    """The provisioning functions' environment as the dev stack's program sets it."""
    from tools.mockrun import run_program

    run = run_program("dev")
    return ({**run.named("mlops-dev-provisioning-handler-function").inputs["environment"]["variables"]},
            {**run.named("mlops-dev-provisioning-deploy-events-function").inputs["environment"]["variables"]})


class QueuedPipeline:
    """moto's pipeline with CodePipeline's QUEUED semantics, delivering state-change events to the recorder."""

    def __init__(self, name: str):
        from moto.codepipeline.models import codepipeline_backends

        self.name = name
        self.backend = codepipeline_backends[ACCOUNT][REGION]
        self.deploying: str | None = None

    def executions(self) -> list:
        return sorted(self.backend.pipelines[self.name].executions.values(), key=lambda e: e.start_time)

    def waiting(self) -> list:
        return [e for e in self.executions() if e.status == "InProgress" and e.pipeline_execution_id != self.deploying]

    def advance(self) -> None:
        """The Deploy stage is free: the oldest waiting execution enters it."""
        if self.deploying is None and self.waiting():
            self.deploying = self.waiting()[0].pipeline_execution_id
            events.handler(stage_event(self.name, self.deploying, "STARTED"), None)

    def finish(self, status: str = "Succeeded", summary: str | None = None, error: str | None = None) -> str:
        execution_id = self.deploying
        assert execution_id is not None, "no deploy is running"
        if error:
            FAILED_ACTIONS[execution_id] = [{"stageName": DEPLOY_STAGE, "actionName": DEPLOY_STAGE, "status": "Failed",
                                             "output": {"executionResult": {"externalExecutionUrl": BUILD_URL,
                                                                            "errorDetails": {"message": error}}}}]
        execution = self.backend.pipelines[self.name].executions[execution_id]
        execution.status, execution.status_summary = status, summary
        self.deploying = None
        state = {"Succeeded": "SUCCEEDED", "Failed": "FAILED", "Stopped": "STOPPED"}[status]
        events.handler(pipeline_event(self.name, execution_id, state), None)
        self.advance()
        return execution_id


def stage_event(pipeline: str, execution_id: str, state: str, stage: str = DEPLOY_STAGE) -> dict:
    return {"source": "aws.codepipeline", "detail-type": events.STAGE_EVENT,
            "detail": {"pipeline": pipeline, "execution-id": execution_id, "stage": stage, "state": state}}


def pipeline_event(pipeline: str, execution_id: str, state: str) -> dict:
    return {"source": "aws.codepipeline", "detail-type": events.PIPELINE_EVENT,
            "detail": {"pipeline": pipeline, "execution-id": execution_id, "state": state}}


@pytest.fixture
def env(program_env, boto, monkeypatch):
    api_env, events_env = program_env
    topic = boto("sns").create_topic(Name="mlops-dev-notifications")["TopicArn"]
    for name, value in {**api_env, **events_env, "TOPIC_ARN": topic}.items():
        monkeypatch.setenv(name, value)
    s3 = boto("s3")
    s3.create_bucket(Bucket=api_env["STORE_BUCKET"], CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=api_env["STORE_BUCKET"], VersioningConfiguration={"Status": "Enabled"})
    role = boto("iam").create_role(RoleName="pipeline", AssumeRolePolicyDocument=json.dumps({"Statement": [
        {"Effect": "Allow", "Principal": {"Service": "codepipeline.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    boto("codepipeline").create_pipeline(pipeline={
        "name": api_env["PIPELINE_NAME"], "roleArn": role["Role"]["Arn"], "pipelineType": "V2", "executionMode": "QUEUED",
        "artifactStore": {"type": "S3", "location": api_env["STORE_BUCKET"]},
        "stages": [{"name": "Source", "actions": [{"name": "Source", "actionTypeId": {
                        "category": "Source", "owner": "AWS", "provider": "S3", "version": "1"}}]},
                   {"name": DEPLOY_STAGE, "actions": [{"name": DEPLOY_STAGE, "actionTypeId": {
                        "category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"}}]}]})
    # CodePipeline's executions wait or run: moto's would be Succeeded at once.
    from moto.codepipeline import models

    original = models.PipelineExecution.__init__

    def in_progress(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.status = "InProgress"

    monkeypatch.setattr(models.PipelineExecution, "__init__", in_progress)
    # moto has no ListActionExecutions: answer with the failed actions QueuedPipeline.finish recorded.
    from moto.codepipeline.responses import CodePipelineResponse

    def list_action_executions(self):
        execution_id = json.loads(self.body).get("filter", {}).get("pipelineExecutionId")
        return json.dumps({"actionExecutionDetails": FAILED_ACTIONS.get(execution_id, [])})

    monkeypatch.setattr(CodePipelineResponse, "list_action_executions", list_action_executions, raising=False)
    FAILED_ACTIONS.clear()
    return {**api_env, "TOPIC_ARN": topic}


FAILED_ACTIONS: dict[str, list] = {}
BUILD_URL = "https://console.aws.amazon.com/codesuite/codebuild/projects/mlops-dev-provisioning-deploy/build/1"


@pytest.fixture
def pipeline(env):
    return QueuedPipeline(env["PIPELINE_NAME"])


def call(method: str, resource: str, body=None, *, pid: str | None = None, raw: bool = False) -> tuple[int, dict]:
    event = {"httpMethod": method, "resource": resource, "isBase64Encoded": False,
             "body": body if raw or body is None else json.dumps(body),
             "pathParameters": {"model_name": pid} if pid is not None else None,
             "requestContext": {"domainName": DOMAIN, "stage": "v1"}}
    response = api.handler(event, None)
    return response["statusCode"], json.loads(response["body"])


def post(body, resource: str = "/pipelines", raw: bool = False) -> tuple[int, dict]:
    return call("POST", resource, body, raw=raw)


def get(pid: str) -> tuple[int, dict]:
    return call("GET", "/pipelines/{model_name}", pid=pid)


def stored(boto, env) -> dict[str, bytes]:
    s3 = boto("s3")
    listing = s3.list_objects_v2(Bucket=env["STORE_BUCKET"], Prefix=env["STORE_PREFIX"] + "/").get("Contents", [])
    return {item["Key"].rsplit("/", 1)[1]: s3.get_object(Bucket=env["STORE_BUCKET"], Key=item["Key"])["Body"].read()
            for item in listing}


def record(boto, env, name: str) -> dict:
    return json.loads(stored(boto, env)[name])


REALTIME = framework_body("byom_realtime_builtin", multi=True)
BATCH = framework_body("byom_batch_custom") | {"model_name": "batchmodel"}


def test_a_valid_post_is_stored_and_starts_one_deploy(env, pipeline, boto):
    status, answer = post(REALTIME)
    assert status == 202
    assert answer["pipeline_id"] == "testmodel" and answer["state"] == "queued"
    assert answer["status_url"] == f"https://{DOMAIN}/v1/pipelines/testmodel"
    kept = record(boto, env, "testmodel.json")
    assert kept["entry"] == REALTIME and kept["retired"] is False and kept["state"] == "queued"
    (execution,) = pipeline.executions()
    assert kept["execution_id"] == execution.pipeline_execution_id
    assert execution.variables == [{"name": "PIPELINE_ID", "value": "testmodel"}, {"name": "ACTION", "value": "provision"}]
    # what the deploy's program reads back: the entry, for the next pulumi up
    assert stored_entries(stored(boto, env)) == {"testmodel.json": REALTIME}


def test_an_invalid_post_lists_every_problem_and_stores_and_starts_nothing(env, pipeline, boto):
    bad = REALTIME | {"inference_instance": "m5.large", "model_framework": "sklearn", "endpont_name": "x"}
    del bad["data_capture_location"]
    with pytest.raises(CatalogError) as expected:
        validate_entry(bad, environments=json.loads(env["ENVIRONMENTS"]), regions=json.loads(env["REGIONS"]))
    status, answer = post(bad)
    assert status == 400
    assert answer["problems"] == expected.value.problems and len(answer["problems"]) == 4
    assert "endpont_name is not a catalog field (did you mean 'endpoint_name'?" in " ".join(answer["problems"])
    assert stored(boto, env) == {} and pipeline.executions() == []


def test_get_before_during_and_after_a_deploy(env, pipeline, boto):
    assert get("testmodel")[0] == 404
    post(REALTIME)
    status, answer = get("testmodel")
    assert status == 200 and answer["state"] == "queued" and answer["entry"] == REALTIME
    prod = answer["environments"]["prod"]  # the name inside the stack's names; its live status: test_provisioning_status
    assert (prod["deployed_by"], prod["endpoint_name"], prod["status"]) == ("promotion", "mlops-prod-prod-endpoint", "unknown")
    assert answer["environments"]["dev"]["deploy_outputs"] == "no deploy recorded yet"
    pipeline.advance()
    assert get("testmodel")[1]["state"] == "running"
    boto("s3").put_object(Bucket=env["STORE_BUCKET"], Key=f"{env['DEPLOYS_PREFIX']}/dev.json",
                          Body=json.dumps({"environment": "dev", "catalogEndpoints": {"testmodel": "dev-endpoint"},
                                           "inferenceUrl": "https://x/v1/predict"}))
    pipeline.finish("Succeeded")
    status, answer = get("testmodel")
    assert answer["state"] == "succeeded" and answer["reason"] is None
    assert answer["environments"]["dev"]["deploy_outputs"]["outputs"] == {"catalogEndpoints": {"testmodel": "dev-endpoint"}}
    assert sns_messages(env["TOPIC_ARN"]) == []


def test_two_posts_give_one_running_deploy_and_one_queued(env, pipeline):
    post(REALTIME)
    post(BATCH)
    pipeline.advance()
    states = {p["pipeline_id"]: p["state"] for p in call("GET", "/pipelines")[1]["pipelines"]}
    assert states == {"testmodel": "running", "batchmodel": "queued"}
    assert [e.status for e in pipeline.executions()] == ["InProgress", "InProgress"]
    pipeline.finish("Succeeded")  # the queued one enters the stage only now
    assert get("testmodel")[1]["state"] == "succeeded" and get("batchmodel")[1]["state"] == "running"
    pipeline.finish("Succeeded")
    assert get("batchmodel")[1]["state"] == "succeeded"


def test_a_failed_deploy_is_recorded_and_notified_with_the_entry_and_the_reason(env, pipeline):
    post(REALTIME)
    pipeline.advance()
    pipeline.finish("Failed", summary="Build failed", error="Error while executing command: pulumi up. Reason: exit status 255")
    answer = get("testmodel")[1]
    assert answer["state"] == "failed"
    assert answer["reason"] == ("the deploy failed in Deploy/Deploy: Error while executing command: pulumi up. Reason: "
                                f"exit status 255 (logs: {BUILD_URL})")
    (message,) = sns_messages(env["TOPIC_ARN"])
    assert message["subject"] == "dev: provisioning of testmodel failed"
    assert answer["reason"] in message["message"] and '"model_name": "testmodel"' in message["message"]


def test_get_settles_a_deploy_whose_event_was_lost_and_notifies_once(env, pipeline):
    post(REALTIME)
    (execution,) = pipeline.executions()
    execution.status, execution.status_summary = "Stopped", "stopped by an operator"
    answer = get("testmodel")[1]
    assert answer["state"] == "failed" and answer["reason"] == "the deploy was stopped: stopped by an operator"
    get("testmodel")
    events.handler(pipeline_event(env["PIPELINE_NAME"], execution.pipeline_execution_id, "STOPPED"), None)
    assert len(sns_messages(env["TOPIC_ARN"])) == 1


def test_delete_retires_the_entry_keeping_it_as_history(env, pipeline, boto):
    post(REALTIME)
    pipeline.advance()
    pipeline.finish()
    status, answer = call("DELETE", "/pipelines/{model_name}", pid="testmodel")
    assert status == 202 and answer["state"] == "queued"
    kept = record(boto, env, "testmodel.json")
    assert kept["retired"] is True and kept["entry"] == REALTIME
    assert pipeline.executions()[-1].variables[1] == {"name": "ACTION", "value": "retire"}
    assert stored_entries(stored(boto, env)) == {}  # the next deploy leaves it out
    versions = boto("s3").list_object_versions(Bucket=env["STORE_BUCKET"], Prefix=env["STORE_PREFIX"])["Versions"]
    assert len(versions) > 2  # every change is a version: the history
    assert call("DELETE", "/pipelines/{model_name}", pid="testmodel")[0] == 409
    assert call("DELETE", "/pipelines/{model_name}", pid="unknown")[0] == 404
    pipeline.advance()
    pipeline.finish()
    assert get("testmodel")[1] | {"environments": None} == get("testmodel")[1] | {
        "retired": True, "state": "succeeded", "environments": None}


@pytest.mark.parametrize(("label", "body"), FRAMEWORK_BODIES, ids=[label for label, _ in FRAMEWORK_BODIES])
def test_the_framework_routes_accept_its_bodies(env, pipeline, label, body):
    status, answer = post(body, resource="/provisionpipeline")
    assert status == 202, answer
    pid = answer["pipeline_id"]
    assert pid == ("mlops-ecrrep:tree" if "image" in label else "testmodel")
    status, described = call("POST", "/pipelinestatus", {"pipeline_id": pid})
    assert status == 200 and described == get(pid)[1] and described["entry"] == body


def test_an_entry_of_the_catalog_file_is_refused(env, pipeline, boto):
    status, answer = post(framework_body("byom_realtime_custom") | {"model_name": "Iris-Tree"})
    assert status == 409 and "iris-tree is in the catalog file" in answer["error"].lower()
    assert stored(boto, env) == {} and pipeline.executions() == []


def test_a_deploy_that_cannot_start_is_recorded_and_notified(env, monkeypatch):
    monkeypatch.setenv("PIPELINE_NAME", "no-such-pipeline")
    aws.reset_clients()
    status, answer = post(REALTIME)
    assert status == 503 and answer["pipeline_id"] == "testmodel"
    assert get("testmodel")[1]["state"] == "failed"
    (message,) = sns_messages(env["TOPIC_ARN"])
    assert "could not be started (PipelineNotFoundException)" in message["message"]


BAD_REQUESTS = [
    ("not JSON", "POST", "/pipelines", "{", 400),
    ("empty", "POST", "/pipelines", "", 400),
    ("deep", "POST", "/pipelines", "[" * 100_000 + "]" * 100_000, 413),
    ("deep but small", "POST", "/pipelines", "[" * 30_000, 400),
    ("NaN", "POST", "/pipelines", '{"model_name": NaN}', 400),
    ("huge number", "POST", "/pipelines", '{"inference_instance_count": ' + "9" * 5000 + "}", 400),
    ("duplicate key", "POST", "/pipelines", json.dumps(REALTIME)[:-1] + ', "model_name": "x"}', 400),
    ("a list", "POST", "/pipelines", "[]", 400),
    ("a string", "POST", "/provisionpipeline", '"byom"', 400),
    ("too big", "POST", "/pipelines", json.dumps({"model_name": "x" * 70_000}), 413),
    ("status without id", "POST", "/pipelinestatus", "{}", 400),
    ("status id not text", "POST", "/pipelinestatus", '{"pipeline_id": {"a": [1]}}', 400),
    ("status extra field", "POST", "/pipelinestatus", '{"pipeline_id": "x", "stack": "y"}', 400),
    ("status of nothing", "POST", "/pipelinestatus", '{"pipeline_id": "nothing"}', 404),
    ("wrong method", "PUT", "/pipelines", "{}", 405),
    ("unknown route", "GET", "/nothing", None, 404),
]


@pytest.mark.parametrize(("label", "method", "resource", "body", "expected"), BAD_REQUESTS,
                         ids=[case[0] for case in BAD_REQUESTS])
def test_client_mistakes_are_4xx_with_a_reason(env, pipeline, label, method, resource, body, expected):
    status, answer = call(method, resource, body, raw=True)
    assert status == expected and answer["error"]
    assert pipeline.executions() == []


@pytest.mark.parametrize("pid", ["a/b", "x" * 500, "-x", "", "é"])
def test_a_bad_path_id_is_a_400(env, pid):
    status, answer = call("GET", "/pipelines/{model_name}", pid=pid)
    assert status == 400 and "is not a pipeline id" in answer["error"]


def test_a_base64_body_is_read_and_invalid_base64_refused(env, pipeline):
    event = {"httpMethod": "POST", "resource": "/pipelines", "isBase64Encoded": True,
             "body": base64.b64encode(json.dumps(BATCH).encode()).decode(), "requestContext": {}}
    assert api.handler(event, None)["statusCode"] == 202
    assert api.handler({**event, "body": "%%%"}, None)["statusCode"] == 400


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=25), children,
                                                                                      max_size=5), max_leaves=30)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=JSON, fields=st.dictionaries(st.sampled_from(sorted(REALTIME) + ["pipeline_type"]), JSON, max_size=4))
def test_any_json_is_a_4xx_or_an_acceptance_never_a_5xx(env, body, fields):
    for candidate in (body, {**REALTIME, **fields}):
        status, answer = post(candidate)
        assert status in (202, 400, 409), answer
        if status == 400:
            assert answer["error"]


def test_the_documented_awscurl_example_is_what_the_api_accepts(env, pipeline):
    """docs/catalog.md's entry.json and the answers it shows."""
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "catalog.md").read_text()
    example = json.loads(docs.split("cat > entry.json <<'JSON'\n", 1)[1].split("\nJSON\n", 1)[0])
    assert example == BATCH
    status, answer = post(example)
    assert status == 202 and answer["pipeline_id"] == "batchmodel" and answer["state"] == "queued"
    assert f'"status_url": "https://<api>.execute-api.eu-west-1.amazonaws.com/v1/pipelines/batchmodel"' in docs
    pipeline.advance()
    assert get("batchmodel")[1]["state"] == "running"
    assert call("DELETE", "/pipelines/{model_name}", pid="batchmodel")[0] == 202


def test_the_recorder_ignores_other_events_and_names_malformed_ones(env, pipeline):
    post(REALTIME)
    (execution,) = pipeline.executions()
    name, execution_id = env["PIPELINE_NAME"], execution.pipeline_execution_id
    assert events.handler(stage_event("other-pipeline", execution_id, "STARTED"), None) == {"ignored": "another pipeline"}
    assert events.handler(stage_event(name, execution_id, "STARTED", stage="Source"), None)["ignored"]
    assert events.handler(pipeline_event(name, execution_id, "STARTED"), None)["ignored"]
    assert get("testmodel")[1]["state"] == "queued"
    with pytest.raises(events.InvalidEvent, match="no execution-id and state"):
        events.handler({"detail-type": events.PIPELINE_EVENT, "detail": {"pipeline": name}}, None)
    with pytest.raises(events.InvalidEvent):
        events.handler([], None)
