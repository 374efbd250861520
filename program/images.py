"""AWS-owned SageMaker images this program runs, resolved per region by sagemaker-core.

``model_monitor_image_uri(region)``: Model Monitor's analyzer (``sagemaker-model-monitor-analyzer``), the
image of the training workflow's Baseline step and of every data quality monitor;
``clarify_image_uri(region)``: SageMaker Clarify's processing image (``sagemaker-clarify-processing``), the
image of the bias and explainability monitors and of their baseline jobs. sagemaker-core's
``image_uris`` knows its registry account per region (never a hand-typed table). Importing it takes
seconds, so the composition asks only when the stack needs the image (it trains, or it monitors an
endpoint), once per stack.
"""

from __future__ import annotations

from functools import cache

__all__ = ["clarify_image_uri", "model_monitor_image_uri"]


def _retrieve(framework: str, region: str) -> str:
    from sagemaker.core import image_uris

    return str(image_uris.retrieve(framework=framework, region=region))


@cache
def model_monitor_image_uri(region: str) -> str:
    """The analyzer image URI in `region` (ValueError from sagemaker-core where it has none)."""
    return _retrieve("model-monitor", region)


@cache
def clarify_image_uri(region: str) -> str:
    """The Clarify processing image URI in `region` (ValueError from sagemaker-core where it has none)."""
    return _retrieve("clarify", region)
