"""In-process checks of the pieces behind `train` and `serve`: hyperparameters, payload parsing, the predictor."""

from __future__ import annotations

import numpy as np
import pytest

from mlcontainer import codec, hyperparameters
from mlcontainer.paths import Paths
from mlcontainer.serve import ConfigError, ServeConfig

# --- hyperparameters -----------------------------------------------------------------------------------


def test_hyperparameter_defaults():
    assert hyperparameters.parse({}) == hyperparameters.Hyperparameters(
        max_depth=None, min_samples_leaf=1, criterion="gini", random_state=0)


@pytest.mark.parametrize("raw,expected", [
    ({"max_depth": "5"}, {"max_depth": 5}),
    ({"max_depth": " 5 "}, {"max_depth": 5}),
    ({"max_depth": "5.0"}, {"max_depth": 5}),
    ({"max_depth": "None"}, {"max_depth": None}),
    ({"max_depth": 3}, {"max_depth": 3}),
    ({"criterion": "Entropy"}, {"criterion": "entropy"}),
    ({"random_state": "none"}, {"random_state": None}),
    ({"min_samples_leaf": "4"}, {"min_samples_leaf": 4}),
    ({"sagemaker_program": "x", "_tuning_objective_metric": "validation:accuracy"}, {}),
])
def test_hyperparameters_arrive_as_strings(raw, expected):
    parsed = hyperparameters.parse(raw).as_dict()
    for key, value in expected.items():
        assert parsed[key] == value


@pytest.mark.parametrize("raw,phrase", [
    ({"max_depth": True}, "not a boolean"),
    ({"min_samples_leaf": "None"}, "needs a value"),
    ({"random_state": str(2**32)}, "between 0 and 4294967295"),
    ({"a": "1", "b": "2"}, "unknown hyperparameters a, b"),
    (["max_depth"], "must be a JSON object"),
])
def test_bad_hyperparameters(raw, phrase):
    with pytest.raises(hyperparameters.HyperparameterError, match=phrase):
        hyperparameters.parse(raw)


# --- paths ---------------------------------------------------------------------------------------------


def test_paths_default_to_opt_ml_and_follow_the_environment():
    defaults = Paths.from_env({})
    assert str(defaults.model_dir) == "/opt/ml/model"
    assert str(defaults.training_dir) == "/opt/ml/input/data/training"
    assert str(defaults.validation_dir) == "/opt/ml/input/data/validation"
    assert str(defaults.hyperparameters_file) == "/opt/ml/input/config/hyperparameters.json"
    assert str(defaults.failure_file) == "/opt/ml/output/failure"
    assert str(defaults.output_data_dir) == "/opt/ml/output/data"
    moved = Paths.from_env({"SM_MODEL_DIR": "/m", "SM_OUTPUT_DIR": "/o", "SM_CHANNEL_TRAINING": "/t",
                            "SM_CHANNEL_VALIDATION": "/v", "SM_INPUT_CONFIG_DIR": "/c"})
    assert (str(moved.model_dir), str(moved.training_dir), str(moved.validation_dir)) == ("/m", "/t", "/v")
    assert str(moved.failure_file) == "/o/failure" and str(moved.output_data_dir) == "/o/data"
    assert str(moved.hyperparameters_file) == "/c/hyperparameters.json"
    assert str(Paths.from_env({"SM_OUTPUT_DATA_DIR": "/d"}).output_data_dir) == "/d"


# --- serve configuration -------------------------------------------------------------------------------


def test_serve_config_from_environment():
    config = ServeConfig.from_env({"SAGEMAKER_BIND_TO_PORT": "9000", "MODEL_SERVER_WORKERS": "3",
                                   "MODEL_SERVER_TIMEOUT": "7", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "10"})
    options = config.gunicorn_options()
    assert options["bind"] == ["0.0.0.0:9000"]
    assert options["workers"] == 3
    assert options["timeout"] == 7 and options["graceful_timeout"] == 25
    assert options["worker_class"] == "asgi" and options["preload_app"] is False
    assert options["keepalive"] == 20 and options["asgi_lifespan"] == "off"
    assert config.max_body_bytes == 10 * 1024 * 1024


def test_serve_config_defaults():
    config = ServeConfig.from_env({})
    assert (config.port, config.timeout, config.max_body_bytes) == (8080, 60, 6 * 1024 * 1024)
    assert (config.graceful_timeout, config.keepalive) == (25, 20)  # both under SageMaker's 30 s SIGKILL
    assert config.workers >= 1


@pytest.mark.parametrize("env,phrase", [
    ({"MODEL_SERVER_WORKERS": "many"}, "MODEL_SERVER_WORKERS='many' is not an integer"),
    ({"MODEL_SERVER_WORKERS": "0"}, "must be at least 1"),
    ({"MODEL_SERVER_TIMEOUT": "-5"}, "must be at least 1"),
    ({"MODEL_SERVER_LOG_LEVEL": "loud"}, "is not one of"),
])
def test_serve_config_rejects_bad_values(env, phrase):
    with pytest.raises(ConfigError, match=phrase):
        ServeConfig.from_env(env)


# --- request parsing -----------------------------------------------------------------------------------


def test_csv_records_parse_to_float32():
    records = codec.parse_csv(b"5.1,3.5,1.4,0.2\r\n6.5, 3 ,5.8,2.2\n", 4)
    assert records.dtype == np.float32 and records.shape == (2, 4)
    assert records[1].tolist() == pytest.approx([6.5, 3.0, 5.8, 2.2])


