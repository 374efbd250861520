"""SageMaker Clarify's analysis configurations and the AWS MLOps Framework's monitor fields.

Pure functions of plain values, standard library only (lambdas/clarify_config ships this file): a bias /
explainability monitor's baseline run writes ``baseline_analysis_config`` and ``monitoring_analysis_config``
(the job definition's ``ConfigUri``); its Clarify job is ``components.monitor_baseline.clarify_processing_job``.

The framework's fields (``byom_model_bias_monitor`` / ``byom_model_explainability_monitor``) are the keyword
arguments of the SageMaker Python SDK's ``clarify.BiasConfig`` (``bias_config``), ``ModelPredictedLabelConfig``
(``model_predicted_label_config``) and ``SHAPConfig`` (``shap_config``); the baseline dataset is CSV with a
header row whose first column is the label. They become the documented analysis configuration
(SageMaker developer guide, "Analysis Configuration Files", "Parameters to Monitor Bias Drift", "Parameters
to Monitor Attribution Drift"):

- bias monitor: ``headers``, ``label`` (the first header), ``label_values_or_threshold``, ``facet`` (one
  ``{"name_or_index", "value_or_threshold"}`` per facet) and ``group_variable``; the predicted label, its
  probability and the threshold are the job's endpoint input attributes, not part of this file;
- explainability monitor: the feature ``headers`` (without the label), ``methods.shap`` and a ``predictor``
  naming the served endpoint's model (``ShadowModel``): Kernel SHAP asks the model about synthetic records,
  on a temporary endpoint Clarify creates from the model and deletes (its "shadow endpoint",
  ``<endpoint_name_prefix>-*``), as the AWS MLOps Framework does. Never the served endpoint itself: it
  captures what it is asked, and the synthetic records would become the data every monitor of the endpoint
  analyses (and add ``num_samples`` requests per record to its load);
- the baseline job (``dataset_type`` ``text/csv``, the whole header and the label): bias computes pre- and
  post-training metrics (``methods: all``), explainability SHAP; both with the same ``predictor``. Its
  ``analysis.json`` is the monitors' baseline constraints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

BIAS = "model-bias"
EXPLAINABILITY = "model-explainability"
MONITORING_TYPES = {BIAS: "ModelBias", EXPLAINABILITY: "ModelExplainability"}
"""Monitor type in names and messages -> SageMaker's MonitoringType."""
PROBLEM_TYPES = ("Regression", "BinaryClassification", "MulticlassClassification")
CONTENT_TYPES = ("text/csv", "application/jsonlines")
CONFIG_VERSION = "1.0"

BIAS_CONFIG_KEYS = ("label_values_or_threshold", "facet_name", "facet_values_or_threshold", "group_name")
PREDICTED_LABEL_KEYS = ("label", "probability", "probability_threshold", "label_headers")
SHAP_CONFIG_KEYS = ("baseline", "num_samples", "agg_method", "use_logit", "save_local_shap_values", "seed",
                    "num_clusters", "features_to_explain")
"""The SHAP keys of the analysis configuration: ``catalog.clarify.SHAPES["shap_config"]`` accepts the same."""
AGG_METHODS = ("mean_abs", "median", "mean_sq")

ANALYSIS_FILE = "analysis.json"
"""What a Clarify job writes: the baseline job's is the monitors' constraints."""


@dataclass(frozen=True)
class ShadowModel:
    """The model Clarify asks for predictions, on a shadow endpoint of its own (``predictor`` of the analysis
    configuration): the served endpoint's model, on its instance type."""

    model_name: str
    instance_type: str
    endpoint_name_prefix: str
    """Clarify names the shadow endpoint and its configuration ``<prefix>-...``: the roles may create and delete
    only those."""

    def predictor(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "instance_type": self.instance_type, "initial_instance_count": 1,
                "endpoint_name_prefix": self.endpoint_name_prefix}


