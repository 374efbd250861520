"""SageMaker endpoints: KMS, data capture where the environment requires it, instance types from
the environment's allow-list, and a stack-wide budget on endpoint instances.

Only endpoints declared in the Pulumi program are visible to a policy pack; endpoints the training
workflow creates at run time are governed by its IAM role and the Step Functions definition.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ._support import Resource, Severity, as_list, as_number, references, resource_rule, safe_get, stack_rule

ENDPOINT_CONFIG_TYPE = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
ENDPOINT_TYPE = "aws:sagemaker/endpoint:Endpoint"
SCALABLE_TARGET_TYPE = "aws:appautoscaling/target:Target"

DEFAULT_INSTANCE_TYPES = ["ml.t2.medium", "ml.m5.large", "ml.m5.xlarge", "ml.c5.large", "ml.c5.xlarge"]
_INSTANCE_TYPE_PATTERN = r"^ml\.[a-z0-9-]+\.[a-z0-9]+$"


def _obj(value: Any) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    first = next(iter(as_list(value)), None)
    return first if isinstance(first, Mapping) else {}


def _variants(props: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    variants = as_list(safe_get(props, "productionVariants")) + as_list(safe_get(props, "shadowProductionVariants"))
    return [v for v in variants if isinstance(v, Mapping)]


def _instance_variants(props: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Variants that run on instances (serverless variants have serverlessConfig instead)."""
    return [v for v in _variants(props) if not v.get("serverlessConfig")]


def _capture(props: Mapping[str, Any]) -> Mapping[str, Any]:
    return _obj(props.get("dataCaptureConfig"))


def check_kms(resource: Resource, config: Mapping[str, Any]) -> Iterator[str]:
    if not config["requireKms"]:
        return
    if _instance_variants(resource.props) and not str(resource.props.get("kmsKeyArn") or "").strip():
        yield f"Endpoint configuration '{resource.name}' has no kmsKeyArn for the instances' storage volumes."
    capture = _capture(resource.props)
    if capture.get("enableCapture") is True and not str(capture.get("kmsKeyId") or "").strip():
        yield f"Endpoint configuration '{resource.name}' captures data without dataCaptureConfig.kmsKeyId."


def check_data_capture(resource: Resource, config: Mapping[str, Any]) -> Iterator[str]:
    if not config["requireDataCapture"]:
        return
    capture = _capture(resource.props)
    problems = []
    if capture.get("enableCapture") is not True:
        problems.append("enableCapture is not true")
    percentage = as_number(capture.get("initialSamplingPercentage"))
    if percentage is None or not 1 <= percentage <= 100:
        problems.append("initialSamplingPercentage is not 1..100")
    if not str(capture.get("destinationS3Uri") or "").startswith("s3://"):
        problems.append("destinationS3Uri is not an s3:// URI")
    if problems:
        yield f"Endpoint configuration '{resource.name}' data capture is required here: {'; '.join(problems)}."


def check_instance_types(resource: Resource, config: Mapping[str, Any]) -> Iterator[str]:
    allowed = list(config["allowedInstanceTypes"])
    for variant in _instance_variants(resource.props):
        instance_type = variant.get("instanceType")
        if instance_type not in allowed:
            yield (
                f"Endpoint configuration '{resource.name}' variant '{variant.get('variantName')}' uses "
                f"instance type {instance_type}; allowed here: {', '.join(allowed)}."
            )


def _count(value: Any) -> int:
    number = as_number(value)
    return int(number) if number is not None else 0


def endpoint_instance_budget(resources: list[Resource]) -> int:
    """Instances the stack's endpoints may run: per variant the initial count, raised to the
    autoscaling maximum where a scalable target names that variant.

    A target names ``endpoint/<endpoint>/variant/<variant>``: its variant's initial count is found through
    the endpoint (by the engine's property dependencies, else by name) and the endpoint configuration it
    uses. Several endpoints share variant names (``AllTraffic``), so a variant is never matched by name
    alone; a target whose configuration is not found counts ``maxCapacity - minCapacity`` beyond the
    initial counts (the initial count is at least the minimum, so this never counts too few)."""
    configs = [r for r in resources if r.type == ENDPOINT_CONFIG_TYPE]
    endpoints = [r for r in resources if r.type == ENDPOINT_TYPE]
    total = sum(_count(v.get("initialInstanceCount")) for c in configs for v in _instance_variants(c.props))
    for target in (r for r in resources if r.type == SCALABLE_TARGET_TYPE):
        if safe_get(target.props, "serviceNamespace") != "sagemaker":
            continue
        initial = _target_initial_count(target, endpoints, configs)
        if initial is None:
            initial = _count(safe_get(target.props, "minCapacity"))
        total += max(_count(safe_get(target.props, "maxCapacity")) - initial, 0)
    return total


