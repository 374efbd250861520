"""Newest-approved package selection against moto's SageMaker model registry, with several packages."""

from __future__ import annotations

import time
from dataclasses import replace

import boto3
import pytest
from moto import mock_aws

from components.model_registry import NoApprovedModelPackage, newest_approved_package_arn
from components.model_registry import resolve_model_package_arn as resolve
from program.settings import Settings
from program.topology import registry_names, stack_names
from tests.test_settings import raw_settings

REGION = "eu-west-1"
SPEC = {"Containers": [{"Image": "111111111111.dkr.ecr.eu-west-1.amazonaws.com/mlops:abc",
                        "ModelDataUrl": "s3://bucket/model.tar.gz"}],
        "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["application/json"]}


@pytest.fixture
def sagemaker(monkeypatch):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield boto3.client("sagemaker", region_name=REGION)


def register(client, group: str, status: str) -> str:
    time.sleep(0.002)  # distinct creation times
    return client.create_model_package(ModelPackageGroupName=group, ModelApprovalStatus=status,
                                       InferenceSpecification=SPEC)["ModelPackageArn"]


def make_group(client, name: str) -> str:
    client.create_model_package_group(ModelPackageGroupName=name)
    return name


def test_newest_approved_wins_over_older_approved_pending_and_rejected(sagemaker):
    group = make_group(sagemaker, "mlops-dev-models")
    other = make_group(sagemaker, "someone-elses-models")
    register(sagemaker, group, "Approved")
    newest_approved = register(sagemaker, group, "Approved")
    register(sagemaker, group, "PendingManualApproval")
    register(sagemaker, group, "Rejected")
    register(sagemaker, other, "Approved")  # newer, but another group
    assert newest_approved.endswith("/mlops-dev-models/2")
    assert newest_approved_package_arn(sagemaker, group) == newest_approved


def test_a_later_approval_of_a_newer_package_moves_the_choice(sagemaker):
    group = make_group(sagemaker, "mlops-dev-models")
    first = register(sagemaker, group, "Approved")
    second = register(sagemaker, group, "PendingManualApproval")
    assert newest_approved_package_arn(sagemaker, group) == first
    sagemaker.update_model_package(ModelPackageArn=second, ModelApprovalStatus="Approved")
    assert newest_approved_package_arn(sagemaker, group) == second


def test_group_given_by_arn_for_cross_account_reads(sagemaker):
    group = make_group(sagemaker, "mlops-dev-models")
    register(sagemaker, group, "Approved")
    newest = register(sagemaker, group, "Approved")
    arn = sagemaker.describe_model_package_group(ModelPackageGroupName=group)["ModelPackageGroupArn"]
    assert newest_approved_package_arn(sagemaker, arn) == newest


def test_no_approved_package_is_a_clear_error(sagemaker):
    group = make_group(sagemaker, "mlops-dev-models")
    register(sagemaker, group, "PendingManualApproval")
    register(sagemaker, group, "Rejected")
    with pytest.raises(NoApprovedModelPackage, match="mlops-dev-models has no Approved package.*modelPackageArn"):
        newest_approved_package_arn(sagemaker, group)


def staging(**changes) -> Settings:
    return Settings.from_raw(raw_settings("staging", **changes), stack="staging")


def resolve_model_package_arn(settings: Settings, client) -> str:
    return resolve(settings.endpoint.model_package_arn, registry_names(settings), stack_names(settings), client)


def test_pinned_package_is_used_without_asking_the_registry():
    settings = staging()

    class NoCalls:
        def __getattr__(self, name):
            raise AssertionError(f"the registry was asked ({name}) although a package is pinned")

    assert resolve_model_package_arn(settings, NoCalls()) == settings.endpoint.model_package_arn


def test_unpinned_stack_serves_the_newest_approved_in_the_registry_account(sagemaker):
    settings = staging(modelPackageArn="")
    assert registry_names(settings).model_package_group == "mlops-dev-models"
    assert registry_names(settings).model_package_group_arn == \
        "arn:aws:sagemaker:eu-west-1:111111111111:model-package-group/mlops-dev-models"
    group = make_group(sagemaker, "mlops-dev-models")
    register(sagemaker, group, "Approved")
    newest = register(sagemaker, group, "Approved")
    # staging is in another account: the group is addressed by its ARN (moto accepts it too)
    assert resolve_model_package_arn(settings, sagemaker) == newest
    same_account = replace(settings, endpoint=replace(settings.endpoint, registry_account_id=None))
    assert resolve_model_package_arn(same_account, sagemaker) == newest