@dataclass(frozen=True)
class ClarifyAnalysis:
    """What one Clarify monitor analyses, in the framework's terms."""

    monitor_type: str
    """``BIAS`` or ``EXPLAINABILITY``."""
    headers: tuple[str, ...]
    """The baseline dataset's header row: the label first, then the features."""
    problem_type: str
    bias_config: Mapping[str, Any] = field(default_factory=dict)
    model_predicted_label_config: Mapping[str, Any] = field(default_factory=dict)
    shap_config: Mapping[str, Any] = field(default_factory=dict)
    inference_attribute: str | None = None
    """``monitor_inference_attribute``: where the prediction is in the endpoint's output (index or JMESPath)."""
    probability_attribute: str | None = None
    """``monitor_probability_attribute``."""
    probability_threshold: float | None = None
    """``probability_threshold_attribute``: a probability above it is the positive label (binary)."""
    content_type: str = "text/csv"
    """What the endpoint takes and answers (``text/csv`` or ``application/jsonlines``)."""

    @property
    def label(self) -> str:
        return self.headers[0]

    @property
    def features(self) -> list[str]:
        return list(self.headers[1:])

    def endpoint_attributes(self) -> dict[str, Any]:
        """The job's endpoint input attributes: the framework's monitor fields, else the predicted label config
        (as the SDK fills them from ``ModelPredictedLabelConfig``); only those that are set."""
        predicted = self.model_predicted_label_config
        values: dict[str, Any] = {
            "inference_attribute": self.inference_attribute or _text(predicted.get("label")),
            "probability_attribute": self.probability_attribute or _text(predicted.get("probability")),
        }
        if self.monitor_type == BIAS:
            threshold = self.probability_threshold
            values["probability_threshold_attribute"] = (
                threshold if threshold is not None else predicted.get("probability_threshold"))
        return {key: value for key, value in values.items() if value is not None}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def analysis_fields(analysis: ClarifyAnalysis) -> dict[str, Any]:
    """``analysis`` as JSON values, without its headers: what a baseline run's configuration step is given
    (``analysis_with_headers`` on the other side, once it has read the dataset's header row)."""
    values = {f.name: getattr(analysis, f.name) for f in fields(analysis) if f.name != "headers"}
    return {name: dict(value) if isinstance(value, Mapping) else value for name, value in values.items()}


def analysis_with_headers(values: Mapping[str, Any], headers: Sequence[str]) -> ClarifyAnalysis:
    """The analysis of ``analysis_fields`` with the baseline dataset's header row (label first)."""
    return ClarifyAnalysis(**{**values, "headers": tuple(headers)})


def analysis_problems(analysis: ClarifyAnalysis) -> list[str]:
    """Every problem of ``analysis`` at once, each with the field, the value and what is allowed. Without
    headers (before the baseline dataset's header row is read) the checks against them are left out."""
    a, problems = analysis, list[str]()

    def unknown(name: str, given: Mapping[str, Any], allowed: Sequence[str]) -> None:
        problems.extend(f"{name}.{key}: not a field of {name} (allowed: {', '.join(allowed)})"
                        for key in sorted(set(given) - set(allowed)))

    if a.monitor_type not in MONITORING_TYPES:
        problems.append(f"monitor type {a.monitor_type!r}: must be one of {', '.join(MONITORING_TYPES)}")
    if a.headers and (len(a.headers) < 2 or len(set(a.headers)) != len(a.headers) or not all(a.headers)):
        problems.append(f"headers {list(a.headers)!r}: the label and at least one feature, each named once")
    if a.problem_type not in PROBLEM_TYPES:
        problems.append(f"problem_type {a.problem_type!r}: must be one of {', '.join(PROBLEM_TYPES)}")
    if a.content_type not in CONTENT_TYPES:
        problems.append(f"content type {a.content_type!r}: must be one of {', '.join(CONTENT_TYPES)}")
    if a.monitor_type == BIAS:
        unknown("bias_config", a.bias_config, BIAS_CONFIG_KEYS)
        unknown("model_predicted_label_config", a.model_predicted_label_config, PREDICTED_LABEL_KEYS)
        for key in ("label_values_or_threshold", "facet_name"):
            if a.bias_config.get(key) in (None, "", []):
                problems.append(f"bias_config.{key}: missing (required by Clarify's bias analysis)")
        if not isinstance(a.bias_config.get("label_values_or_threshold", []), list):
            problems.append(f"bias_config.label_values_or_threshold {a.bias_config['label_values_or_threshold']!r}: "
                            "must be a list of label values or one threshold")
        facets = _facet_names(a.bias_config.get("facet_name"))
        values = a.bias_config.get("facet_values_or_threshold")
        if isinstance(a.bias_config.get("facet_name"), list) and values is not None and (
                not isinstance(values, list) or len(values) != len(facets)):
            problems.append(f"bias_config.facet_values_or_threshold {values!r}: one entry per facet {facets!r}")
        for facet in facets:
            if a.headers and isinstance(facet, str) and facet not in a.features:
                problems.append(f"bias_config.facet_name {facet!r}: not a feature of the headers {a.features!r}")
        group = a.bias_config.get("group_name")
        if a.headers and isinstance(group, str) and group not in a.features:
            problems.append(f"bias_config.group_name {group!r}: not a feature of the headers {a.features!r}")
        if a.problem_type != "Regression" and not (a.endpoint_attributes().keys()
                                                   & {"inference_attribute", "probability_attribute"}):
            problems.append(f"problem_type {a.problem_type!r}: needs monitor_inference_attribute, "
                            "monitor_probability_attribute or model_predicted_label_config to find the prediction")
    if a.monitor_type == EXPLAINABILITY:
        unknown("shap_config", a.shap_config, SHAP_CONFIG_KEYS)
        if "baseline" not in a.shap_config:
            problems.append("shap_config.baseline: missing (rows of feature values, or the S3 URI of such a file)")
        rows = a.shap_config.get("baseline")
        if a.headers and isinstance(rows, list) and any(
                not isinstance(row, list) or len(row) != len(a.features) for row in rows):
            problems.append(f"shap_config.baseline: every row must hold one value per feature ({len(a.features)}: "
                            f"{a.features!r})")
        method = a.shap_config.get("agg_method", "mean_abs")
        if method not in AGG_METHODS:
            problems.append(f"shap_config.agg_method {method!r}: must be one of {', '.join(AGG_METHODS)}")
    return problems


