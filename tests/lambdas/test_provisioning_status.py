"""GET /v1/pipelines/{model_name} per environment, read live from each environment's catalog status.

The provisioning Lambda runs with the environment the dev stack's program gives it (``program_env``); each
environment's stack lives in its own (moto) account, where the test creates what that stack's program
publishes (``components.catalog_status.status_document``) and the endpoints or state machines it names.
"""

from __future__ import annotations

import json
import time

import boto3
import pytest

from common import catalog_status
from components.catalog_status import status_document
from components.names import Names
from tests.lambdas.conftest import REGION, wait_for
from tests.lambdas.test_provisioning import BATCH, REALTIME, get, post
from tests.lambdas.test_provisioning import env, pipeline, program_env  # noqa: F401  (fixtures)

INFERENCE = "https://api{account}.execute-api.eu-west-1.amazonaws.com/v1"


def names_of(env: dict, environment: str) -> Names:
    return Names(env["PROJECT"], environment, json.loads(env["ACCOUNTS"])[environment], REGION)


def in_account(account: str, service: str):
    """A client acting in ``account`` (moto switches accounts on AssumeRole)."""
    credentials = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/test-setup", RoleSessionName="setup")["Credentials"]
    return boto3.client(service, region_name=REGION, aws_access_key_id=credentials["AccessKeyId"],
                        aws_secret_access_key=credentials["SecretAccessKey"],
                        aws_session_token=credentials["SessionToken"])


def publish(env: dict, environment: str, endpoints: dict[str, str] | None = None,
            batch: dict[str, str] | None = None) -> None:
    """What the stack of ``environment`` publishes (the program's document), as a SecureString."""
    names = names_of(env, environment)
    endpoints = endpoints or {}
    url = INFERENCE.format(account=names.account)
    document = status_document(environment, f"{url}/predict", endpoints,
                               {m: f"{url}/models/{m}/predict" for m in endpoints}, batch or {})
    in_account(names.account, "ssm").put_parameter(Name=names.catalog_status_parameter, Type="SecureString",
                                                   Value=json.dumps(document))


