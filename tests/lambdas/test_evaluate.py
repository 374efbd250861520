import pytest

from evaluate import handler as evaluate

BUCKET = "models"


@pytest.fixture
def s3(boto):
    client = boto("s3")
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return client


def put(s3, key, text):
    s3.put_object(Bucket=BUCKET, Key=key, Body=text.encode())


def test_accuracy_over_every_object_under_the_prefix(s3):
    put(s3, "transform/run-1/test-1.csv.out", "setosa,setosa\nversicolor,versicolor\nvirginica,versicolor\n")
    put(s3, "transform/run-1/test-2.csv.out", "setosa,setosa\r\n\r\nvirginica,virginica\n")  # CRLF and a blank line
    put(s3, "transform/run-10/other.out", "setosa,virginica\n")  # a sibling prefix, not read
    result = evaluate.handler({"transformOutput": f"s3://{BUCKET}/transform/run-1/", "minAccuracy": 0.75}, None)

    assert result["records"] == 5
    assert result["accuracy"] == pytest.approx(4 / 5)
    assert result["passed"] is True
    assert result["transformOutput"] == f"s3://{BUCKET}/transform/run-1/"
    assert result["perClass"] == {
        "setosa": {"actual": 2, "predicted": 2, "correct": 2, "precision": 1.0, "recall": 1.0},
        "versicolor": {"actual": 1, "predicted": 2, "correct": 1, "precision": 0.5, "recall": 1.0},
        "virginica": {"actual": 2, "predicted": 1, "correct": 1, "precision": 1.0, "recall": 0.5},
    }
    # rows: true class, columns: predicted class
    assert result["confusionMatrix"] == {"labels": ["setosa", "versicolor", "virginica"],
                                         "counts": [[2, 0, 0], [0, 1, 0], [0, 1, 1]]}


def test_below_threshold_does_not_pass(s3):
    put(s3, "out/a.out", "0,0\n1,2\n2,2\n")
    result = evaluate.handler({"transformOutput": f"s3://{BUCKET}/out/", "minAccuracy": 0.9}, None)
    assert result["accuracy"] == pytest.approx(2 / 3) and result["passed"] is False


def test_numeric_labels_compare_as_numbers_and_quotes_are_csv(s3):
    put(s3, "num/a.out", '1,1.0\n2,"2"\n"0",1\n')
    result = evaluate.handler({"transformOutput": f"s3://{BUCKET}/num/", "minAccuracy": 0.5}, None)
    assert result["records"] == 3 and result["accuracy"] == pytest.approx(2 / 3)


def test_many_objects_are_paginated(s3, monkeypatch, boto):
    monkeypatch.setattr(evaluate, "LIST_PAGE_SIZE", 2)
    listed = []
    from common import aws

    aws.client("s3").meta.events.register("provide-client-params.s3.ListObjectsV2", lambda params, **_: listed.append(dict(params)))
    for index in range(7):  # four ListObjectsV2 pages of two
        put(s3, f"many/part-{index:04d}.out", "a,a\n" if index % 3 else "a,b\n")
    result = evaluate.handler({"transformOutput": f"s3://{BUCKET}/many/", "minAccuracy": 0.5}, None)
    assert len(listed) == 4
    assert result["records"] == 7
    assert result["accuracy"] == pytest.approx(4 / 7)


def test_no_output_is_a_named_error(s3):
    with pytest.raises(evaluate.NoTransformOutput, match="no objects under s3://models/empty/"):
        evaluate.handler({"transformOutput": f"s3://{BUCKET}/empty/", "minAccuracy": 0.5}, None)


def test_objects_without_records_is_a_named_error(s3):
    put(s3, "blank/a.out", "\n\n")
    with pytest.raises(evaluate.NoTransformOutput, match="1 object.*but no records"):
        evaluate.handler({"transformOutput": f"s3://{BUCKET}/blank/", "minAccuracy": 0.5}, None)


@pytest.mark.parametrize(
    "content, fields",
    [
        ("setosa,setosa\nsetosa,5.1,3.5,setosa\n", "4 field(s)"),  # the join kept every column
        ("setosa\n", "1 field(s)"),
        ("setosa,\n", "2 field(s)"),
    ],
)
def test_malformed_lines_are_a_named_error(s3, content, fields):
    put(s3, "bad/a.out", content)
    with pytest.raises(evaluate.MalformedTransformOutput) as raised:
        evaluate.handler({"transformOutput": f"s3://{BUCKET}/bad/", "minAccuracy": 0.5}, None)
    assert "s3://models/bad/a.out line" in str(raised.value) and fields in str(raised.value)


def test_many_malformed_lines_are_summarised(s3):
    put(s3, "bad/a.out", "x\n" * 10)
    with pytest.raises(evaluate.MalformedTransformOutput, match=r"10 malformed line\(s\).*and 7 more"):
        evaluate.handler({"transformOutput": f"s3://{BUCKET}/bad/", "minAccuracy": 0.5}, None)


def test_binary_output_is_a_named_error(s3):
    s3.put_object(Bucket=BUCKET, Key="bin/a.out", Body=b"\xff\xfe\x00bad,bad\n")
    with pytest.raises(evaluate.MalformedTransformOutput, match="not UTF-8"):
        evaluate.handler({"transformOutput": f"s3://{BUCKET}/bin/", "minAccuracy": 0.5}, None)


@pytest.mark.parametrize(
    "event, phrase",
    [
        ({"minAccuracy": 0.9}, "transformOutput must be an s3://"),
        ({"transformOutput": "https://x/y", "minAccuracy": 0.9}, "transformOutput must be an s3://"),
        ({"transformOutput": "s3:///nobucket", "minAccuracy": 0.9}, "transformOutput must be an s3://"),
        ({"transformOutput": "s3://b/p/", "minAccuracy": 1.5}, "between 0 and 1"),
        ({"transformOutput": "s3://b/p/", "minAccuracy": "0.9"}, "between 0 and 1"),
        ({"transformOutput": "s3://b/p/", "minAccuracy": True}, "between 0 and 1"),
        ("s3://b/p/", "must be an object"),
    ],
)
def test_invalid_request_is_a_named_error(event, phrase):
    with pytest.raises(evaluate.InvalidEvaluationRequest, match=phrase):
        evaluate.handler(event, None)
