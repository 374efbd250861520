"""Bring your own model: an upload of a catalog entry's artifact registers it, for approval and promotion.

In the registry stack, for every catalog entry that brings its own artifact (``model_artifact_location``):

    its model package group (``Names.catalog_package_group``)
    its baseline job role, where it has ``baseline_data`` (reads only that, writes only its baseline folder)
    an EventBridge rule: "Object Created" in the stack bucket for exactly the entry's key
      -> input transformer: the entry's model name, group, image, content types and instance types,
         the bucket, the key and the object's S3 version id (and, for an entry with ``baseline_data``,
         its baseline job: ``components.upload_baseline``)
      -> the registration state machine (one per stack, every entry's rule starts it;
         definition: ``components.upload_definition``): [Baseline of baseline_data ->]
         CreateModelPackage (PendingManualApproval[, the baseline as DriftCheckBaselines]) ->
         the training workflow's signed-link approval -> Approved / Rejected -> notify

An Approved package then starts the promotion like a trained one (``components.promotion``: its rule
lists every platform group). The bucket is versioned and sends its object events to EventBridge
(``components.foundation``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from catalog.entries import S3Location
from components.context import StackContext
from components.iam import service_role, state_machine_logging_statements, statement
from components.model_registry import registry_policy_document
from components.names import Names
from components.upload_baseline import baseline_job_input, baseline_role_statements, baseline_run_statements
from components.upload_definition import RegistrationParams, build_definition
from components.workflow.baseline import BaselineJobSpec

OBJECT_CREATED = "Object Created"


@dataclass(frozen=True)
class UploadEntry:
    """What the registration needs of one catalog entry (resolved for the registry environment)."""

    model_name: str
    artifact_key: str
    """``model_artifact_location``: the object key in the stack bucket whose uploads are registered."""
    image_uri: str
    """The inference image the package names: the built-in algorithm's (resolved for the region) or
    ``custom_image_uri``."""
    content_types: tuple[str, ...]
    response_types: tuple[str, ...]
    instance_types: tuple[str, ...]
    """The entry's inference instance types in every environment it reaches."""
    realtime: bool
    """Real-time entries list the instance types as endpoint types, batch entries as transform types."""
    baseline_data: S3Location | None = None
    """The entry's ``baseline_data`` (headerless CSV, label first): the registration baselines it and
    registers the package with that baseline; None: no baseline."""
    data_key_arn: str | None = None
    """The entry's ``kms_key_arn``: may encrypt its baseline_data (besides the stack key)."""


@dataclass(frozen=True)
class ModelUploadArgs:
    ctx: StackContext
    """The registry stack's context: uploads land in its bucket."""
    entries: tuple[UploadEntry, ...]
    approval_request_function_arn: pulumi.Input[str]
    """The approval API's request function: the same signed links as for trained models."""
    notify_function_arn: pulumi.Input[str]
    approval_timeout_seconds: int
    consumer_account_ids: tuple[str, ...] = ()
    """The promotion targets' other accounts: each group is shared with them by the trained group's
    resource policy (``registry_policy_document``: describe, list, create models; no approving)."""
    baseline_image_uri: str | None = None
    """Model Monitor's analyzer image of the region: required when an entry has ``baseline_data``."""


def upload_event_pattern(bucket: str, key: str) -> dict[str, Any]:
    """EventBridge pattern: an object created in ``bucket`` under exactly ``key`` (no prefix, no other key)."""
    return {
        "source": ["aws.s3"],
        "detail-type": [OBJECT_CREATED],
        "detail": {"bucket": {"name": [bucket]}, "object": {"key": [key]}},
    }


def package_specification(entry: UploadEntry) -> dict[str, list[str]]:
    """The constant part of the package's InferenceSpecification (the containers come from the upload)."""
    instances = "SupportedRealtimeInferenceInstanceTypes" if entry.realtime else "SupportedTransformInstanceTypes"
    return {"SupportedContentTypes": list(entry.content_types),
            "SupportedResponseMIMETypes": list(entry.response_types),
            instances: list(entry.instance_types)}


def upload_input_transformer(entry: UploadEntry, group_name: str, names: Names | None = None) -> dict[str, Any]:
    """The rule target's input transformer: the registration's input for one upload of ``entry`` (``names``:
    the registry stack's, for an entry with ``baseline_data``)."""
    template: dict[str, Any] = {
        "modelName": entry.model_name, "modelPackageGroupName": group_name, "imageUri": entry.image_uri,
        "bucket": "<bucket>", "key": "<key>", "versionId": "<versionId>", "specification": package_specification(entry)}
    if entry.baseline_data is not None:
        if names is None:
            raise ValueError(f"{entry.model_name} has baseline_data: its baseline job's names are needed")
        template["baselineJob"] = baseline_job_input(names, entry.model_name, entry.baseline_data)
    return {"input_paths": {"bucket": "$.detail.bucket.name", "key": "$.detail.object.key",
                            "versionId": "$.detail.object.version-id"},
            "input_template": json.dumps(template)}


def registration_statements(group_arns: Sequence[pulumi.Input[str]], package_arns: Sequence[pulumi.Input[str]],
                            function_arns: Sequence[pulumi.Input[str]]) -> list[dict[str, Any]]:
    """The registration state machine's permissions: register in the entries' groups, decide those packages,
    invoke the approval request and notify functions, log."""
    return [
        statement("RegisterUploadedModels", ["sagemaker:CreateModelPackage"], [*group_arns, *package_arns]),
        statement("DecideUploadedModels", ["sagemaker:UpdateModelPackage"], list(package_arns)),
        statement("RequestApprovalAndNotify", ["lambda:InvokeFunction"], list(function_arns)),
        *state_machine_logging_statements(),
    ]


