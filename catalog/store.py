"""The catalog store: where the provisioning API keeps the entries it accepted, one record per pipeline.

Standard library only, like the validator: the provisioning Lambdas (which vendor this package) write
the records, the program reads them, with the same rules.

The store is a prefix of the registry stack's bucket (``components.names.CATALOG_STORE_PREFIX``:
versioned, SSE-KMS with the stack key, TLS only), one object per pipeline named ``object_name(id)``:

    {"pipeline_id": "iris-x", "entry": {<the body as POSTed>}, "retired": false,
     "state": "queued" | "running" | "succeeded" | "failed", "reason": null | "<why it failed>",
     "execution_id": "<the deploy's CodePipeline execution>", "requested_at": "...", "updated_at": "..."}

Retiring sets ``retired``: the record stays (with every earlier version in the bucket's history) and the
next deploy leaves the entry out. A local copy of the prefix (``aws s3 sync s3://<bucket>/<prefix>/ DIR``)
is a directory of these files, which ``read_directory`` reads (the preview's ``--catalog-store DIR``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .validate import MAX_DOCUMENT_BYTES, CatalogError, parse_document

RECORD_SUFFIX = ".json"
STATES = ("queued", "running", "succeeded", "failed")
"""A pipeline's provisioning state: its deploy waits, runs, succeeded or failed (with ``reason``)."""
FINISHED = ("succeeded", "failed")
MAX_RECORDS = 2000
"""Records read from one store (as many entries as a 1 MiB catalog file holds)."""


def object_name(pipeline_id: str) -> str:
    """The record's object name: the model name in lower case (model names are unique ignoring case), or
    an image builder's id (``<repository>:<tag>``, ``/`` as ``~``) as it is (tags are case-sensitive)."""
    return (pipeline_id if ":" in pipeline_id else pipeline_id.lower()) + RECORD_SUFFIX


def record(pipeline_id: str, body: Mapping[str, Any], *, now: str, retired: bool = False) -> dict[str, Any]:
    """A new record: the entry accepted, its deploy not started yet (``queued``, no execution)."""
    return {"pipeline_id": pipeline_id, "entry": dict(body), "retired": retired, "state": "queued", "reason": None,
            "execution_id": None, "requested_at": now, "updated_at": now}


def read_record(data: bytes, *, source: str) -> dict[str, Any]:
    """A stored record, strictly: raises ``CatalogError`` naming ``source`` when it is not one."""
    value = parse_document(data, source=source)
    if not isinstance(value, Mapping) or not isinstance(value.get("pipeline_id"), str) \
            or not isinstance(value.get("entry"), Mapping) or not isinstance(value.get("retired"), bool):
        raise CatalogError([f"{source}: is not a catalog store record: expected an object with pipeline_id, entry "
                            "and retired (written by the provisioning API)"])
    return dict(value)


def stored_entries(objects: Mapping[str, bytes], *, store: str = "catalog store") -> dict[str, Any]:
    """Object name -> entry body of every record that is not retired (what the next deploy provisions).
    Every unreadable record is reported, at once."""
    problems: list[str] = []
    bodies: dict[str, Any] = {}
    if len(objects) > MAX_RECORDS:
        raise CatalogError([f"{store}: holds {len(objects)} records: at most {MAX_RECORDS} are read"])
    for name in sorted(objects):
        try:
            value = read_record(objects[name], source=f"{store} {name}")
        except CatalogError as error:
            problems.extend(error.problems)
            continue
        if not value["retired"]:
            bodies[name] = value["entry"]
    if problems:
        raise CatalogError(problems)
    return bodies


def read_directory(path: Path | str, *, store: str = "catalog store") -> dict[str, bytes]:
    """The records of a local copy of the store: every ``*.json`` file of ``path`` (not recursive)."""
    directory = Path(path)
    if not directory.is_dir():
        raise CatalogError([f"{store}: {directory} is not a directory (a local copy of the store: "
                            "aws s3 sync s3://<bucket>/<prefix>/ DIR)"])
    objects: dict[str, bytes] = {}
    for file in sorted(directory.glob(f"*{RECORD_SUFFIX}")):
        if file.stat().st_size > MAX_DOCUMENT_BYTES:
            raise CatalogError([f"{store} {file.name}: has {file.stat().st_size} bytes: at most "
                                f"{MAX_DOCUMENT_BYTES} are read"])
        objects[file.name] = file.read_bytes()
    return objects
