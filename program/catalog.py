"""The stack's model catalog: ``mlops-config.json`` read and validated before any resource exists.

The rules are the stdlib validator's (``catalog/validate.py``, shared with the provisioning Lambda);
this module adds what needs the program's context:

- the topology's environments (the stack files present, plus this stack's environment), which
  per-environment values must name;
- this stack's region, in which built-in images and KMS keys must exist;
- the built-in algorithms' image URIs, resolved with sagemaker-core's ``image_uris`` for this region
  (never a hand-written table of registry accounts) when a component asks for one
  (`StackCatalog.builtin_image`): the import takes seconds, so loading the catalog (every preview) uses
  the shipped table for the region check and never imports it.

No resource is created for the entries yet: later components read ``Settings.catalog``.
"""

from __future__ import annotations

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
    environment: str | None = None
    region: str | None = None

    def builtin_image(self, model_name: str) -> str:
        """The inference image URI of a built-in entry in this stack's region, resolved by sagemaker-core with
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


def builtin_image_uri(framework: str, version: str, region: str, instance_type: str) -> str:
    """The SageMaker inference image of a built-in algorithm (ValueError where there is none)."""
    from sagemaker.core import image_uris

    return image_uris.retrieve(framework=framework, region=region, version=version, image_scope=IMAGE_SCOPE,
                               instance_type=instance_type)


def _builtin_image(entry: ModelEntry, environment: str, region: str, source: str) -> str:
    framework = entry.value_for("model_framework", environment)
    version = entry.value_for("model_framework_version", environment)
    instance = entry.value_for("inference_instance", environment)
    try:
        return builtin_image_uri(framework, version, region, instance)
    except ValueError as error:  # its first sentence; the rest advises upgrading the SDK
        reason = str(error).split(". ")[0][:200]
        raise CatalogError([f"{source}: {entry.label}: model_framework {framework!r} version {version!r} has no "
                            f"inference image for {instance} in {region} (sagemaker-core: {reason})"]) from None


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
    return StackCatalog(file=catalog_file, catalog=catalog, environment=environment, region=region)
