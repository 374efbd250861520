"""``program/sagemaker_images.json`` from sagemaker-core: the AWS-owned images the program runs, per region.

Written by ``make catalog-files`` (``tools/catalog_files.py``) so that neither the program nor a preview
imports sagemaker-core (pandas, scipy, pydantic: seconds per process); ``program/images.py`` reads it.
Every URI in it is one sagemaker-core's ``image_uris.retrieve`` returned, factored to stay small:
``<account>.dkr.<ecr hostname of the region>/<repository:tag>``, with the accounts of one image per
region in a shared registry table. Holds:

- ``services``: Model Monitor's analyzer (``model-monitor``) and Clarify (``clarify``), in every region
  sagemaker-core knows an account for;
- ``builtin_algorithms``: the inference image of every built-in algorithm (``tools.catalog_files.
  BUILTIN_ALGORITHMS``) and version it lists, per instance class: sagemaker-core picks the image from the
  instance type (GPU, Graviton, ...), and ``instance_classes`` names the instance type each class was
  asked with (``program.images.instance_class`` maps any instance type to one; a test checks that it
  picks what sagemaker-core picks for every endpoint instance type botocore knows).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from functools import cache
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

from program.images import IMAGE_SCOPE, IMAGES_FILE, SERVICES

INSTANCE_CLASSES = {"cpu": "ml.m5.large", "gpu": "ml.g4dn.xlarge", "graviton": "ml.c7g.large",
                    "inf": "ml.inf1.xlarge", "trn": "ml.trn1.2xlarge"}
"""Each instance class sagemaker-core tells apart for built-in algorithms, and the type it is asked with."""


@contextlib.contextmanager
def cached_endpoint_resolver() -> Iterator[None]:
    """sagemaker-core re-reads botocore's endpoints.json (~0.1 s) on every ``retrieve``; one resolver for
    the whole run makes the thousands of look-ups take seconds instead of minutes. Restored afterwards.
    (``_botocore_resolver`` is private: sagemaker-core is pinned, and the test suite runs this.)"""
    from sagemaker.core import common_utils

    original = common_utils._botocore_resolver
    resolver = original()
    common_utils._botocore_resolver = lambda: resolver
    try:
        yield
    finally:
        common_utils._botocore_resolver = original


def known_regions(frameworks: tuple[str, ...]) -> list[str]:
    """Every region any scope of any of ``frameworks`` has a registry account for."""
    from sagemaker.core import image_uris

    regions: set[str] = set()
    for framework in frameworks:
        for subtree in image_uris._iter_config_subtrees(framework):
            regions.update(subtree.get("registries", {}))
            for config in subtree.get("versions", {}).values():
                regions.update(config.get("registries", {}))
    return sorted(regions)


class _Collector:
    """URIs retrieved per region, factored into (repository, registry id) plus the shared tables."""

    def __init__(self) -> None:
        self.hostnames: dict[str, str] = {}
        self.registries: dict[str, dict[str, str]] = {}

    def image(self, retrieve: Any, regions: list[str]) -> dict[str, str] | None:
        """``retrieve(region)`` in every region; None where it resolves in none (any exception: none there)."""
        repositories: set[str] = set()
        accounts: dict[str, str] = {}
        for region in regions:
            try:
                uri = str(retrieve(region))
            except Exception:  # noqa: BLE001 - sagemaker-core raises ValueError, KeyError, ... for "none"
                continue
            account, rest = uri.split(".dkr.", 1)
            hostname, repository = rest.split("/", 1)
            if self.hostnames.setdefault(region, hostname) != hostname:
                raise ValueError(f"two ECR hostnames for {region}: {self.hostnames[region]}, {hostname}")
            repositories.add(repository)
            accounts[region] = account
        if not accounts:
            return None
        if len(repositories) != 1:
            raise ValueError(f"one image, several repositories across regions: {sorted(repositories)}")
        table = json.dumps(accounts, sort_keys=True)
        key = hashlib.sha256(table.encode()).hexdigest()[:10]
        self.registries[key] = dict(sorted(accounts.items()))
        return {"repository": repositories.pop(), "registries": key}


@cache
def images_document(builtin_algorithms: tuple[str, ...]) -> dict[str, Any]:
    """The document of ``program/sagemaker_images.json`` (cached: the tests ask twice)."""
    from sagemaker.core import image_uris
    from sagemaker.core.fw_utils import GRAVITON_ALLOWED_TARGET_INSTANCE_FAMILY

    collector = _Collector()
    services: dict[str, Any] = {}
    builtin: dict[str, Any] = {}
    with cached_endpoint_resolver():
        for service in SERVICES:
            found = collector.image(lambda region, s=service: image_uris.retrieve(framework=s, region=region),
                                    known_regions((service,)))
            if found is None:
                raise ValueError(f"sagemaker-core resolves no {service} image in any region")
            services[service] = found
        for framework in builtin_algorithms:
            regions = known_regions((framework,))
            versions: dict[str, Any] = {}
            for version in image_uris.list_versions(framework, IMAGE_SCOPE):
                classes: dict[str, Any] = {}
                for name, instance_type in INSTANCE_CLASSES.items():
                    def retrieve(region: str, f: str = framework, v: str = version, i: str = instance_type) -> str:
                        return str(image_uris.retrieve(framework=f, region=region, version=v,
                                                       image_scope=IMAGE_SCOPE, instance_type=i))
                    found = collector.image(retrieve, regions)
                    if found is not None:
                        classes[name] = found
                versions[version] = classes
            builtin[framework] = versions
    return {
        "description": "AWS-owned SageMaker image URIs per region: <account>.dkr.<ecr_hostnames[region]>/<repository>, "
                       "the account from registries[<image's registries>][region]. Generated by `python -m "
                       "tools.catalog_files` from sagemaker-core; do not edit. Read by program/images.py.",
        "generated_from": f"sagemaker-core=={installed_version('sagemaker-core')}",
        "image_scope": IMAGE_SCOPE,
        "instance_classes": INSTANCE_CLASSES,
        "graviton_families": sorted(GRAVITON_ALLOWED_TARGET_INSTANCE_FAMILY),
        "services": services,
        "builtin_algorithms": builtin,
        "ecr_hostnames": dict(sorted(collector.hostnames.items())),
        "registries": dict(sorted(collector.registries.items())),
    }


def expected_file(builtin_algorithms: tuple[str, ...]) -> tuple[Path, str]:
    """(path, text) of the file as this module would write it."""
    return IMAGES_FILE, json.dumps(images_document(builtin_algorithms), indent=1, ensure_ascii=False) + "\n"
