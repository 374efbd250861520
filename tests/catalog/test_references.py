"""The validator's rules against their references: botocore's service models, sagemaker-core's image
table, and the generated files shipped with the catalog package (which may not drift)."""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

import botocore.session
import pytest

from catalog import validate as v
from catalog.validate import validate_catalog
from tests.catalog.bodies import catalog, framework_body
from tools import catalog_files

CATALOG_PACKAGE = Path(v.__file__).parent
_SESSION = botocore.session.get_session()
SAGEMAKER = _SESSION.get_service_model("sagemaker")
ECR = _SESSION.get_service_model("ecr")


def _anchored(pattern: str) -> str:
    return f"^{pattern}$"


def test_name_pattern_and_length_are_sagemakers():
    endpoint = SAGEMAKER.shape_for("EndpointName").metadata
    assert v.SAGEMAKER_NAME.pattern == _anchored(endpoint["pattern"])
    model = SAGEMAKER.operation_model("CreateModel").input_shape.members["ModelName"].metadata
    assert v.SAGEMAKER_NAME_MAX == endpoint["max"] == model["max"] == 63
    # CreateModel spells the rule differently; both accept exactly the same names.
    model_rule = re.compile(_anchored(model["pattern"]))
    for name in ["a", "iris", "iris-tree", "a--b", "A9", "-a", "a-", "a_b", "a.b", "", "x" * 63, "é"]:
        assert bool(v.SAGEMAKER_NAME.match(name)) == bool(model_rule.match(name)), name


def test_ecr_repository_names_are_ecrs():
    shape = ECR.shape_for("RepositoryName").metadata
    assert v.ECR_REPOSITORY.pattern == _anchored(shape["pattern"])
    assert v.ECR_REPOSITORY_MAX == shape["max"]
    assert v.FIELDS["ecr_repo_name"].parse("ab") == "ab"  # min 2 is the pattern's own


@pytest.mark.parametrize("shape", ["ProductionVariantInstanceType", "TransformInstanceType"])
def test_every_sagemaker_instance_type_is_accepted(shape):
    for instance_type in SAGEMAKER.shape_for(shape).enum:
        assert v.INSTANCE_TYPE.match(instance_type), instance_type
    for not_one in ["m5.large", "ml.m5", "ml..large", "ml.m5.huge", "ec2.m5.large", "ml.m5.large "]:
        assert not v.INSTANCE_TYPE.match(not_one), not_one


def test_normalised_s3_locations_fit_sagemakers_shapes():
    capture = SAGEMAKER.shape_for("DataCaptureConfig").members["DestinationS3Uri"].metadata
    transform = SAGEMAKER.shape_for("TransformS3DataSource").members["S3Uri"].metadata
    body = framework_body("byom_realtime_custom") | {"data_capture_location": "bucket/" + "c" * 600}
    assert len("s3://bucket/" + "c" * 600) > capture["max"]
    (problem,) = _problems(body)
    assert "data_capture_location = 'bucket/ccc" in problem
    body = framework_body("byom_batch_custom") | {"batch_inference_data": "bucket/in/" + "d" * 990}
    (entry,) = validate_catalog(catalog(body)).entries
    uri = entry.value_for("batch_inference_data", "dev").uri
    assert len(uri) <= transform["max"] and re.match(transform["pattern"], uri)


def test_image_uri_length_is_sagemakers():
    assert v.ECR_IMAGE_URI_MAX == SAGEMAKER.shape_for("ContainerImage").metadata["max"]


def _problems(body) -> list[str]:
    with pytest.raises(v.CatalogError) as error:
        validate_catalog(catalog(body))
    return error.value.problems


def test_the_shipped_frameworks_table_is_what_sagemaker_core_says():
    assert v.FRAMEWORKS_FILE.read_text() == catalog_files.render(catalog_files.frameworks_table()), \
        "catalog/builtin_frameworks.json is stale: run `make catalog-files`"


def test_the_shipped_schema_is_built_from_the_validator():
    frameworks = sorted(v.builtin_frameworks())
    assert catalog_files.SCHEMA_FILE.read_text() == catalog_files.render(catalog_files.schema_document(frameworks)), \
        "catalog/mlops-config.schema.json is stale: run `make catalog-files`"


def test_the_table_holds_the_builtin_algorithms_with_their_versions():
    table = v.builtin_frameworks()
    assert set(table) == set(catalog_files.BUILTIN_ALGORITHMS)
    assert "1.7-1" in table["xgboost"] and "eu-west-1" in table["xgboost"]["1.7-1"]
    assert json.loads(v.FRAMEWORKS_FILE.read_text())["generated_from"] == "sagemaker-core==2.27.0"


@pytest.mark.parametrize("path", sorted(CATALOG_PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_the_catalog_package_imports_only_the_standard_library(path):
    """The provisioning Lambda vendors this package: stdlib imports and its own modules only."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: the package itself
                continue
            names = [node.module or ""]
        else:
            continue
        for name in names:
            assert name.split(".")[0] in sys.stdlib_module_names or name == "__future__", f"{path.name}: {name}"


def test_the_package_reads_its_table_next_to_itself():
    assert v.FRAMEWORKS_FILE.parent == CATALOG_PACKAGE
