"""AWS-owned SageMaker images this program runs, per region, from the generated ``sagemaker_images.json``.

- ``model_monitor_image_uri(region)``: Model Monitor's analyzer (``sagemaker-model-monitor-analyzer``),
  the image of the training workflow's Baseline step and of every data quality monitor;
- ``clarify_image_uri(region)``: SageMaker Clarify's processing image (bias and explainability);
- ``builtin_image_uri(framework, version, region, instance_type)``: the inference image of a SageMaker
  built-in algorithm, for the catalog's built-in entries (``program/catalog.py``).

Every URI is one that sagemaker-core's ``image_uris.retrieve`` returns (its registry account per region,
never a hand-typed table), written into ``program/sagemaker_images.json`` by ``make catalog-files``
(``tools/sagemaker_images.py``); tests fail while the file differs from what the installed
sagemaker-core says. Reading a JSON file instead of importing sagemaker-core (pandas, scipy, pydantic)
saves every preview and deploy seconds. A region or image the file lacks is a ``ValueError`` naming
the region and what is supported.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["IMAGES_FILE", "builtin_image_uri", "clarify_image_uri", "instance_class", "model_monitor_image_uri"]

IMAGES_FILE = Path(__file__).with_name("sagemaker_images.json")
IMAGE_SCOPE = "inference"
"""The built-in algorithms' images are their inference images."""
MODEL_MONITOR, CLARIFY = "model-monitor", "clarify"
SERVICES = (CLARIFY, MODEL_MONITOR)
"""The sagemaker-core frameworks of the service images (``retrieve(framework=..., region=...)``)."""
_FAMILY = re.compile(r"^ml[._]([a-z\d\-]+)\.?\w*$")
"""sagemaker-core's instance family (``common_utils.get_instance_type_family``)."""


@cache
def _document() -> dict[str, Any]:
    return json.loads(IMAGES_FILE.read_text())


def _uri(image: dict[str, str], region: str, what: str) -> str:
    document = _document()
    accounts = document["registries"][image["registries"]]
    if region not in accounts:
        raise ValueError(f"{what} has no image in region {region!r} (sagemaker-core as of "
                         f"{document['generated_from']}); supported regions: {', '.join(accounts)}")
    return f"{accounts[region]}.dkr.{document['ecr_hostnames'][region]}/{image['repository']}"


@cache
def model_monitor_image_uri(region: str) -> str:
    """The Model Monitor analyzer image URI in `region` (ValueError naming the supported regions)."""
    return _uri(_document()["services"][MODEL_MONITOR], region, "SageMaker Model Monitor (model-monitor)")


@cache
def clarify_image_uri(region: str) -> str:
    """The SageMaker Clarify processing image URI in `region` (ValueError naming the supported regions)."""
    return _uri(_document()["services"][CLARIFY], region, "SageMaker Clarify (clarify)")


def instance_class(instance_type: str) -> str:
    """The class of images sagemaker-core picks for ``instance_type`` (a key of ``instance_classes``):
    Trainium, Graviton (the families sagemaker-core lists), Inferentia, GPU (g and p families) or CPU."""
    match = _FAMILY.match(instance_type)
    if not match:
        raise ValueError(f"{instance_type!r} is not a SageMaker instance type (ml.<family>.<size>)")
    family = match[1]
    if "trn" in instance_type:
        return "trn"
    if family in _document()["graviton_families"]:
        return "graviton"
    if family.startswith("inf"):
        return "inf"
    return "gpu" if family[0] in ("g", "p") else "cpu"


def builtin_image_uri(framework: str, version: str, region: str, instance_type: str) -> str:
    """The inference image of a built-in algorithm for ``instance_type`` in ``region``; ValueError (one
    sentence naming what is supported) where there is none."""
    versions = _document()["builtin_algorithms"].get(framework)
    if versions is None:
        raise ValueError(f"{framework!r} is not a built-in algorithm: expected one of "
                         f"{', '.join(_document()['builtin_algorithms'])}")
    if version not in versions:
        raise ValueError(f"{framework} has no version {version!r}: expected one of {', '.join(versions)}")
    images = versions[version]
    kind = instance_class(instance_type)
    if kind not in images:
        raise ValueError(f"{framework} {version} has no image for {instance_type} (a {kind} instance); it has "
                         f"images for {' or '.join(images) or 'no'} instances")
    return _uri(images[kind], region, f"{framework} {version} for {instance_type}")
