"""What "ready" means for each kind, read from an object's status: every function of
`salesops.backends.kubernetes.readiness`, on objects as a server returns them (no status
yet, Unknown, False with a reason or only a message)."""

import pytest

from salesops.backends.kubernetes.readiness import (
    CANNOT_START,
    condition,
    is_true,
    isvc_ready,
    pod_waiting,
    trainjob_state,
    workload_state,
)


def with_conditions(*conditions: dict, **status) -> dict:
    return {"status": {"conditions": list(conditions), **status}}


READY = {"type": "Ready", "status": "True"}


# -- condition / is_true --------------------------------------------------------------------
@pytest.mark.parametrize("obj", [{}, {"status": None}, {"status": {}},
                                 {"status": {"conditions": None}}, with_conditions()])
def test_no_status_has_no_condition(obj):
    assert condition(obj, "Ready") is None
    assert is_true(obj, "Ready") is False


def test_condition_is_the_first_of_its_type():
    first = {"type": "Ready", "status": "False", "reason": "first"}
    obj = with_conditions({"type": "Other", "status": "True"}, first,
                          {"type": "Ready", "status": "True"})
    assert condition(obj, "Ready") is first
    assert condition(obj, "Missing") is None


@pytest.mark.parametrize(("status", "true"), [("True", True), ("False", False),
                                              ("Unknown", False), (None, False),
                                              ("true", False)])
def test_is_true_only_for_the_string_True(status, true):
    assert is_true(with_conditions({"type": "Ready", "status": status}), "Ready") is true


# -- workload_state -------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet"])
@pytest.mark.parametrize(("spec", "status", "expected"), [
    ({"replicas": 2}, {"readyReplicas": 2}, (True, "2/2 ready")),
    ({"replicas": 2}, {"readyReplicas": 1}, (False, "1/2 ready")),
    ({"replicas": 1}, {}, (False, "0/1 ready")),
    ({}, None, (False, "0/1 ready")),          # no spec.replicas: the default, 1
    ({}, {"readyReplicas": 1}, (True, "1/1 ready")),
    ({"replicas": 0}, {}, (True, "0/0 ready")),
    ({"replicas": 1}, {"readyReplicas": None}, (False, "0/1 ready")),
])
def test_replicated_workloads_are_ready_when_enough_replicas_are(kind, spec, status, expected):
    assert workload_state({"kind": kind, "spec": spec, "status": status}) == expected


def test_a_workload_without_spec_wants_one_replica():
    assert workload_state({"kind": "Deployment"}) == (False, "0/1 ready")


@pytest.mark.parametrize(("status", "expected"), [
    ({"phase": "Bound"}, (True, "Bound")),
    ({"phase": "Pending"}, (True, "Pending")),  # WaitForFirstConsumer: binds later
    ({}, (True, "Pending")),
    (None, (True, "Pending")),
])
def test_a_claim_never_blocks(status, expected):
    assert workload_state({"kind": "PersistentVolumeClaim", "status": status}) == expected


@pytest.mark.parametrize(("status", "expected"), [
    ({"phase": "Active"}, (True, "Active")),
    ({"phase": "Terminating"}, (False, "Terminating")),
    ({}, (True, "Active")),
    (None, (True, "Active")),
])
def test_a_namespace_is_ready_while_active(status, expected):
    assert workload_state({"kind": "Namespace", "status": status}) == expected


@pytest.mark.parametrize("obj", [{"kind": "Service"}, {"kind": "Secret", "status": None},
                                 {"kind": "ConfigMap", "status": {"phase": "Failed"}}, {}])
def test_other_kinds_are_ready_once_they_exist(obj):
    assert workload_state(obj) == (True, "")


# -- trainjob_state -------------------------------------------------------------------------
@pytest.mark.parametrize(("obj", "state"), [
    ({}, "Created"),
    ({"status": None}, "Created"),
    ({"status": {}}, "Created"),
    (with_conditions(), "Created"),
    (with_conditions(jobsStatus=[]), "Created"),
    (with_conditions(jobsStatus=[{"name": "node", "active": 2}]), "Running"),
    (with_conditions({"type": "Complete", "status": "True"}), "Complete"),
    (with_conditions({"type": "Failed", "status": "True", "reason": "BackoffLimit"}), "Failed"),
    (with_conditions({"type": "Suspended", "status": "True"}), "Suspended"),
    (with_conditions({"type": "Complete", "status": "False"}, jobsStatus=[{"active": 1}]),
     "Running"),
    (with_conditions({"type": "Failed", "status": "Unknown"}), "Created"),
    # both true (a server mid-transition): Complete wins, then Failed, then Suspended
    (with_conditions({"type": "Failed", "status": "True"},
                     {"type": "Complete", "status": "True"}), "Complete"),
    (with_conditions({"type": "Suspended", "status": "True"},
                     {"type": "Failed", "status": "True"}), "Failed"),
])
def test_trainjob_state(obj, state):
    assert trainjob_state(obj) == state


