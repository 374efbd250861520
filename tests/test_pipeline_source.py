"""Both pipelines of the registry stack read the same source: same Source action, same grants, per provider.

The training pipeline and the promotion once built these separately and drifted (the promotion lost
``codeconnections:UseConnection`` after CodeStar Connections was renamed). These tests run the whole
program for dev under the recording mocks, once per source provider, and compare what the two
pipelines actually register.
"""

from __future__ import annotations

import pytest

from tests.conftest import as_list, policy_statements
from tools.mockrun import ProgramRun, run_program

ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
PIPELINE = "aws:codepipeline/pipeline:Pipeline"
CONNECTION = "arn:aws:codestar-connections:eu-west-1:111111111111:connection/0d1f5e6c-1111-4a4b-9c3d-123456789abc"

# provider -> (config overrides for dev, the resources that are the source itself)
SOURCES = {
    "codestar": ({}, {CONNECTION}),
    "codecommit": ({"sourceProvider": "codecommit", "sourceRepository": "mlops-iris", "sourceBranch": "main"},
                   {"arn:aws:codecommit:eu-west-1:111111111111:mlops-iris"}),
    "s3": ({"sourceProvider": "s3", "sourceBucket": "my-model-uploads", "sourceObjectKey": "sources/model.zip",
            "sourceRepository": "", "sourceConnectionArn": ""},
           {"arn:aws:s3:::my-model-uploads", "arn:aws:s3:::my-model-uploads/sources/model.zip"}),
}
# pipeline -> (its role's policy, the pipeline): logical names
PIPELINES = {"training": ("mlops-dev-training-pipeline-pipeline-policy", "mlops-dev-training-pipeline-codepipeline"),
             "promotion": ("mlops-dev-promotion-pipeline-policy", "mlops-dev-promotion-pipeline")}


@pytest.fixture(scope="module", params=sorted(SOURCES))
def source_run(request) -> tuple[str, ProgramRun]:
    overrides, _ = SOURCES[request.param]
    return request.param, run_program("dev", overrides=overrides)


def source_statements(run: ProgramRun, pipeline: str, source_resources: set[str]) -> list[dict]:
    """The pipeline role's statements that name the source (connection, repository, bucket or object)."""
    policy = run.one(ROLE_POLICY, PIPELINES[pipeline][0])
    return [s for s in policy_statements(policy.inputs["policy"]) if set(as_list(s["Resource"])) & source_resources]


def source_action(run: ProgramRun, pipeline: str) -> dict:
    [stage] = [s for s in run.one(PIPELINE, PIPELINES[pipeline][1]).inputs["stages"] if s["name"] == "Source"]
    [action] = stage["actions"]
    return action


def test_both_pipelines_grant_the_same_source_statements(source_run):
    provider, run = source_run
    _, resources = SOURCES[provider]
    training = source_statements(run, "training", resources)
    assert training, f"the training pipeline's role names no {provider} source"
    assert source_statements(run, "promotion", resources) == training
    if provider == "codestar":
        # CodeStar Connections was renamed CodeConnections: both prefixes authorize UseConnection.
        [use] = training
        assert sorted(use["Action"]) == ["codeconnections:UseConnection", "codestar-connections:UseConnection"]


def test_both_pipelines_run_the_same_source_action_on_their_own_branch(source_run):
    provider, run = source_run
    training, promotion = source_action(run, "training"), source_action(run, "promotion")
    shared = ("name", "category", "owner", "provider", "version", "outputArtifacts")
    assert {k: promotion[k] for k in shared} == {k: training[k] for k in shared}
    promotion_config = dict(promotion["configuration"])
    if provider != "s3":
        # The promotion follows promotionBranch and starts only when a package is approved, not on a push.
        assert promotion_config.pop("BranchName") == run.config["mlops:promotionBranch"]
        assert training["configuration"]["BranchName"] == run.config["mlops:sourceBranch"]
    if provider == "codestar":
        assert promotion_config.pop("DetectChanges") == "false"
    expected = {k: v for k, v in training["configuration"].items() if k != "BranchName"}
    assert promotion_config == expected
