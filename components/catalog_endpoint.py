"""A real-time model-catalog entry (``byom_realtime_builtin``, ``byom_realtime_custom``) served in one stack.

The entry's endpoint is a ``ModelEndpoint`` (the trained model's component, reused) serving the model
package the program chose for this stack (``program.catalog_packages.served_package_arn``):

- its name: ``Names.catalog_endpoint_name``: the entry's ``endpoint_name`` for this environment, inside
  the stack's names, or ``Names.catalog_endpoint`` (the program chooses, once, and the inference API routes
  to it);
- its variant: the entry's instance type and count; autoscaling, alarms and blue/green updates as the
  stack's endpoint (``EndpointSpec``), with the entry's count as the minimum capacity;
- its key: the entry's ``kms_key_arn``, or the stack's key;
- data capture (always on: a real-time entry names ``data_capture_location``) to that location, at the
  stack's ``endpointDataCapturePercent``, or ``DEFAULT_CAPTURE_PERCENT`` where the stack captures nothing;
- its own model role (``Names.catalog_endpoint_model_role``): reads exactly the entry's artifact keys in the
  registry bucket (an uploaded object and its versions), pulls exactly the entry's image repository,
  decrypts through S3 only, writes only under its capture prefix. An entry naming ``model_package_name``
  carries no artifact or image of its own: its role reads what the trained model's endpoint reads (the
  registry bucket's ``workflow/`` and the registry account's ``mlops-*`` repositories).

The inference API routes ``POST /v1/models/<model_name>/predict`` to it (``components.inference_routes``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import pulumi

from components.context import StackContext
from components.model_endpoint import ModelAccess, ModelEndpoint, ModelEndpointArgs, registry_model_access
from components.names import Names, image_repository_arn
from components.specs import EndpointSpec

DEFAULT_CAPTURE_PERCENT = 100
"""Capture share of a catalog endpoint in a stack whose own endpoint captures nothing
(``endpointDataCapturePercent: 0``): the entry asked for capture by naming ``data_capture_location``, and
the AWS MLOps Framework captures every request by default."""


@dataclass(frozen=True)
class CatalogEndpointArgs:
    ctx: StackContext
    model_name: str
    model_package_arn: str
    """The versioned package this stack serves for the entry."""
    registry: Names
    """The registry stack: its bucket holds the entry's artifact, its account the trained models' images."""
    stack_spec: EndpointSpec
    """The stack's endpoint settings: autoscaling bound, deployment strategy, capture share."""
    instance_type: str
    instance_count: int
    endpoint_name: str
    """``Names.catalog_endpoint_name`` of the entry's ``endpoint_name`` for this environment."""
    data_capture_bucket: str
    data_capture_prefix: str
    kms_key_arn: str | None = None
    """None: the stack's key."""
    image_uri: str | None = None
    """The entry's image (built-in, resolved for the region, or ``custom_image_uri``); None for an entry
    naming ``model_package_name``."""
    artifact_keys: Sequence[str] = ()
    """The entry's ``model_artifact_location`` keys in the registry bucket (one, unless it varies per
    environment); empty for an entry naming ``model_package_name``."""
    tester_role_name: pulumi.Input[str] | None = None
    """The stack's tester role (``endpointTesterRole``): the promotion's integration tests of a catalog
    package invoke this endpoint with it; None: no grant."""

    def __post_init__(self):
        if (self.image_uri is None) != (not self.artifact_keys):
            raise ValueError(f"CatalogEndpointArgs({self.model_name}): give image_uri and artifact_keys together "
                             "(an uploaded model), or neither (a model_package_name entry)")


def capture_percent(stack_percent: int) -> int:
    """The stack's capture share where it captures, else ``DEFAULT_CAPTURE_PERCENT``."""
    return stack_percent if stack_percent > 0 else DEFAULT_CAPTURE_PERCENT


def entry_spec(stack_spec: EndpointSpec, instance_type: str, instance_count: int) -> EndpointSpec:
    """The stack's endpoint settings with the entry's variant: its instance type, its count as the initial
    and minimum capacity (the stack's maximum, or the count where that is lower), capture always on."""
    return replace(stack_spec, instance_type=instance_type, instance_count=instance_count,
                   min_capacity=instance_count, max_capacity=max(stack_spec.max_capacity, instance_count),
                   data_capture_percent=capture_percent(stack_spec.data_capture_percent))


def entry_model_access(registry: Names, image_uri: str | None, artifact_keys: Sequence[str]) -> ModelAccess:
    """An uploaded model's role reads exactly its artifact objects (any version) and pulls exactly its
    image's repository, decrypting through S3 only; a ``model_package_name`` entry reads as the trained
    model's endpoint does."""
    if image_uri is None:
        return registry_model_access(registry)
    return ModelAccess(
        artifact_arns=tuple(registry.s3_arn(registry.bucket, key) for key in artifact_keys),
        artifact_actions=("s3:GetObject", "s3:GetObjectVersion"),
        image_repository_arns=(image_repository_arn(image_uri),),
        decrypt_key_arns=(registry.arn("kms", "key/*"),),
        decrypt_via=("s3",))


class CatalogEndpoint(pulumi.ComponentResource):
    endpoint: ModelEndpoint
    endpoint_name: pulumi.Output[str]
    model_package_arn: pulumi.Output[str]

    def __init__(self, name: str, args: CatalogEndpointArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:catalog:RealtimeEndpoint", name, None, opts)
        a = args
        names = a.ctx.names
        self.endpoint = ModelEndpoint(name, ModelEndpointArgs(
            a.ctx, model_package_arn=a.model_package_arn, registry=a.registry,
            spec=entry_spec(a.stack_spec, a.instance_type, a.instance_count),
            endpoint_name=a.endpoint_name, model_role_name=names.catalog_endpoint_model_role(a.model_name),
            data_capture_uri=f"s3://{a.data_capture_bucket}/{a.data_capture_prefix}",
            data_capture_objects_arn=Names.s3_arn(a.data_capture_bucket, f"{a.data_capture_prefix}/*"),
            kms_key_arn=a.kms_key_arn,
            model_access=entry_model_access(a.registry, a.image_uri, a.artifact_keys),
        ), opts=pulumi.ResourceOptions(parent=self))
        if a.tester_role_name is not None:
            self.endpoint.grant_tester(a.tester_role_name)
        self.endpoint_name = self.endpoint.endpoint_name
        self.model_package_arn = self.endpoint.model_package_arn
        self.register_outputs({"endpoint_name": self.endpoint_name, "model_package_arn": self.model_package_arn})
