"""Fixtures for the Lambda tests: lambdas/ on sys.path and a hermetic moto AWS.

Every test runs inside one `mock_aws` context (Step Functions executes state machines, so tests can
obtain real task tokens), in eu-west-1 with fake credentials; cached boto3 clients and the signing key
cache are dropped between tests so nothing leaks from one moto context to the next.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

LAMBDAS = Path(__file__).resolve().parents[2] / "lambdas"
if str(LAMBDAS) not in sys.path:
    sys.path.insert(0, str(LAMBDAS))

ACCOUNT = "123456789012"
REGION = "eu-west-1"


@pytest.fixture(autouse=True)
def hermetic_aws_env(monkeypatch):
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(autouse=True)
def moto_aws(hermetic_aws_env):
    from moto import mock_aws

    from common import aws, links

    aws.reset_clients()
    links.reset_key_cache()
    # reset_boto3_session=False keeps botocore's loaded service models across tests (a large speed-up).
    config = {"core": {"reset_boto3_session": False}, "stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
    with mock_aws(config=config):
        yield
    aws.reset_clients()
    links.reset_key_cache()


@pytest.fixture
def boto():
    import boto3

    return lambda service: boto3.client(service, region_name=REGION)


def sns_messages(topic_arn: str) -> list[dict]:
    """Messages moto recorded as published to a topic: [{"message": ..., "subject": ...}]."""
    from moto.sns.models import sns_backends

    topic = sns_backends[ACCOUNT][REGION].topics[topic_arn]
    return [{"message": item[1], "subject": item[2]} for item in topic.sent_notifications]


def wait_for(predicate, timeout: float = 5.0, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met within %.1fs" % timeout)


class WaitingTask:
    """A real moto Step Functions execution paused in a `.waitForTaskToken` task.

    moto cannot run Lambda without Docker, so the waiting task is `sns:publish.waitForTaskToken`;
    the task token is read from the message moto recorded on a private topic.
    """

    def __init__(self, boto, timeout_seconds: int = 300, name: str = "approval-test"):
        self.sfn = boto("stepfunctions")
        topic = boto("sns").create_topic(Name=f"{name}-tokens")["TopicArn"]
        definition = {
            "StartAt": "WaitForApproval",
            "States": {
                "WaitForApproval": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::sns:publish.waitForTaskToken",
                    "Parameters": {"TopicArn": topic, "Message": {"token.$": "$$.Task.Token"}},
                    "TimeoutSeconds": timeout_seconds,
                    "End": True,
                }
            },
        }
        machine = self.sfn.create_state_machine(
            name=name, definition=json.dumps(definition), roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn"
        )["stateMachineArn"]
        self.execution_arn = self.sfn.start_execution(stateMachineArn=machine, name=f"{name}-run", input="{}")["executionArn"]
        self.token = wait_for(lambda: [json.loads(m["message"])["token"] for m in sns_messages(topic)])[0]

    def status(self) -> str:
        return self.sfn.describe_execution(executionArn=self.execution_arn)["status"]

    def finished(self) -> dict:
        wait_for(lambda: self.status() != "RUNNING")
        return self.sfn.describe_execution(executionArn=self.execution_arn)


@pytest.fixture
def waiting_task(boto):
    return lambda **kwargs: WaitingTask(boto, **kwargs)


SIGNING_KEY = "k" * 16 + "test-signing-key-0123456789abcdef"
APPROVAL_API_URL = "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/decision"


@pytest.fixture
def approval_env(boto, monkeypatch):
    """Secret, table and topic for the approval functions, wired through their environment."""
    secret_arn = boto("secretsmanager").create_secret(Name="approval-signing-key", SecretString=SIGNING_KEY)["ARN"]
    boto("dynamodb").create_table(
        TableName="approvals",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    topic_arn = boto("sns").create_topic(Name="approvals")["TopicArn"]
    env = {
        "TOPIC_ARN": topic_arn,
        "SIGNING_SECRET_ARN": secret_arn,
        "APPROVALS_TABLE": "approvals",
        "APPROVAL_API_URL": APPROVAL_API_URL,
        "LINK_TTL_SECONDS": "3600",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env
