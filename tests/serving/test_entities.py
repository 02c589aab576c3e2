"""Entity keys from V1 bodies and V2 tensors: what is accepted, and how a refusal reads."""

from types import SimpleNamespace

import numpy as np
import pytest

from salesops.serving.entities import BadRequest, keys_from_v1, keys_from_v2


def tensor(name, datatype, shape, data):
    """The part of kserve's InferInput that the parser reads."""
    return SimpleNamespace(name=name, datatype=datatype, shape=shape,
                           as_numpy=lambda: np.array(data, dtype=np.int64).reshape(shape))


def test_v1_keys_in_request_order():
    stores, depts = keys_from_v1({"instances": [{"store": 2, "dept": 5}, {"store": 1, "dept": 3}]},
                                 max_batch=10)
    assert stores.tolist() == [2, 1] and depts.tolist() == [5, 3]
    assert stores.dtype == np.int64


def test_v1_body_sent_as_bytes_is_parsed():
    stores, _ = keys_from_v1(b'{"instances": [{"store": 4, "dept": 1}]}', max_batch=10)
    assert stores.tolist() == [4]


@pytest.mark.parametrize("payload, message", [
    ({"instances": [{"dept": 1}]}, "instances[0].store: field required"),
    ({"instances": [{"store": 1, "dept": "x"}]}, "instances[0].dept: input should be a valid integer"),
    ({"instances": [{"store": 1, "dept": 2}, {"store": True, "dept": 2}]}, "instances[1].store"),
    ({"instances": {"store": 1, "dept": 2}}, "instances: input should be a valid list"),
    ({"instances": [{"store": 1, "dept": 2}] * 3}, "too many entities: 3 in one request, the limit is 2"),
    (b"{oops", "not JSON"),
    ("[]", "expected a JSON object"),
])
def test_v1_refusals_name_the_problem(payload, message):
    with pytest.raises(BadRequest, match=None) as refused:
        keys_from_v1(payload, max_batch=2)
    assert message in str(refused.value)


def test_v2_accepts_column_vectors():
    request = SimpleNamespace(inputs=[tensor("dept", "INT32", [2, 1], [3, 4]),
                                      tensor("store", "INT64", [2, 1], [1, 2])])
    stores, depts = keys_from_v2(request, max_batch=10)
    assert stores.tolist() == [1, 2] and depts.tolist() == [3, 4]


@pytest.mark.parametrize("inputs, message", [
    ([tensor("store", "INT64", [1], [1])], "missing input(s) dept"),
    ([tensor("store", "INT64", [1], [1]), tensor("dept", "INT64", [1], [1]),
      tensor("week", "INT64", [1], [1])], "unexpected input(s) week"),
    ([tensor("store", "BYTES", [1], [1]), tensor("dept", "INT64", [1], [1])], "datatype BYTES"),
    ([tensor("store", "INT64", [1, 2], [[1, 2]]), tensor("dept", "INT64", [1, 2], [[1, 2]])],
     "shape [1, 2] should be [n] or [n, 1]"),
    ([tensor("store", "INT64", [3], [1, 2, 3]), tensor("dept", "INT64", [3], [1, 2, 3])],
     "too many entities"),
])
def test_v2_refusals_name_the_problem(inputs, message):
    with pytest.raises(BadRequest) as refused:
        keys_from_v2(SimpleNamespace(inputs=inputs), max_batch=2)
    assert message in str(refused.value)
