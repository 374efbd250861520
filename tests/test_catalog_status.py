"""Every stack's catalog status under mocks: the SSM parameter's content (what the stack's outputs say it
serves), the status role's trust (the registry's provisioning API role only) and its exact statements."""

from __future__ import annotations

import json

import pulumi
import pytest

from components.catalog_status import CatalogStatusArgs
from components.context import StackContext
from components.names import Names
from tests.conftest import policy_statements

ACCOUNTS = {"dev": "111111111111", "staging": "222222222222", "prod": "333333333333"}
API_ROLE = "arn:aws:iam::111111111111:role/mlops-dev-provisioning-api-fn"


def status_of(run, stack: str):
    return {suffix: run.named(f"mlops-{stack}-catalog-status-{suffix}") for suffix in ("parameter", "role", "policy")}


def parameter_value(parameter) -> dict:
    value = parameter.inputs["value"]
    return json.loads(value["value"] if isinstance(value, dict) else value)  # a secret under mocks


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_parameter_holds_what_the_stack_serves(stack_run, stack):
    run = stack_run(stack)
    parameter = status_of(run, stack)["parameter"]
    assert (parameter.inputs["name"], parameter.inputs["type"]) == (f"/mlops-{stack}/catalog-status", "SecureString")
    assert parameter.inputs["keyId"] == run.outputs["kmsKeyArn"]
    endpoints, batch = run.outputs.get("catalogEndpoints", {}), run.outputs.get("catalogBatchPipelines", {})
    assert endpoints and batch, "the sample catalog serves real-time and batch entries in every stack"
    assert parameter_value(parameter) == {
        "environment": stack, "inference_url": run.outputs["inferenceUrl"],
        "endpoints": {m: {"endpoint_name": e["endpointName"], "url": e["url"]} for m, e in endpoints.items()},
        "batch": {m: {"state_machine_arn": b["stateMachineArn"]} for m, b in batch.items()}}


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_only_the_registrys_provisioning_api_may_assume_the_status_role(stack_run, stack):
    role = status_of(stack_run(stack), stack)["role"]
    assert role.inputs["name"] == f"mlops-{stack}-catalog-status"
    assert policy_statements(role.inputs["assumeRolePolicy"]) == [{
        "Sid": "RegistryProvisioningApi", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
        "Action": "sts:AssumeRole", "Condition": {"ArnEquals": {"aws:PrincipalArn": API_ROLE}}}]
    assert Names("mlops", "dev", "111111111111", "eu-west-1").provisioning_function_role_arn == API_ROLE


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_status_role_reads_the_parameter_and_describes_exactly_the_stacks_catalog_resources(stack_run, stack):
    run = stack_run(stack)
    account = ACCOUNTS[stack]
    parameter = f"arn:aws:ssm:eu-west-1:{account}:parameter/mlops-{stack}/catalog-status"
    endpoints = sorted(e["endpointName"] for e in run.outputs["catalogEndpoints"].values())
    machines = sorted(b["stateMachineArn"] for b in run.outputs["catalogBatchPipelines"].values())
    assert policy_statements(status_of(run, stack)["policy"].inputs["policy"]) == [
        {"Sid": "ReadCatalogStatus", "Effect": "Allow", "Action": ["ssm:GetParameter"], "Resource": [parameter]},
        {"Sid": "DecryptCatalogStatus", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [run.outputs["kmsKeyArn"]],
         "Condition": {"StringEquals": {"kms:ViaService": "ssm.eu-west-1.amazonaws.com",
                                        "kms:EncryptionContext:PARAMETER_ARN": parameter}}},
        {"Sid": "DescribeCatalogEndpoints", "Effect": "Allow", "Action": ["sagemaker:DescribeEndpoint"],
         "Resource": [f"arn:aws:sagemaker:eu-west-1:{account}:endpoint/{e}" for e in endpoints]},
        {"Sid": "ListBatchRuns", "Effect": "Allow", "Action": ["states:ListExecutions"], "Resource": machines},
    ]


def _ctx() -> StackContext:
    return StackContext(names=Names("mlops", "dev", "111111111111", "eu-west-1"), protect=False,
                        log_retention_days=30, opts=pulumi.ResourceOptions())


def test_a_status_too_large_for_a_parameter_is_refused_before_any_resource():
    endpoints = {f"model-{i:03d}": f"mlops-dev-byom-model-{i:03d}-endpoint" for i in range(40)}
    with pytest.raises(ValueError, match=r"would take up to \d+ bytes \(40 endpoints, 0 batch pipelines\): an SSM "
                                         r"parameter holds 8192"):
        CatalogStatusArgs(_ctx(), reader_role_arn=API_ROLE, inference_url="u", endpoints=endpoints,
                          endpoint_urls=dict.fromkeys(endpoints, "u"))
    few = dict(list(endpoints.items())[:10])
    CatalogStatusArgs(_ctx(), reader_role_arn=API_ROLE, inference_url="u", endpoints=few, endpoint_urls=dict.fromkeys(few, "u"))


def test_every_endpoint_needs_its_url():
    with pytest.raises(ValueError, match="endpoint_urls has no URL for b"):
        CatalogStatusArgs(_ctx(), reader_role_arn=API_ROLE, inference_url="u", endpoints={"a": "x", "b": "y"},
                          endpoint_urls={"a": "u"})


def test_the_api_may_assume_exactly_the_roles_each_stack_creates_and_the_lambda_asks_for(stack_run):
    dev = stack_run("dev")
    variables = dev.named("mlops-dev-provisioning-handler-function").inputs["environment"]["variables"]
    accounts, regions = json.loads(variables["ACCOUNTS"]), json.loads(variables["REGIONS"])
    asked = sorted(Names(variables["PROJECT"], e, accounts[e], regions[e]).catalog_status_role_arn for e in accounts)
    (granted,) = [s for s in policy_statements(dev.named("mlops-dev-provisioning-handler-policy").inputs["policy"])
                  if s["Sid"] == "ReadEnvironmentsCatalogStatus"]
    created = sorted(f"arn:aws:iam::{ACCOUNTS[stack]}:role/{status_of(stack_run(stack), stack)['role'].inputs['name']}"
                     for stack in ("dev", "staging", "prod"))
    assert granted["Action"] == ["sts:AssumeRole"]
    assert granted["Resource"] == asked == created
