"""A batch catalog entry's pipeline in one environment: Step Functions, its triggers and its roles.

An object created under the entry's ``batch_inference_data`` (EventBridge's S3 "Object Created" event,
matched on the bucket and the prefix) starts the state machine with that object; an optional
``batch_schedule`` starts it with the whole prefix. The state machine (``components.workflow.batch``)
makes sure the SageMaker model of the served package exists (the first run of a package creates it,
from the package, as the entry's execution role), runs the batch transform (``.sync``) writing to
``batch_job_output_location/<job>/`` with KMS for output and volumes, and notifies success or the failed
step and its cause. The roles are the entry's own (``components.batch_access``).

The model is created by the state machine rather than as a Pulumi resource: the pipeline needs it only
when it runs, its name follows from the package (``Names.catalog_batch_model``) so every run finds the
one the first created, and the state machine is the only writer of SageMaker state, as in the training
workflow. A new package means a new model name; the old model stays (models cost nothing).

S3 sends events to EventBridge only in the bucket owner's account, and only when the bucket has
EventBridge notifications on: the stack bucket has (``Foundation``); another bucket's owner must enable
them, in this account.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from catalog.entries import S3Location
from components.batch_access import BatchAccess, events_role_statements
from components.context import StackContext
from components.iam import service_role
from components.state_machine import logged_state_machine
from components.workflow.batch import BatchDefinitionParams, build_batch_definition


@dataclass(frozen=True)
class BatchPipelineArgs:
    ctx: StackContext
    model_name: str
    """The catalog entry's ``model_name``: every name comes from ``ctx.names.catalog_batch_*``."""
    model_package_arn: str
    """The package the entry serves in this stack (``program.catalog_packages.served_package_arn``)."""
    input: S3Location
    output: S3Location
    instance_type: str
    notify_function_arn: pulumi.Input[str]
    artifact_arns: tuple[str, ...]
    """S3 ARNs of the package's model artifact (the object, or a prefix's ``/*``)."""
    artifact_key_arns: tuple[pulumi.Input[str], ...]
    image_repository_arns: tuple[str, ...] = ()
    instance_count: int = 1
    content_type: str = "text/csv"
    accept: str = "text/csv"
    kms_key_arn: str | None = None
    """The entry's ``kms_key_arn``; None: the stack key."""
    schedule: str | None = None
    """An EventBridge schedule expression; None: uploads only."""


class BatchPipeline(pulumi.ComponentResource):
    state_machine_arn: pulumi.Output[str]
    state_machine_name: pulumi.Output[str]
    execution_role_arn: pulumi.Output[str]
    sagemaker_model_name: str
    input_uri: str
    output_uri: str

    def __init__(self, name: str, args: BatchPipelineArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:catalog:BatchPipeline", name, None, opts)
        a, ctx = args, args.ctx
        names = ctx.names
        child = pulumi.ResourceOptions(parent=self)
        machine_name = names.catalog_batch_state_machine(a.model_name)
        job_key = a.kms_key_arn or ctx.kms_key_arn
        access = BatchAccess(
            names=names, model_name=a.model_name, model_package_arn=a.model_package_arn, input=a.input,
            output=a.output, job_key_arn=job_key, data_key_arns=[job_key, ctx.kms_key_arn],
            artifact_arns=a.artifact_arns, artifact_key_arns=a.artifact_key_arns,
            image_repository_arns=a.image_repository_arns)

        execution_role, _ = service_role(
            f"{name}-model", role_name=names.catalog_batch_role(a.model_name, "model"),
            description=f"SageMaker model and batch transform jobs of catalog entry {a.model_name}",
            service="sagemaker.amazonaws.com", account_id=ctx.account,
            statements=access.execution_role_statements(), opts=child)

        self.sagemaker_model_name = names.catalog_batch_model(a.model_name, a.model_package_arn)
        self.input_uri, self.output_uri = a.input.uri, a.output.uri
        definition = pulumi.Output.all(
            role=execution_role.arn, key=job_key, notify=a.notify_function_arn,
        ).apply(lambda v: json.dumps(build_batch_definition(BatchDefinitionParams(
            model_name=a.model_name,
            sagemaker_model_name=self.sagemaker_model_name,
            model_package_arn=a.model_package_arn,
            execution_role_arn=v["role"],
            job_name_prefix=names.catalog_batch_job_prefix(a.model_name),
            input_uri=self.input_uri,
            output_uri=self.output_uri,
            kms_key_arn=v["key"],
            notify_function_arn=v["notify"],
            instance_type=a.instance_type,
            instance_count=a.instance_count,
            content_type=a.content_type,
            accept=a.accept,
        )), indent=2))

        machine = logged_state_machine(
            name, ctx=ctx, machine_name=machine_name, definition=definition, role_base=f"{name}-sfn",
            role_name=names.catalog_batch_role(a.model_name, "sfn"),
            role_description=f"Step Functions role of the batch pipeline of catalog entry {a.model_name}",
            statements=access.state_machine_statements(execution_role.arn, a.notify_function_arn), parent=self)
        self._triggers(name, a, machine.arn)

        self.state_machine_arn = machine.arn
        self.state_machine_name = machine.name
        self.execution_role_arn = execution_role.arn
        self.register_outputs({"state_machine_arn": self.state_machine_arn, "input_uri": self.input_uri,
                               "output_uri": self.output_uri})

    def _triggers(self, name: str, a: BatchPipelineArgs, machine_arn: pulumi.Output[str]) -> None:
        """An upload under the input starts a run with that object; the schedule, one with the whole prefix."""
        names = a.ctx.names
        child = pulumi.ResourceOptions(parent=self)
        events_role, events_policy = service_role(
            f"{name}-events", role_name=names.catalog_batch_role(a.model_name, "events"),
            description=f"EventBridge starts the batch pipeline of catalog entry {a.model_name}",
            service="events.amazonaws.com", account_id=a.ctx.account,
            statements=events_role_statements(machine_arn), opts=child)
        target_opts = pulumi.ResourceOptions(parent=self, depends_on=[events_policy])
        upload = aws.cloudwatch.EventRule(
            f"{name}-upload", name=names.catalog_batch_rule(a.model_name, "upload"),
            description=f"An object created under {a.input.uri}/ starts the batch pipeline of {a.model_name}",
            event_pattern=json.dumps(upload_pattern(a.input)), opts=child)
        # The event goes to the state machine unchanged; its first state reads the bucket and key.
        aws.cloudwatch.EventTarget(f"{name}-upload-target", rule=upload.name, arn=machine_arn,
                                   role_arn=events_role.arn, opts=target_opts)
        if a.schedule is None:
            return
        schedule = aws.cloudwatch.EventRule(
            f"{name}-schedule", name=names.catalog_batch_rule(a.model_name, "schedule"),
            description=f"Transforms everything under {a.input.uri}/ with {a.model_name} on {a.schedule}",
            schedule_expression=a.schedule, opts=child)
        aws.cloudwatch.EventTarget(f"{name}-schedule-target", rule=schedule.name, arn=machine_arn,
                                   role_arn=events_role.arn, input=json.dumps({"inputUri": f"{a.input.uri}/"}),
                                   opts=target_opts)


def upload_pattern(location: S3Location) -> dict:
    """S3 "Object Created" events of the location: the object itself (the framework's single-file form)
    or any object under ``<prefix>/``, never a sibling such as ``<prefix>-old/``."""
    return {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [location.bucket]},
                   "object": {"key": [location.prefix, {"prefix": f"{location.prefix}/"}]}},
    }