def _target_initial_count(target: Resource, endpoints: list[Resource], configs: list[Resource]) -> int | None:
    """The initial count of the variant a scalable target scales, or None where it cannot be told."""
    resource_id = str(safe_get(target.props, "resourceId") or "")
    if not resource_id.startswith("endpoint/") or "/variant/" not in resource_id:
        return None
    endpoint_name, variant_name = resource_id[len("endpoint/"):].split("/variant/", 1)
    endpoint = next((e for e in endpoints if e.urn in target.property_dependencies.get("resourceId", ())
                     or safe_get(e.props, "name") == endpoint_name), None)
    if endpoint is None:
        return None
    config = next((c for c in configs if references(endpoint, "endpointConfigName", c, "name")), None)
    if config is None:
        return None
    counts = [_count(v.get("initialInstanceCount")) for v in _instance_variants(config.props)
              if str(v.get("variantName")) == variant_name]
    return counts[0] if counts else None


def check_instance_budget(resources: list[Resource], config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    budget = config["maxEndpointInstances"]
    total = endpoint_instance_budget(resources)
    if total > budget:
        yield "", (
            f"The stack's SageMaker endpoints may run {total} instances (initial counts and autoscaling "
            f"maxima); this environment's budget is {budget:g}."
        )


kms = resource_rule(
    name="aws-sagemaker-endpointconfig-configure-kms",
    description="SageMaker endpoint configurations encrypt storage volumes and captured data with KMS.",
    severity=Severity.HIGH,
    remediation=(
        "Set `kms_key_arn=key.arn` (and `data_capture_config.kms_key_id`) on `aws.sagemaker.EndpointConfiguration`; "
        "instance types with local NVMe storage do not accept a volume key, so pick types without it."
    ),
    resource_types={ENDPOINT_CONFIG_TYPE},
    check=check_kms,
    config_schema={
        "requireKms": {"type": "boolean", "default": True, "description": "Require KMS keys on endpoint configs."},
    },
)

data_capture = resource_rule(
    name="aws-sagemaker-endpointconfig-enable-data-capture",
    description="SageMaker endpoint configurations capture inference data where the environment requires it.",
    severity=Severity.MEDIUM,
    remediation=(
        "Set `data_capture_config={'enable_capture': True, 'initial_sampling_percentage': <1..100>, "
        "'destination_s3_uri': f's3://{bucket}/data-capture', 'capture_options': [{'capture_mode': 'Input'}, "
        "{'capture_mode': 'Output'}], 'kms_key_id': key.arn}`."
    ),
    resource_types={ENDPOINT_CONFIG_TYPE},
    check=check_data_capture,
    config_schema={
        "requireDataCapture": {
            "type": "boolean",
            "default": False,
            "description": "Require data capture on every endpoint configuration.",
        },
    },
)

instance_types = resource_rule(
    name="aws-sagemaker-endpointconfig-configure-instance-type",
    description="SageMaker endpoint variants use instance types from the environment's allow-list.",
    severity=Severity.MEDIUM,
    remediation="Pick an allowed instance type in the stack's config, or extend `allowedInstanceTypes` in policies/config/<env>.json by pull request.",
    resource_types={ENDPOINT_CONFIG_TYPE},
    check=check_instance_types,
    config_schema={
        "allowedInstanceTypes": {
            "type": "array",
            "items": {"type": "string", "pattern": _INSTANCE_TYPE_PATTERN},
            "minItems": 1,
            "uniqueItems": True,
            "default": DEFAULT_INSTANCE_TYPES,
            "description": "Instance types endpoint variants may use.",
        },
    },
)

instance_budget = stack_rule(
    name="aws-sagemaker-endpoint-configure-instance-budget",
    description="The stack's SageMaker endpoints stay within the environment's instance budget.",
    severity=Severity.MEDIUM,
    remediation="Lower instance counts or autoscaling maxima, or raise `maxEndpointInstances` in policies/config/<env>.json by pull request.",
    check=check_instance_budget,
    config_schema={
        "maxEndpointInstances": {
            "type": "integer",
            "minimum": 0,
            "default": 4,
            "description": "Most endpoint instances the stack may run (initial counts, autoscaling maxima).",
        },
    },
)

POLICIES = [kms, data_capture, instance_types, instance_budget]
