"""A pipeline's Source action and what its role needs to run it, written once for every pipeline.

The training pipeline and the promotion read the same configured source (``PipelineSource``). They
differ only in the branch, in whether a change starts a run and in the variables namespace; the action's
shape and the statements that let CodePipeline read the source are the same facts for both, so they live
here and both components call ``source_action`` and ``source_statements``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.iam import statement
from components.names import Names
from components.specs import PipelineSource

SOURCE_ACTION_NAME = "Source"
SOURCE_ARTIFACT = "source"
"""The source action's output artifact; build actions take it as input."""


@dataclass(frozen=True)
class SourceKind:
    """What a ``PipelineSource.provider`` means to CodePipeline and to the build."""

    action_provider: str
    """The CodePipeline source action provider."""
    revision_variable: str
    """The source action's output variable that names the revision (``#{<namespace>.<variable>}``)."""
    revision_kind: str
    """``git`` (the revision is a commit id) or ``s3`` (an ETag: there is no commit)."""


SOURCE_KINDS: dict[str, SourceKind] = {
    "codestar": SourceKind("CodeStarSourceConnection", "CommitId", "git"),
    "codecommit": SourceKind("CodeCommit", "CommitId", "git"),
    "s3": SourceKind("S3", "ETag", "s3"),
}


def source_kind(source: PipelineSource) -> SourceKind:
    return SOURCE_KINDS[source.provider]


def source_action(source: PipelineSource, *, branch: str | None = None, detect_changes: bool = True,
                  namespace: str | None = None) -> dict[str, Any]:
    """The ``Source`` action of a pipeline stage, producing the ``source`` artifact.

    ``branch`` overrides ``source.branch`` (the promotion follows its own branch). ``detect_changes=False``
    turns off the connection's own change detection, so only an explicit start runs the pipeline (the
    promotion: approvals start it, not pushes). CodeCommit and S3 sources never poll either way: an
    EventBridge rule starts the pipeline, or nothing does. ``namespace`` publishes the action's output
    variables (``CommitId``, ``ETag``) to later actions.
    """
    branch = source.branch if branch is None else branch
    configuration: dict[str, str]
    if source.provider == "codestar":
        configuration = {"ConnectionArn": source.need("connection_arn"), "FullRepositoryId": source.need("repository"),
                         "BranchName": branch,
                         **({} if detect_changes else {"DetectChanges": "false"}),
                         "OutputArtifactFormat": "CODE_ZIP"}
    elif source.provider == "codecommit":
        configuration = {"RepositoryName": source.need("repository"), "BranchName": branch,
                         "PollForSourceChanges": "false", "OutputArtifactFormat": "CODE_ZIP"}
    else:
        configuration = {"S3Bucket": source.need("bucket"), "S3ObjectKey": source.need("object_key"),
                         "PollForSourceChanges": "false"}
    action: dict[str, Any] = {"name": SOURCE_ACTION_NAME, "category": "Source", "owner": "AWS",
                              "provider": source_kind(source).action_provider, "version": "1",
                              "output_artifacts": [SOURCE_ARTIFACT], "configuration": configuration}
    if namespace is not None:
        action["namespace"] = namespace
    return action


def source_statements(source: PipelineSource, names: Names) -> list[dict[str, Any]]:
    """Exactly what a pipeline role needs to run the source action: the connection, the repository's
    branch, or the object and its bucket's versioning."""
    if source.provider == "codestar":
        # The service was renamed CodeConnections; both prefixes authorize the same call.
        return [statement("UseConnection", ["codestar-connections:UseConnection", "codeconnections:UseConnection"],
                          [source.need("connection_arn")])]
    if source.provider == "codecommit":
        return [statement("ReadCodeCommitBranch", [
            "codecommit:GetBranch", "codecommit:GetCommit", "codecommit:UploadArchive",
            "codecommit:GetUploadArchiveStatus", "codecommit:CancelUploadArchive",
        ], [names.codecommit_arn(source.need("repository"))])]
    return [
        statement("ReadSourceObject", ["s3:GetObject", "s3:GetObjectVersion"],
                  [Names.s3_arn(source.need("bucket"), source.need("object_key"))]),
        statement("CheckSourceBucketVersioning", ["s3:GetBucketVersioning"], [Names.s3_arn(source.need("bucket"))]),
    ]
