"""The mlops guard-rail rules, one module per area; ``ALL_POLICIES`` is what the pack enforces.

To add a rule: write the pure check and its ``resource_rule``/``stack_rule`` in the area's module,
append it to that module's ``POLICIES``, and add its table-driven test in tests/policies/test_<area>.py
(the mirror of the module).
"""

from . import apigateway, awslambda, ecr, iam, kms, messaging, monitoring, s3, sagemaker, stepfunctions, tagging

ALL_POLICIES = [
    *tagging.POLICIES,
    *iam.POLICIES,
    *s3.POLICIES,
    *kms.POLICIES,
    *messaging.POLICIES,
    *ecr.POLICIES,
    *awslambda.POLICIES,
    *stepfunctions.POLICIES,
    *apigateway.POLICIES,
    *sagemaker.POLICIES,
    *monitoring.POLICIES,
]

__all__ = ["ALL_POLICIES"]
