"""The stack's model catalog: ``mlops-config.json`` read and validated before any resource exists.

The rules are the stdlib validator's (``catalog/validate.py``, shared with the provisioning Lambda);
this module adds what needs the program's context:

- the topology's environments (the stack files present, plus this stack's environment), which
  per-environment values must name;
- this stack's region, in which built-in images and KMS keys must exist;
- the built-in algorithms' image URIs for this region and the entry's instance type when a component
  asks for one (`StackCatalog.builtin_image`), from ``program/images.py``: the URIs sagemaker-core's
  ``image_uris`` gives (never a hand-written table of registry accounts), generated into a JSON file by
  ``make catalog-files`` so that no preview or deploy imports sagemaker-core.

The catalog is the file plus the catalog store, the entries the provisioning API accepted
(``catalog/store.py``): where the store is read from is ``catalog_store_objects``'s rule.

No resource is created for the entries yet: later components read ``Settings.catalog``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from catalog.entries import Catalog, ModelEntry
from catalog.store import read_directory, stored_entries
from catalog.validate import CatalogError, load_catalog_file, merge_stored
from program.images import builtin_image_uri

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CATALOG_FILE = "mlops-config.json"
OFFLINE_VARIABLE = "MLOPS_OFFLINE"
"""Set to 1 by ``tools.mockrun``: the program looks nothing up in AWS."""
STORE_VARIABLE = "MLOPS_CATALOG_STORE"
"""A directory holding a local copy of the catalog store (the preview's ``--catalog-store``, the deploy
build's ``aws s3 sync``): read instead of the bucket."""


def offline() -> bool:
    return os.environ.get(OFFLINE_VARIABLE) == "1"


@dataclass(frozen=True)
class StackCatalog:
    """The validated catalog, as this stack sees it."""

    file: str = DEFAULT_CATALOG_FILE
    """The ``catalogFile`` setting: the file the entries come from."""
    catalog: Catalog = field(default_factory=Catalog)
    environment: str | None = None
    region: str | None = None

    def builtin_image(self, model_name: str) -> str:
        """The inference image URI of a built-in entry in this stack's region, chosen as sagemaker-core does with
        the entry's instance type (which also refuses e.g. a GPU instance for an image without GPU support);
        raises ``CatalogError`` naming the entry when there is none. Entries with ``model_package_name``
        take the package's image and are not asked here."""
        entry = self.catalog.model(model_name)
        if not (self.environment and self.region and _names_framework(entry) and entry.reaches(self.environment)):
            raise ValueError(f"{model_name} names no built-in framework for this stack")
        return _builtin_image(entry, self.environment, self.region, self.file)


def topology_environments(root: Path = ROOT, current: str | None = None) -> tuple[str, ...]:
    """The environments of the project: one per stack file (``Pulumi.<stack>.yaml``), and ``current``."""
    names = {p.name[len("Pulumi."):-len(".yaml")] for p in root.glob("Pulumi.*.yaml")}
    if current:
        names.add(current)
    return tuple(sorted(names))


def _builtin_image(entry: ModelEntry, environment: str, region: str, source: str) -> str:
    framework = entry.value_for("model_framework", environment)
    version = entry.value_for("model_framework_version", environment)
    instance = entry.value_for("inference_instance", environment)
    try:
        return builtin_image_uri(framework, version, region, instance)
    except ValueError as error:
        raise CatalogError([f"{source}: {entry.label}: model_framework {framework!r} version {version!r} has no "
                            f"inference image for {instance} in {region} ({error})"]) from None


def _names_framework(entry: ModelEntry) -> bool:
    return entry.builtin and entry.model_framework is not None


def catalog_store_objects(bucket: str, prefix: str, region: str | None) -> tuple[str, dict[str, bytes]]:
    """(how problems name the store, object name -> record) of the catalog store, from the first of:

    1. ``MLOPS_CATALOG_STORE``, a local copy of it (the deploy build syncs one; ``--catalog-store DIR``);
    2. nothing, offline (``MLOPS_OFFLINE=1``: the preview reads the file only);
    3. ``s3://<bucket>/<prefix>/`` with the deploying credentials; a bucket that does not exist yet (the
       registry stack's first deploy) holds nothing. Any other error stops the program: deploying
       without the stored entries would remove what they provisioned.
    """
    directory = os.environ.get(STORE_VARIABLE, "").strip()
    if directory:
        return f"catalog store {directory}", read_directory(directory, store=f"catalog store {directory}")
    if offline():
        return "catalog store", {}
    location = f"s3://{bucket}/{prefix}/"
    return f"catalog store {location}", _read_bucket(bucket, prefix, region, location)


def _read_bucket(bucket: str, prefix: str, region: str | None, location: str) -> dict[str, bytes]:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    s3 = boto3.client("s3", region_name=region)
    objects: dict[str, bytes] = {}
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/", Delimiter="/"):
            for item in page.get("Contents", []):
                name = item["Key"][len(prefix) + 1:]
                if name.endswith(".json"):
                    objects[name] = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code == "NoSuchBucket":
            return {}
        raise CatalogError([f"catalog store {location}: cannot be read ({code}): give the deploy read access, or "
                            f"a local copy in {STORE_VARIABLE} (aws s3 sync {location} DIR)"]) from None
    except BotoCoreError as error:
        raise CatalogError([f"catalog store {location}: cannot be read ({type(error).__name__}): set "
                            f"{STORE_VARIABLE} to a local copy (aws s3 sync {location} DIR)"]) from None
    return objects


def load_stack_catalog(catalog_file: str, *, environment: str | None, region: str | None,
                       root: Path = ROOT, stored: Mapping[str, bytes] | None = None,
                       store: str = "catalog store") -> StackCatalog:
    """Read and check ``catalog_file`` (relative to the project directory) for the stack of
    ``environment`` in ``region``, plus the records ``stored`` in the catalog store (named ``store`` in
    problems); raises ``CatalogError`` with every problem. An entry in both places is one of them.

    With ``environment`` or ``region`` unknown (the stack's own settings are invalid), only the rules
    that need neither are checked, so that catalog problems are still reported with the settings' ones.
    """
    path = Path(catalog_file)
    if not path.is_absolute():
        path = root / path
    regions = {environment: region} if environment and region else None
    environments = topology_environments(root, environment)
    catalog = load_catalog_file(path, environments=environments, regions=regions, source=catalog_file)
    if stored:
        catalog = merge_stored(catalog, stored_entries(stored, store=store), environments=environments,
                               regions=regions, source=catalog_file, store=store)
    return StackCatalog(file=catalog_file, catalog=catalog, environment=environment, region=region)