class ModelUpload(pulumi.ComponentResource):
    group_names: dict[str, pulumi.Output[str]]
    """model_name -> its model package group's name."""
    group_arns: dict[str, pulumi.Output[str]]
    state_machine_arn: pulumi.Output[str]

    def __init__(self, name: str, args: ModelUploadArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:catalog:ModelUpload", name, None, opts)
        ctx, names = args.ctx, args.ctx.names
        child = pulumi.ResourceOptions(parent=self)
        baselined = [e for e in args.entries if e.baseline_data is not None]
        if baselined and not args.baseline_image_uri:
            raise ValueError(f"{', '.join(e.model_name for e in baselined)} have baseline_data: give "
                             "baseline_image_uri (Model Monitor's analyzer image of the region)")
        machine_name, machine_arn = names.catalog_registration_state_machine, names.catalog_registration_state_machine_arn

        groups = {
            e.model_name: aws.sagemaker.ModelPackageGroup(
                f"{name}-{e.model_name}-models", model_package_group_name=names.catalog_package_group(e.model_name),
                model_package_group_description=f"Models uploaded for the catalog entry {e.model_name}",
                opts=pulumi.ResourceOptions(parent=self, protect=ctx.protect))
            for e in args.entries}
        if args.consumer_account_ids:
            for model_name, group in groups.items():
                aws.sagemaker.ModelPackageGroupPolicy(
                    f"{name}-{model_name}-registry-policy", model_package_group_name=group.model_package_group_name,
                    resource_policy=registry_policy_document(group.arn, group.model_package_group_name,
                                                             args.consumer_account_ids, names),
                    opts=child)

        baseline_roles = [
            service_role(
                f"{name}-{e.model_name}-baseline", role_name=names.catalog_baseline_role(e.model_name),
                description=f"Model Monitor baseline of {e.model_name}'s baseline_data, when a model is uploaded",
                service="sagemaker.amazonaws.com", account_id=ctx.account, opts=child,
                statements=baseline_role_statements(
                    names, e.model_name, e.baseline_data, [ctx.kms_key_arn, *([e.data_key_arn] if e.data_key_arn else [])],
                    ctx.kms_key_arn))[1]
            for e in baselined if e.baseline_data is not None]

        logs = aws.cloudwatch.LogGroup(
            f"{name}-logs", name=f"/aws/vendedlogs/states/{machine_name}", retention_in_days=ctx.log_retention_days,
            kms_key_id=ctx.kms_key_arn, opts=child)
        role, policy = service_role(
            f"{name}-registration", role_name=machine_name,
            description="Registers uploaded models, asks for their approval and records the decision",
            service="states.amazonaws.com", account_id=ctx.account, source_arn=machine_arn, opts=child,
            statements=registration_statements(
                [g.arn for g in groups.values()],
                [names.sagemaker_arn(f"model-package/{names.catalog_package_group(e.model_name)}/*")
                 for e in args.entries],
                [args.approval_request_function_arn, args.notify_function_arn])
            + (baseline_run_statements(names, [e.model_name for e in baselined], ctx.kms_key_arn) if baselined else []))
        definition = pulumi.Output.all(args.approval_request_function_arn, args.notify_function_arn,
                                       ctx.kms_key_arn).apply(
            lambda arns: json.dumps(build_definition(RegistrationParams(
                approval_request_function_arn=arns[0], notify_function_arn=arns[1],
                baseline=BaselineJobSpec(image_uri=args.baseline_image_uri, kms_key_arn=arns[2])
                if baselined and args.baseline_image_uri else None,
                approval_timeout_seconds=args.approval_timeout_seconds)), indent=2))
        machine = aws.sfn.StateMachine(
            f"{name}-state-machine", name=machine_name, type="STANDARD", role_arn=role.arn, definition=definition,
            # Execution data stays out of the logs: the approval task's input carries the task token.
            logging_configuration={"level": "ALL", "include_execution_data": False,
                                   "log_destination": pulumi.Output.concat(logs.arn, ":*")},
            tracing_configuration={"enabled": True},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy, *baseline_roles]))

        events_role, _ = service_role(
            f"{name}-events", role_name=f"{ctx.prefix}-byom-upload-events",
            description="EventBridge starts the registration of an uploaded model",
            service="events.amazonaws.com", account_id=ctx.account, opts=child,
            statements=[statement("StartRegistration", ["states:StartExecution"], [machine.arn])])
        for e in args.entries:
            rule = aws.cloudwatch.EventRule(
                f"{name}-{e.model_name}-rule", name=names.catalog_upload_rule(e.model_name),
                description=f"An upload of s3://{names.bucket}/{e.artifact_key}: register it for {e.model_name}",
                event_pattern=json.dumps(upload_event_pattern(names.bucket, e.artifact_key)), opts=child)
            aws.cloudwatch.EventTarget(
                f"{name}-{e.model_name}-target", rule=rule.name, arn=machine.arn, role_arn=events_role.arn,
                input_transformer=aws.cloudwatch.EventTargetInputTransformerArgs(
                    **upload_input_transformer(e, names.catalog_package_group(e.model_name), names)),
                retry_policy={"maximum_event_age_in_seconds": 3600, "maximum_retry_attempts": 10},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[groups[e.model_name]]))

        self.group_names = {m: g.model_package_group_name for m, g in groups.items()}
        self.group_arns = {m: g.arn for m, g in groups.items()}
        self.state_machine_arn = machine.arn
        self.register_outputs({"state_machine_arn": self.state_machine_arn})
