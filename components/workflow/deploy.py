"""Deploy: endpoint config, create or update the stage's stable endpoint, wait for InService, smoke test.

Only stacks whose workflow deploys (``deploy_endpoint``, dev) have these states; elsewhere model
promotion owns the endpoint. The endpoint name is stable so the inference URL never changes: the first
run creates it (DescribeEndpoint's not-found error), later runs update it in place, and a run waits
while another change on the endpoint settles instead of failing on it.
"""

from __future__ import annotations

from components.workflow.params import WorkflowDefinitionParams
from components.workflow.states import (
    ENDPOINT_NOT_FOUND_CAUSE,
    SAGEMAKER_SDK_ERROR,
    SAGEMAKER_SDK_TRANSIENT_ERRORS,
    SAGEMAKER_TRANSIENT_ERRORS,
    S,
)
from components.workflow.steps import Stage, State, Step, goto, step
from components.workflow.tasks import catch_all, failure_pass, lambda_task, task

__all__ = ["deploy_states"]


def deploy_states(p: WorkflowDefinitionParams) -> Stage:
    """CreateEndpointConfig → FindEndpoint → CheckExistingEndpoint → UpdateEndpoint → StartEndpointWait →
    WaitForEndpoint → DescribeEndpoint → CheckEndpointStatus → SmokeTest → CheckSmokeTest, with the
    first run's CreateEndpoint, the wait loops and the deployment failures as branches."""
    sm = SAGEMAKER_TRANSIENT_ERRORS
    endpoint_update = lambda action: task(  # noqa: E731
        p, S.CREATE_ENDPOINT if action == "create" else S.UPDATE_ENDPOINT, f"arn:aws:states:::sagemaker:{action}Endpoint",
        {"EndpointName": p.endpoint_name, "EndpointConfigName.$": "$.run.name"},
        retry_on=sm,
        result_selector={"action": f"{action}d", "endpointArn.$": "$.EndpointArn"},
        result_path="$.deployment",
    )
    status_is = lambda path, *statuses: (  # noqa: E731
        {"Variable": path, "StringEquals": statuses[0]} if len(statuses) == 1
        else {"Or": [{"Variable": path, "StringEquals": s} for s in statuses]}
    )

    def existing_endpoint_status(next_state: str) -> State:
        return {
            "Type": "Choice",
            "Choices": [
                {**status_is("$.existingEndpoint.status", "InService"), "Next": next_state},
                {**status_is("$.existingEndpoint.status", "Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"),
                 "Next": S.WAIT_FOR_IDLE_ENDPOINT},
            ],
            "Default": S.EXISTING_ENDPOINT_UNUSABLE,
        }

    def check_endpoint_status(next_state: str) -> State:
        return {
            "Type": "Choice",
            "Choices": [
                {**status_is("$.endpoint.status", "InService"), "Next": next_state},
                {**status_is("$.endpoint.status", "Failed", "OutOfService", "UpdateRollbackFailed", "RollingBack"),
                 "Next": S.ENDPOINT_FAILED},
                {"Variable": "$.endpointWait.polls", "NumericGreaterThanEquals": p.endpoint_max_polls, "Next": S.ENDPOINT_WAIT_TIMED_OUT},
            ],
            "Default": S.COUNT_ENDPOINT_POLL,
        }

    def check_smoke_test(next_state: str) -> State:
        return {
            "Type": "Choice",
            "Choices": [{"And": [
                {"Variable": "$.smokeTest.response.result", "IsPresent": True},
                {"Not": {"Variable": "$.smokeTest.response.result", "IsNull": True}},
            ], "Next": next_state}],
            "Default": S.SMOKE_TEST_NO_RESULT,
        }

    return {
        S.CREATE_ENDPOINT_CONFIG: step(task(
            p, S.CREATE_ENDPOINT_CONFIG, "arn:aws:states:::sagemaker:createEndpointConfig",
            {
                "EndpointConfigName.$": "$.run.name",
                "ProductionVariants": [{
                    "VariantName": "AllTraffic",
                    "ModelName.$": "$.run.name",
                    "InstanceType": p.endpoint_instance_type,
                    "InitialInstanceCount": p.endpoint_instance_count,
                    "InitialVariantWeight": 1,
                }],
                "KmsKeyId": p.kms_key_arn,
                "Tags": [{"Key": "CommitId", "Value.$": "$.run.commitId"}],
            },
            retry_on=sm,
            result_path=None,
        )),
        S.FIND_ENDPOINT: step(task(
            p, S.FIND_ENDPOINT, "arn:aws:states:::aws-sdk:sagemaker:describeEndpoint",
            {"EndpointName": p.endpoint_name},
            # Throttling and a missing endpoint both arrive as SageMaker.SageMakerException (neither is in
            # SageMaker's API model), so the first run's not-found is retried too before the Catch sends
            # it to CreateEndpoint: a few seconds once per endpoint, instead of failing a throttled run.
            retry_on=SAGEMAKER_SDK_TRANSIENT_ERRORS,
            comment="Create the stage's endpoint the first time, update it afterwards.",
            result_selector={"status.$": "$.EndpointStatus", "endpointConfigName.$": "$.EndpointConfigName"},
            result_path="$.existingEndpoint",
            catch=[
                {"ErrorEquals": [SAGEMAKER_SDK_ERROR], "ResultPath": "$.endpointLookup", "Next": S.CHECK_LOOKUP_ERROR},
                catch_all(),
            ],
        )),
        S.CHECK_LOOKUP_ERROR: {
            "Type": "Choice",
            "Choices": [{"Variable": "$.endpointLookup.Cause", "StringMatches": ENDPOINT_NOT_FOUND_CAUSE, "Next": S.CREATE_ENDPOINT}],
            "Default": S.LOOKUP_FAILED,
        },
        S.LOOKUP_FAILED: {
            "Type": "Pass",
            "Parameters": {"Error": S.DEPLOYMENT_FAILED, "Cause.$": "$.endpointLookup.Cause"},
            "ResultPath": "$.failure",
            "Next": S.NOTIFY_FAILURE,
        },
        S.EXISTING_ENDPOINT_STATUS: Step(existing_endpoint_status),
        S.WAIT_FOR_IDLE_ENDPOINT: {
            "Type": "Wait",
            "Comment": "Another change is in progress on the endpoint; look again when it has settled.",
            "Seconds": p.endpoint_poll_seconds,
            "Next": S.FIND_ENDPOINT,
        },
        S.EXISTING_ENDPOINT_UNUSABLE: failure_pass(
            "EndpointUnusable",
            f"Endpoint {p.endpoint_name} is {{}} and cannot be updated; delete it (the next run recreates it) or repair it, then re-run",
            "$.existingEndpoint.status",
        ),
        # The first run's create (reached through the lookup error) rejoins the main path here.
        S.CREATE_ENDPOINT: goto(endpoint_update("create"), S.START_ENDPOINT_WAIT),
        S.UPDATE_ENDPOINT: step(endpoint_update("update")),
        S.START_ENDPOINT_WAIT: step({"Type": "Pass", "Result": {"polls": 0}, "ResultPath": "$.endpointWait"}),
        S.WAIT_FOR_ENDPOINT: step({"Type": "Wait", "Seconds": p.endpoint_poll_seconds}),
        S.DESCRIBE_ENDPOINT: step(task(
            p, S.DESCRIBE_ENDPOINT, "arn:aws:states:::aws-sdk:sagemaker:describeEndpoint",
            {"EndpointName": p.endpoint_name},
            retry_on=SAGEMAKER_SDK_TRANSIENT_ERRORS,
            result_selector={"status.$": "$.EndpointStatus", "description.$": "States.JsonToString($)"},
            result_path="$.endpoint",
        )),
        S.CHECK_ENDPOINT_STATUS: Step(check_endpoint_status),
        S.COUNT_ENDPOINT_POLL: {
            "Type": "Pass",
            "Parameters": {"polls.$": "States.MathAdd($.endpointWait.polls, 1)"},
            "ResultPath": "$.endpointWait",
            "Next": S.WAIT_FOR_ENDPOINT,
        },
        S.ENDPOINT_FAILED: failure_pass(
            "EndpointDeploymentFailed",
            f"Endpoint {p.endpoint_name} went to {{}} while deploying endpoint config {{}}. DescribeEndpoint: {{}}",
            "$.endpoint.status", "$.run.name", "$.endpoint.description",
        ),
        S.ENDPOINT_WAIT_TIMED_OUT: failure_pass(
            "EndpointWaitTimedOut",
            f"Endpoint {p.endpoint_name} was still {{}} after {p.endpoint_max_polls} polls "
            f"{p.endpoint_poll_seconds} seconds apart",
            "$.endpoint.status",
        ),
        S.SMOKE_TEST: step(lambda_task(
            p, S.SMOKE_TEST, p.smoke_test_function_arn, {"data": p.smoke_test_record},
            comment="A real invocation of the endpoint through the inference proxy.",
            result_selector={"response.$": "$.Payload"},
            result_path="$.smokeTest",
        )),
        S.CHECK_SMOKE_TEST: Step(check_smoke_test),
        S.SMOKE_TEST_NO_RESULT: failure_pass(
            S.SMOKE_TEST_FAILED,
            f"Endpoint {p.endpoint_name} answered the sample record without a result: {{}}",
            "States.JsonToString($.smokeTest.response)",
        ),
    }
