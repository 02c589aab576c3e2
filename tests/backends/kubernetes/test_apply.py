"""`apply.contains`: whether what we would apply is already true of the server's object.
The server adds defaults, status and metadata; those are no difference. Anything we say that
the server does not (another value, a missing key, a list of another length) is one."""

import pytest

from salesops.backends.kubernetes.apply import contains

DESIRED = {"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "mlflow", "namespace": "salesops", "labels": {"app": "mlflow"}},
           "spec": {"replicas": 1, "template": {"spec": {"containers": [
               {"name": "mlflow", "image": "mlflow:2", "args": ["server", "--port", "5000"],
                "resources": {"requests": {"cpu": "1", "memory": "2Gi"}}}]}}}}


def server_copy(**changes) -> dict:
    """DESIRED as a server returns it: with uid, status, defaults; then `changes` applied to
    the first container."""
    import copy

    obj = copy.deepcopy(DESIRED)
    obj["metadata"].update(uid="u-1", resourceVersion="7", creationTimestamp="2026-01-01")
    obj["status"] = {"readyReplicas": 1}
    obj["spec"]["strategy"] = {"type": "RollingUpdate"}
    container = obj["spec"]["template"]["spec"]["containers"][0]
    container.update(imagePullPolicy="IfNotPresent", terminationMessagePath="/dev/term")
    container.update(changes)
    return obj


def test_the_servers_extra_keys_are_no_difference():
    assert contains(server_copy(), DESIRED)


def test_an_object_contains_itself():
    assert contains(DESIRED, DESIRED)


@pytest.mark.parametrize("changes", [
    {"image": "mlflow:3"},
    {"args": ["server", "--port", "5001"]},
    {"args": ["server", "--port"]},                     # shorter
    {"args": ["server", "--port", "5000", "--extra"]},  # longer
    {"resources": {"requests": {"cpu": "1"}}},          # a nested key missing
    {"resources": {"requests": {"cpu": "2", "memory": "2Gi"}}},
    {"resources": None},
])
def test_a_value_we_set_differently_is_a_difference(changes):
    assert not contains(server_copy(**changes), DESIRED)


def test_a_missing_key_is_a_difference():
    actual = server_copy()
    del actual["metadata"]["labels"]
    assert not contains(actual, DESIRED)


@pytest.mark.parametrize(("actual", "desired", "expected"), [
    ({"a": 1, "b": 2}, {"a": 1}, True),
    ({"a": 1}, {"a": 1, "b": 2}, False),
    ({}, {}, True),
    ({"a": 1}, {}, True),                   # we say nothing: nothing to differ
    ([], [], True),
    ([1, 2], [1, 2], True),
    ([1, 2], [2, 1], False),                # order counts
    ([1, 2, 3], [1, 2], False),
    ([1], [1, 2], False),
    ([{"a": 1, "x": 0}], [{"a": 1}], True),  # extra keys inside list items, too
    ([{"a": 1}], [{"a": 2}], False),
    ({"a": {"b": {"c": [1, {"d": 2, "e": 3}]}}}, {"a": {"b": {"c": [1, {"d": 2}]}}}, True),
    ({"a": {"b": {"c": [1, {"d": 3}]}}}, {"a": {"b": {"c": [1, {"d": 2}]}}}, False),
])
def test_dicts_and_lists(actual, desired, expected):
    assert contains(actual, desired) is expected


@pytest.mark.parametrize(("actual", "desired"), [
    ("1", 1), (1, "1"),                  # quantities: the server may answer either
    ("5000", 5000), (2, 2.0), ("2Gi", "2Gi"), (True, True),
])
def test_scalars_equal_or_written_alike_are_the_same(actual, desired):
    assert contains(actual, desired)


@pytest.mark.parametrize(("actual", "desired"), [
    ("1", 2), ("2Gi", "2G"), ("1000m", "1"),  # equal quantities written apart do differ
    (1, 2), ("a", "b"), (False, True),
])
def test_other_scalars_differ(actual, desired):
    assert not contains(actual, desired)


@pytest.mark.parametrize(("actual", "desired", "expected"), [
    (None, None, True),
    ({"a": None}, {"a": None}, True),
    ({}, {"a": None}, False),            # the key must be there, even to say None
    ({"a": 1}, {"a": None}, False),
    ({"a": None}, {"a": 1}, False),
    (None, {"a": 1}, False),
    (None, [1], False),
    ({"a": [1]}, {"a": {"0": 1}}, False),  # a list is not a dict
    ({"a": {"0": 1}}, {"a": [1]}, False),
])
def test_none_and_types(actual, desired, expected):
    assert contains(actual, desired) is expected