# -- isvc_ready -----------------------------------------------------------------------------
def test_isvc_ready_when_its_ready_condition_is_true():
    obj = with_conditions({"type": "PredictorReady", "status": "False", "reason": "x"}, READY)
    assert isvc_ready(obj) == (True, "Ready")


@pytest.mark.parametrize("obj", [{}, {"status": None}, {"status": {}}, with_conditions()])
def test_isvc_without_status_says_so(obj):
    assert isvc_ready(obj) == (False, "no status yet")


def test_isvc_names_every_condition_that_is_not_true_with_its_reason():
    obj = with_conditions(
        {"type": "IngressReady", "status": "True"},
        {"type": "PredictorReady", "status": "False", "reason": "RevisionMissing",
         "message": "Revision not ready"},
        {"type": "Ready", "status": "Unknown", "message": "waiting for the predictor"})
    assert isvc_ready(obj) == (
        False, "PredictorReady: RevisionMissing; Ready: waiting for the predictor")


def test_isvc_falls_back_from_reason_to_message_to_status():
    obj = with_conditions({"type": "A", "status": "False", "reason": "", "message": "m"},
                          {"type": "B", "status": "Unknown"},
                          {"type": "C", "status": "False", "reason": None, "message": None})
    assert isvc_ready(obj) == (False, "A: m; B: Unknown; C: False")


def test_isvc_with_only_true_conditions_but_no_ready_is_not_ready():
    obj = with_conditions({"type": "IngressReady", "status": "True"})
    assert isvc_ready(obj) == (False, "no status yet")


# -- pod_waiting ----------------------------------------------------------------------------
def waiting(name: str, reason: str | None, message: str | None = None) -> dict:
    return {"name": name, "state": {"waiting": {"reason": reason, "message": message}}}


UNSCHEDULED = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
               "message": "0/3 nodes are available"}


@pytest.mark.parametrize("pod", [None, {}, {"status": None}, {"status": {}},
                                 {"status": {"phase": "Running", "containerStatuses": [
                                     {"name": "node", "state": {"running": {}}}]}},
                                 {"status": {"containerStatuses": [waiting("node", None)]}},
                                 {"status": {"conditions": [{"type": "PodScheduled",
                                                             "status": "True"}]}}])
def test_a_pod_without_a_waiting_reason_does_not_wait(pod):
    assert pod_waiting(pod) is None


def test_pod_waiting_names_the_container_its_reason_and_message():
    pod = {"status": {"containerStatuses": [waiting("build", "ErrImagePull", "not found")]}}
    assert pod_waiting(pod) == ("build", "ErrImagePull", "not found")
    pod = {"status": {"containerStatuses": [waiting("build", "ContainerCreating")]}}
    assert pod_waiting(pod) == ("build", "ContainerCreating", "")


def test_pod_waiting_puts_init_containers_first():
    pod = {"status": {"containerStatuses": [waiting("build", "PodInitializing")],
                      "initContainerStatuses": [waiting("workspace", "ContainerCreating")]}}
    assert pod_waiting(pod) == ("workspace", "ContainerCreating", "")


def test_a_container_that_cannot_start_comes_before_one_on_its_way():
    pod = {"status": {"initContainerStatuses": [waiting("workspace", "PodInitializing")],
                      "containerStatuses": [waiting("a", "ContainerCreating"),
                                            waiting("b", "CreateContainerConfigError", "m")]}}
    assert pod_waiting(pod) == ("b", "CreateContainerConfigError", "m")


def test_an_unscheduled_pod_waits_for_its_scheduling_condition():
    assert pod_waiting({"status": {"phase": "Pending", "conditions": [UNSCHEDULED]}}) == (
        "", "Unschedulable", "0/3 nodes are available")
    bare = {"type": "PodScheduled", "status": "False"}
    assert pod_waiting({"status": {"conditions": [bare]}}) == ("", "Unschedulable", "")


@pytest.mark.parametrize(("reason", "stuck"), [
    ("ImagePullBackOff", True), ("InvalidImageName", True), ("ErrImageNeverPull", True),
    ("CreateContainerConfigError", True), ("CreateContainerError", True),
    ("ErrImagePull", False),  # the first try: the kubelet retries, then backs off
    ("ContainerCreating", False), ("PodInitializing", False), ("Unschedulable", False)])
def test_which_reasons_mean_the_container_cannot_start(reason, stuck):
    assert (reason in CANNOT_START) is stuck
