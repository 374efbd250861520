"""The stack's model catalog: ``mlops-config.json`` read and validated before any resource exists.

The rules are the stdlib validator's (``catalog/validate.py``, shared with the provisioning Lambda);
this module adds what needs the program's context:

- the topology's environments (the stack files present, plus this stack's environment), which
  per-environment values must name;
- this stack's region, in which built-in images and KMS keys must exist;
- the built-in algorithms' image URIs, resolved with sagemaker-core's ``image_uris`` for this region
  (never a hand-written table of registry accounts). sagemaker-core is imported only when the catalog
  has a built-in entry: the import takes seconds.

No resource is created for the entries yet: later components read ``Settings.catalog``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from catalog.entries import Catalog, ModelEntry
from catalog.validate import CatalogError, load_catalog_file

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CATALOG_FILE = "mlops-config.json"
IMAGE_SCOPE = "inference"


@dataclass(frozen=True)
class StackCatalog:
    """The validated catalog, as this stack sees it."""

    file: str = DEFAULT_CATALOG_FILE
    """The ``catalogFile`` setting: the file the entries come from."""
    catalog: Catalog = field(default_factory=Catalog)
    builtin_images: Mapping[str, str] = field(default_factory=dict)
    """model_name -> inference image URI in this stack's region, for the built-in entries that reach this
    stack's environment and name their framework (entries with ``model_package_name`` take the
    package's image)."""


def topology_environments(root: Path = ROOT, current: str | None = None) -> tuple[str, ...]:
    """The environments of the project: one per stack file (``Pulumi.<stack>.yaml``), and ``current``."""
    names = {p.name[len("Pulumi."):-len(".yaml")] for p in root.glob("Pulumi.*.yaml")}
    if current:
        names.add(current)
    return tuple(sorted(names))


def builtin_image_uri(framework: str, version: str, region: str, instance_type: str) -> str:
    """The SageMaker inference image of a built-in algorithm (ValueError where there is none)."""
    from sagemaker.core import image_uris

    return image_uris.retrieve(framework=framework, region=region, version=version, image_scope=IMAGE_SCOPE,
                               instance_type=instance_type)


def _builtin_images(catalog: Catalog, environment: str, region: str, source: str) -> tuple[dict[str, str], list[str]]:
    images: dict[str, str] = {}
    problems: list[str] = []
    for entry in catalog.models:
        if not (_names_framework(entry) and entry.reaches(environment)):
            continue
        framework = entry.value_for("model_framework", environment)
        version = entry.value_for("model_framework_version", environment)
        instance = entry.value_for("inference_instance", environment)
        try:
            images[entry.model_name] = builtin_image_uri(framework, version, region, instance)
        except ValueError as error:  # its first sentence; the rest advises upgrading the SDK
            reason = str(error).split(". ")[0][:200]
            problems.append(f"{source}: {entry.label}: model_framework {framework!r} version {version!r} has no "
                            f"inference image for {instance} in {region} (sagemaker-core: {reason})")
    return images, problems


def _names_framework(entry: ModelEntry) -> bool:
    return entry.builtin and entry.model_framework is not None


def load_stack_catalog(catalog_file: str, *, environment: str | None, region: str | None,
                       root: Path = ROOT) -> StackCatalog:
    """Read and check ``catalog_file`` (relative to the project directory) for the stack of
    ``environment`` in ``region``; raises ``CatalogError`` with every problem.

    With ``environment`` or ``region`` unknown (the stack's own settings are invalid), only the rules
    that need neither are checked, so that catalog problems are still reported with the settings' ones.
    """
    path = Path(catalog_file)
    if not path.is_absolute():
        path = root / path
    regions = {environment: region} if environment and region else None
    catalog = load_catalog_file(path, environments=topology_environments(root, environment), regions=regions,
                                source=catalog_file)
    if not (environment and region):
        return StackCatalog(file=catalog_file, catalog=catalog)
    images, problems = _builtin_images(catalog, environment, region, catalog_file)
    if problems:
        raise CatalogError(problems)
    return StackCatalog(file=catalog_file, catalog=catalog, builtin_images=images)