def test_csv_with_byte_order_mark():
    assert codec.parse_csv(b"\xef\xbb\xbf5.1,3.5,1.4,0.2", 4).shape == (1, 4)


@pytest.mark.parametrize("body,phrase", [
    (b"", "body is empty"),
    (b" \n\n", "body is empty"),
    (b"1,2,3\n", "CSV line 1 has 3 values, the model expects 4"),
    (b"1,2,3,4\n1,2,3,4,5\n", "CSV line 2 has 5 values"),
    (b"setosa,1,2,3,4\n", "without the label"),
    (b"1,2,x,4\n", "non-numeric value: CSV line 1, column 3 is 'x'"),
    (b"1,2,3,4\n\n1,2,3,4\n", "CSV line 2 is empty"),
    (b"1,2,3,nan\n", "finite numbers"),
    (b"1,2,3,1e39\n", "float32 range"),
    (b'"1",2,3,4\n', "non-numeric value"),
])
def test_bad_csv(body, phrase):
    with pytest.raises(codec.BadRequest, match=phrase) as caught:
        codec.parse_csv(body, 4)
    assert caught.value.status == 400


@pytest.mark.parametrize("body,rows", [
    (b'{"instances": [[5.1, 3.5, 1.4, 0.2], [6.5, 3, 5.8, 2.2]]}', 2),
    (b"[[5.1, 3.5, 1.4, 0.2]]", 1),
    (b"[5.1, 3.5, 1.4, 0.2]", 1),
])
def test_json_shapes(body, rows):
    assert codec.parse_json(body, 4).shape == (rows, 4)


@pytest.mark.parametrize("body,phrase", [
    (b"", "body is empty"),
    (b"{nope", "not valid JSON"),
    (b'{"data": [1, 2, 3, 4]}', 'no "instances" key'),
    (b'{"instances": []}', "non-empty list"),
    (b'{"instances": [[1, 2, 3]]}', "record 1 has 3 values"),
    (b'{"instances": [[1, 2, 3, 4], [1, "2", 3, 4]]}', "non-numeric value: record 2, column 2"),
    (b'{"instances": [[1, 2, 3, true]]}', "non-numeric value"),
    (b'{"instances": [1, [1, 2, 3, 4]]}', "record 1 is a number, not a list of 4 numbers"),
    (b'{"instances": [{"a": 1}]}', "record 1 is an object"),
    (b'{"instances": [[1, 2, 3, 1e39]]}', "float32 range"),
    (b'[[1, 2, 3, NaN]]', "finite numbers"),
])
def test_bad_json(body, phrase):
    with pytest.raises(codec.BadRequest, match=phrase):
        codec.parse_json(body, 4)


@pytest.mark.parametrize("accept,request_type,expected", [
    (None, codec.CSV, codec.CSV),
    (None, codec.JSON, codec.JSON),
    ("*/*", codec.JSON, codec.JSON),
    ("application/json", codec.CSV, codec.JSON),
    ("text/csv", codec.JSON, codec.CSV),
    ("application/json;q=0.5, text/csv", codec.JSON, codec.CSV),
    ("text/html, application/json", codec.CSV, codec.JSON),
    ("text/*", codec.JSON, codec.CSV),
    ("application/xml", codec.CSV, None),
    ("text/csv;q=0", codec.CSV, None),
])
def test_response_type_follows_accept(accept, request_type, expected):
    assert codec.response_type(accept, request_type) == expected


def test_media_type_ignores_parameters():
    assert codec.media_type("Text/CSV; charset=utf-8") == "text/csv"
    assert codec.media_type(None) == ""


# --- the predictor -------------------------------------------------------------------------------------


def test_predictor_matches_scikit_learn_predict():
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    from mlcontainer.model import Predictor

    iris = load_iris()
    labels = iris.target_names[iris.target]
    estimator = DecisionTreeClassifier(random_state=0).fit(iris.data, labels)
    predictor = Predictor.from_estimator(estimator)
    rng = np.random.default_rng(0)
    thresholds = estimator.tree_.threshold[estimator.tree_.feature >= 0]
    probes = np.vstack([
        iris.data,
        rng.uniform(0, 8, size=(5000, 4)),
        # values on and right next to the split thresholds, where float32 rounding decides the branch
        np.repeat(np.concatenate([thresholds, np.nextafter(thresholds, 9), np.nextafter(thresholds, -9)]),
                  4).reshape(-1, 4),
    ])
    assert predictor.predict(probes) == estimator.predict(probes).tolist()


def test_model_round_trip(tmp_path):
    from sklearn.tree import DecisionTreeClassifier

    from mlcontainer import model

    estimator = DecisionTreeClassifier().fit([[0.0], [1.0]], ["a", "b"])
    model.save(tmp_path, estimator, {})
    loaded = model.load(tmp_path)
    assert loaded.labels == ("a", "b") and loaded.n_features == 1
    assert loaded.predict(np.array([[0.1], [0.9]])) == ["a", "b"]


def test_model_load_explains_what_is_missing(tmp_path):
    from mlcontainer import model

    with pytest.raises(model.ModelLoadError, match="no model in .*run train first"):
        model.load(tmp_path)
    (tmp_path / "model.json").write_text('{"format_version": 1, "scikit_learn_version": "0.1"}')
    (tmp_path / "model.joblib").write_bytes(b"junk")
    with pytest.raises(model.ModelLoadError, match="trained with scikit-learn 0.1"):
        model.load(tmp_path)
