"""Which model package a catalog entry serves in this stack: one rule for every entry and every kind.

Uploaded models travel like trained ones (upload -> registered PendingManualApproval in the entry's own
group -> approved by signed link -> promoted), so a stack serves, for each model entry reaching it:

1. the entry's ``model_package_name`` for this environment, when the catalog names one;
2. else the package pinned in ``catalogPackages`` (promotion passes it for its run; a stack file pins one
   for the offline preview);
3. else the newest Approved package of the entry's group in the registry stack
   (``Names.catalog_package_group``), looked up with the deploying credentials;
4. else nothing yet: the entry's endpoint or batch pipeline waits for its first approved upload
   (``None``), and the program says so.

Offline (``tools.mockrun`` sets ``MLOPS_OFFLINE=1``), step 3 is skipped: the preview never calls AWS.
"""

from __future__ import annotations

from collections.abc import Callable

import pulumi

from catalog.entries import ModelEntry
from components.model_registry import NoApprovedModelPackage, newest_approved_package_arn
from components.names import Names
from program.catalog import OFFLINE_VARIABLE, offline
from program.settings import Settings
from program.topology import registry_names, stack_names

__all__ = ["OFFLINE_VARIABLE", "Lookup", "offline", "served_package_arn"]

Lookup = Callable[[str], str]
"""Newest Approved package ARN of a group (name, or ARN cross-account); raises NoApprovedModelPackage."""


def served_package_arn(settings: Settings, entry: ModelEntry, lookup: Lookup | None = None) -> str | None:
    """The package ``entry`` serves in this stack, or None while its group has no Approved package."""
    environment = settings.environment
    package = entry.value_for("model_package_name", environment)
    if package:
        return str(package)
    pinned = dict(settings.catalog_packages).get(entry.model_name)
    if pinned:
        return pinned
    if lookup is None and offline():
        pulumi.log.info(f"{entry.label}: no package pinned in catalogPackages; offline, the newest Approved "
                        f"package is not looked up, so this preview serves nothing for it")
        return None
    registry, consumer = registry_names(settings), stack_names(settings)
    group = (registry.catalog_package_group(entry.model_name) if registry.account == consumer.account
             else registry.catalog_package_group_arn(entry.model_name))
    try:
        return (lookup or _boto3_lookup(consumer))(group)
    except NoApprovedModelPackage:
        pulumi.log.warn(f"{entry.label}: model package group {registry.catalog_package_group(entry.model_name)} has "
                        f"no Approved package yet: upload {entry.model_name}'s model_artifact_location to the "
                        f"registry stack's bucket and approve it (the e-mail's link); nothing is served until then")
        return None


def served_packages(settings: Settings, lookup: Lookup | None = None) -> dict[str, str]:
    """``model_name -> package ARN`` for every model entry reaching this stack that serves one, in catalog
    order: decided once per program run (each entry looked up and reported once), then handed to the
    real-time endpoints, the batch pipelines and the ``catalogPackages`` output."""
    served = {}
    for entry in settings.catalog.catalog.models:
        if entry.reaches(settings.environment):
            arn = served_package_arn(settings, entry, lookup)
            if arn:
                served[entry.model_name] = arn
    return served


def _boto3_lookup(consumer: Names) -> Lookup:
    import boto3

    client = boto3.client("sagemaker", region_name=consumer.region)
    return lambda group: newest_approved_package_arn(client, group)