def _facet_names(facet_name: Any) -> list[Any]:
    return list(facet_name) if isinstance(facet_name, list) else [] if facet_name is None else [facet_name]


def _facets(bias_config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``facet``: one entry per facet name, with its values or threshold where given (as the SDK's BiasConfig)."""
    names, values = _facet_names(bias_config.get("facet_name")), bias_config.get("facet_values_or_threshold")
    if isinstance(bias_config.get("facet_name"), list):
        per_facet = values if isinstance(values, list) else [None] * len(names)
    else:
        per_facet = [values]
    facets = []
    for name, value in zip(names, per_facet, strict=True):
        facet: dict[str, Any] = {"name_or_index": name}
        if value is not None:
            facet["value_or_threshold"] = value
        facets.append(facet)
    return facets


def _bias_section(analysis: ClarifyAnalysis) -> dict[str, Any]:
    config = analysis.bias_config
    section: dict[str, Any] = {"label_values_or_threshold": config["label_values_or_threshold"],
                               "facet": _facets(config)}
    if config.get("group_name") is not None:
        section["group_variable"] = config["group_name"]
    return section


def _column_of(value: Any) -> Any:
    """An output attribute as Clarify's predictor takes it: a column index as a number, else the JMESPath."""
    return int(value) if isinstance(value, str) and value.isdigit() else value


def _predictor(analysis: ClarifyAnalysis, model: ShadowModel) -> dict[str, Any]:
    """Where Clarify asks for predictions and how it reads them, in the order ``endpoint_attributes`` reads
    them for the monitor, so baseline and monitor agree: the monitor's own attributes
    (``monitor_inference_attribute`` / ``_probability_``), else ``model_predicted_label_config``'s."""
    predictor: dict[str, Any] = {**model.predictor(), "content_type": analysis.content_type,
                                 "accept_type": analysis.content_type}
    predicted = analysis.model_predicted_label_config
    fallback = {"label": analysis.inference_attribute, "probability": analysis.probability_attribute}
    for key in ("label", "probability", "label_headers"):
        value = fallback.get(key) if fallback.get(key) is not None else predicted.get(key)
        if value is not None:
            predictor[key] = _column_of(value)
    return predictor


def _shap(analysis: ClarifyAnalysis) -> dict[str, Any]:
    shap = {key: analysis.shap_config[key] for key in SHAP_CONFIG_KEYS if key in analysis.shap_config}
    shap.setdefault("agg_method", "mean_abs")
    return shap


def monitoring_analysis_config(analysis: ClarifyAnalysis, model: ShadowModel) -> dict[str, Any]:
    """The monitoring job's analysis configuration (its ``ConfigUri``'s content)."""
    if analysis.monitor_type == BIAS:
        return {"version": CONFIG_VERSION, "headers": list(analysis.headers), "label": analysis.label,
                **_bias_section(analysis)}
    return {"version": CONFIG_VERSION, "headers": analysis.features, "methods": {"shap": _shap(analysis)},
            "predictor": _predictor(analysis, model)}


def baseline_analysis_config(analysis: ClarifyAnalysis, model: ShadowModel) -> dict[str, Any]:
    """The baseline job's analysis configuration: the whole dataset (label first), and what to compute."""
    config: dict[str, Any] = {"version": CONFIG_VERSION, "dataset_type": "text/csv", "headers": list(analysis.headers),
                              "label": analysis.label, "predictor": _predictor(analysis, model)}
    if analysis.monitor_type == BIAS:
        config.update(_bias_section(analysis))
        config["methods"] = {"pre_training_bias": {"methods": "all"}, "post_training_bias": {"methods": "all"}}
        threshold = analysis.endpoint_attributes().get("probability_threshold_attribute")
        if threshold is not None:
            config["probability_threshold"] = threshold
    else:
        config["methods"] = {"shap": _shap(analysis)}
    return config