def create_endpoint(account: str, name: str, status: str | None = None) -> None:
    sagemaker = in_account(account, "sagemaker")
    role = f"arn:aws:iam::{account}:role/model"
    sagemaker.create_model(ModelName=f"{name}-model", ExecutionRoleArn=role,
                           PrimaryContainer={"Image": f"{account}.dkr.ecr.{REGION}.amazonaws.com/m:1"})
    sagemaker.create_endpoint_config(EndpointConfigName=f"{name}-config", ProductionVariants=[{
        "VariantName": "main", "ModelName": f"{name}-model", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config")
    if status is not None:  # moto's endpoints are InService at once
        from moto.sagemaker.models import sagemaker_backends

        sagemaker_backends[account][REGION].endpoints[name].endpoint_status = status


def create_state_machine(account: str, name: str) -> str:
    return in_account(account, "stepfunctions").create_state_machine(
        name=name, roleArn=f"arn:aws:iam::{account}:role/sfn",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}))["stateMachineArn"]


def test_get_reports_each_endpoint_live_in_service_creating_or_missing(env, pipeline):
    post(REALTIME)
    dev, staging, prod = (names_of(env, e) for e in ("dev", "staging", "prod"))
    for names in (dev, staging, prod):
        publish(env, names.environment, {"testmodel": names.catalog_endpoint_name("testmodel", f"{names.environment}-endpoint")})
    create_endpoint(dev.account, "mlops-dev-dev-endpoint")
    create_endpoint(staging.account, "mlops-staging-staging-endpoint", status="Creating")
    # prod publishes the endpoint, which does not exist (deleted, or its creation not started)

    status, answer = get("testmodel")

    assert status == 200
    environments = answer["environments"]
    assert environments["staging"] == {
        "deployed_by": "promotion", "endpoint_name": "mlops-staging-staging-endpoint", "status": "Creating",
        "inference_url": "https://api222222222222.execute-api.eu-west-1.amazonaws.com/v1/models/testmodel/predict"}
    assert environments["dev"]["status"] == "InService"
    assert environments["dev"]["endpoint_name"] == "mlops-dev-dev-endpoint"
    assert environments["dev"]["inference_url"].endswith("/v1/models/testmodel/predict")
    assert environments["dev"]["deploy_outputs"] == "no deploy recorded yet"
    assert environments["prod"] == {"deployed_by": "promotion", "endpoint_name": "mlops-prod-prod-endpoint",
                                    "status": "not deployed", "reason": "the endpoint does not exist"}


def test_an_entry_a_stack_does_not_serve_yet_is_not_deployed(env, pipeline):
    post(REALTIME)
    for environment in ("dev", "staging", "prod"):
        publish(env, environment)  # no catalog endpoint: no approved package yet
    environments = get("testmodel")[1]["environments"]
    assert {e: (v["status"], v["reason"]) for e, v in environments.items()} == {
        e: ("not deployed", "the stack serves no model package for this entry yet") for e in ("dev", "staging", "prod")}


def test_a_batch_entry_reports_its_last_run_or_never_run(env, pipeline):
    post(BATCH)
    dev, staging, prod = (names_of(env, e) for e in ("dev", "staging", "prod"))
    machines = {}
    for names in (dev, staging, prod):
        machines[names.environment] = create_state_machine(names.account, names.catalog_batch_state_machine("batchmodel"))
        publish(env, names.environment, batch={"batchmodel": machines[names.environment]})
    sfn = in_account(staging.account, "stepfunctions")
    execution = sfn.start_execution(stateMachineArn=machines["staging"])["executionArn"]
    wait_for(lambda: sfn.describe_execution(executionArn=execution)["status"] == "SUCCEEDED")

    environments = get("batchmodel")[1]["environments"]

    run = environments["staging"]["last_run"]
    assert run["execution_arn"] == execution and run["status"] == "SUCCEEDED"
    assert run["started_at"] is not None and run["stopped_at"] is not None
    assert environments["staging"]["state_machine_arn"] == machines["staging"]
    assert environments["prod"]["last_run"] == "never run" and environments["prod"]["status"] == "deployed"
    assert environments["prod"]["batch_job_output_location"] == "s3://bucket/output"


def test_an_environment_that_cannot_be_read_is_unknown_and_the_others_stand(env, pipeline, monkeypatch):
    post(REALTIME)
    dev, staging, prod = (names_of(env, e) for e in ("dev", "staging", "prod"))
    for names in (dev, staging, prod):
        publish(env, names.environment, {"testmodel": names.catalog_endpoint_name("testmodel", f"{names.environment}-endpoint")})
        create_endpoint(names.account, names.catalog_endpoint_name("testmodel", f"{names.environment}-endpoint"))
    from moto.sts.exceptions import STSClientError
    from moto.sts.models import STSBackend

    original = STSBackend.assume_role

    def deny_prod(self, *args, **kwargs):
        if kwargs.get("role_arn") == prod.catalog_status_role_arn:
            raise STSClientError("AccessDenied", f"not authorized to perform sts:AssumeRole on {prod.catalog_status_role_arn}")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(STSBackend, "assume_role", deny_prod)

    status, answer = get("testmodel")

    assert status == 200
    assert answer["environments"]["prod"] == {
        "deployed_by": "promotion", "endpoint_name": "mlops-prod-prod-endpoint", "status": "unknown",
        "reason": f"cannot assume {prod.catalog_status_role_arn}: AccessDenied"}
    assert answer["environments"]["dev"]["status"] == answer["environments"]["staging"]["status"] == "InService"


def test_an_environment_publishing_nothing_yet_is_unknown_not_failed(env, pipeline):
    post(REALTIME)
    environments = get("testmodel")[1]["environments"]
    for environment, names in ((e, names_of(env, e)) for e in ("dev", "staging", "prod")):
        assert environments[environment]["status"] == "unknown"
        assert environments[environment]["reason"] == (
            f"the stack publishes no catalog status ({names.catalog_status_parameter}): it has not been deployed "
            "with this version yet")


def test_a_slow_environment_is_unknown_within_the_budget(env, monkeypatch):
    sources = {e: catalog_status.StatusSource(names_of(env, e).catalog_status_role_arn,
                                              names_of(env, e).catalog_status_parameter, REGION)
               for e in ("dev", "staging")}

    def read_one(sts, source, model_name, realtime):
        if source.role_arn == sources["staging"].role_arn:
            time.sleep(2)
        return {"status": "InService"}

    monkeypatch.setattr(catalog_status, "read_one", read_one)
    started = time.monotonic()
    answers = catalog_status.read_all(sources, "testmodel", True, budget_seconds=0.5)
    assert time.monotonic() - started < 1.5
    assert answers == {"dev": {"status": "InService"},
                       "staging": {"status": "unknown", "reason": "no answer within 0.5 s"}}


@pytest.mark.parametrize("value", ["not json", json.dumps({"endpoints": []}), json.dumps([1])])
def test_a_malformed_status_document_is_unknown(env, pipeline, value):
    post(REALTIME)
    names = names_of(env, "staging")
    in_account(names.account, "ssm").put_parameter(Name=names.catalog_status_parameter, Type="SecureString", Value=value)
    staging = get("testmodel")[1]["environments"]["staging"]
    assert staging["status"] == "unknown"
    assert staging["reason"] == f"{names.catalog_status_parameter} is not a catalog status document"


def documented_sample() -> dict:
    """The ``environments`` sample of docs/catalog.md ("What GET reports per environment")."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "catalog.md").read_text()
    section = text[text.index("### What GET reports per environment"):]
    block = section[section.index("```json") + len("```json"):section.index("```", section.index("```json") + 7)]
    return json.loads("{" + block.strip() + "}")["environments"]


def test_the_documented_sample_is_what_get_answers(env, pipeline, monkeypatch):
    post(REALTIME)
    dev, staging, prod = (names_of(env, e) for e in ("dev", "staging", "prod"))
    for names in (staging, prod):
        publish(env, names.environment, {"testmodel": names.catalog_endpoint_name("testmodel", f"{names.environment}-endpoint")})
    create_endpoint(staging.account, "mlops-staging-staging-endpoint", status="Creating")
    from moto.sts.exceptions import STSClientError
    from moto.sts.models import STSBackend

    original = STSBackend.assume_role

    def deny_dev(self, *args, **kwargs):
        if kwargs.get("role_arn") == dev.catalog_status_role_arn:
            raise STSClientError("AccessDenied", "not authorized")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(STSBackend, "assume_role", deny_dev)
    assert get("testmodel")[1]["environments"] == documented_sample()
