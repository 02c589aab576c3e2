"""Entity keys from V1 bodies and V2 tensors: what is accepted, and how a refusal reads."""

from types import SimpleNamespace

import numpy as np
import pytest

from salesops.serving.entities import BadRequest, keys_from_v1, keys_from_v2


def tensor(name, datatype, shape, data):
    """A V2 input as kserve decodes it from a JSON body: `data` is the JSON list."""
    from salesops import kserve_import  # noqa: F401
    from kserve import InferInput

    return InferInput(name, shape, datatype, data=data)


def binary_tensor(name, datatype, shape, values):
    """A V2 input sent with the binary tensor extension: raw bytes of the datatype."""
    from salesops import kserve_import  # noqa: F401
    from kserve import InferInput

    binary = InferInput(name, shape, datatype)
    binary.set_data_from_numpy(np.array(values, dtype=datatype.lower()).reshape(shape),
                               binary_data=True)
    return binary


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


def _v2(store, datatype="INT64", shape=None):
    shape = [len(store)] if shape is None else shape
    return SimpleNamespace(inputs=[tensor("store", datatype, shape, store),
                                   tensor("dept", "INT64", [1], [3])])


@pytest.mark.parametrize("store, datatype, message", [
    ([1.9], "INT64", "input store: 1.9 is not an integer"),
    ([1.0], "INT64", "input store: 1.0 is not an integer"),
    ([True], "INT64", "input store: true is not an integer"),
    (["1"], "INT64", 'input store: "1" is not an integer'),
    ([None], "INT32", "input store: null is not an integer"),
    ([2**63], "INT64", "input store: 9223372036854775808 is out of range for INT64"),
    ([-(2**63) - 1], "INT64", "out of range for INT64"),
    ([300], "INT8", "input store: 300 is out of range for INT8"),
    ([-1], "UINT8", "input store: -1 is out of range for UINT8"),
    ([70_000], "UINT16", "70000 is out of range for UINT16"),
    ([2**64 - 1], "UINT64", "18446744073709551615 is out of range for an entity key"),
])
def test_v2_json_data_is_strictly_typed_and_range_checked(store, datatype, message):
    """numpy would truncate 1.9, read true and "1" as 1 (store 1's forecast) and overflow on
    the rest (a 500); UINT64 2**64-1 silently became -1."""
    with pytest.raises(BadRequest) as refused:
        keys_from_v2(_v2(store, datatype), max_batch=10)
    assert message in str(refused.value)


@pytest.mark.parametrize("datatype, value", [("INT8", -128), ("INT8", 127), ("UINT8", 255),
                                             ("UINT64", 2**63 - 1), ("INT64", -(2**63))])
def test_v2_json_data_at_the_edges_of_its_type_is_accepted(datatype, value):
    stores, _ = keys_from_v2(_v2([value], datatype), max_batch=10)
    assert stores.tolist() == [value] and stores.dtype == np.int64


def test_v2_shape_must_hold_the_data():
    with pytest.raises(BadRequest, match=r"shape \[-1\] has a negative dimension"):
        keys_from_v2(_v2([1], shape=[-1]), max_batch=10)
    with pytest.raises(BadRequest, match="shape \\[3\\] holds 3 values but data has 1"):
        keys_from_v2(_v2([1], shape=[3]), max_batch=10)
    nested = SimpleNamespace(inputs=[tensor("store", "INT64", [2, 1], [[1], [2]]),
                                     tensor("dept", "INT64", [2, 1], [[3], [4]])])
    assert keys_from_v2(nested, max_batch=10)[0].tolist() == [1, 2]


def test_v2_binary_data_is_typed_by_its_bytes_and_fits_int64():
    ok = SimpleNamespace(inputs=[binary_tensor("store", "UINT8", [2], [1, 255]),
                                 binary_tensor("dept", "INT16", [2], [3, 4])])
    assert keys_from_v2(ok, max_batch=10)[0].tolist() == [1, 255]
    huge = SimpleNamespace(inputs=[binary_tensor("store", "UINT64", [1], [2**64 - 1]),
                                   binary_tensor("dept", "INT64", [1], [3])])
    with pytest.raises(BadRequest, match="input store: 18446744073709551615 is out of range"):
        keys_from_v2(huge, max_batch=10)
    short = SimpleNamespace(inputs=[binary_tensor("store", "INT64", [2], [1, 2]),
                                    binary_tensor("dept", "INT64", [1], [3])])
    short.inputs[0].shape = [3]
    with pytest.raises(BadRequest, match="input store: data does not match"):
        keys_from_v2(short, max_batch=10)


@pytest.mark.parametrize("value, message", [
    (2**63, "instances[0].store: input should be less than or equal to 9223372036854775807"),
    (-(2**63) - 1, "instances[0].store: input should be greater than or equal to"),
    (1.0, "instances[0].store: input should be a valid integer"),
])
def test_v1_keys_are_int64(value, message):
    """2**63 passed StrictInt and overflowed in numpy: a 500."""
    with pytest.raises(BadRequest) as refused:
        keys_from_v1({"instances": [{"store": value, "dept": 1}]}, max_batch=10)
    assert message in str(refused.value)
