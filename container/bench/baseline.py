"""The naive baseline the benchmark compares against: the classic scikit_bring_your_own predictor.

Flask under sync gunicorn, the request body parsed with `pandas.read_csv` on every call, the model's
own `predict` on the DataFrame, and the answer written through a pandas DataFrame, as the classic
sample's `predictor.py` does (including its per-request print). It loads the same model file that
`train` wrote. Benchmark only: flask and pandas are not in the image.
"""

import io
import os

import flask
import joblib
import pandas as pd

model_path = os.path.join(os.environ.get("SM_MODEL_DIR", "/opt/ml/model"), "model.joblib")


class ScoringService:
    model = None  # Where we keep the model when it's loaded

    @classmethod
    def get_model(cls):
        """Get the model object for this instance, loading it if it's not already loaded."""
        if cls.model is None:
            cls.model = joblib.load(model_path)
        return cls.model

    @classmethod
    def predict(cls, input):
        clf = cls.get_model()
        return clf.predict(input)


app = flask.Flask(__name__)


@app.route("/ping", methods=["GET"])
def ping():
    health = ScoringService.get_model() is not None
    status = 200 if health else 404
    return flask.Response(response="\n", status=status, mimetype="application/json")


@app.route("/invocations", methods=["POST"])
def transformation():
    data = None
    if flask.request.content_type == "text/csv":
        data = flask.request.data.decode("utf-8")
        s = io.StringIO(data)
        data = pd.read_csv(s, header=None)
    else:
        return flask.Response(response="This predictor only supports CSV data", status=415, mimetype="text/plain")

    print(f"Invoked with {data.shape[0]} records")

    predictions = ScoringService.predict(data)

    out = io.StringIO()
    pd.DataFrame({"results": predictions}).to_csv(out, header=False, index=False)
    result = out.getvalue()

    return flask.Response(response=result, status=200, mimetype="text/csv")
