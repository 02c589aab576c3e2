"""Threads per training process: the cores really available (affinity, cgroup v1/v2 quota),
shared among the processes; and the progress output that says so."""

from __future__ import annotations

import os

import pytest

from salesops.backends.local import threads
from salesops.training.progress import epoch_progress


@pytest.mark.parametrize("text, cores", [("max 100000\n", None), ("200000 100000\n", 2.0),
                                         ("150000 100000", 1.5), ("50000 100000", 0.5),
                                         ("max", None), ("", None)])
def test_cgroup_v2_cpu_max(text, cores):
    assert threads.parse_cpu_max(text) == cores


@pytest.mark.parametrize("quota, period, cores", [("-1\n", "100000\n", None),
                                                  ("300000", "100000", 3.0),
                                                  ("25000", "100000", 0.25)])
def test_cgroup_v1_cfs_quota(quota, period, cores):
    assert threads.parse_cfs(quota, period) == cores


@pytest.mark.parametrize("affinity, quotas, cores", [
    (64, [], 64),          # no quota: the affinity mask
    (64, [2.0], 2),        # a container limited to 2 CPUs on a 64-CPU host
    (64, [4.0, 1.5], 1),   # the tightest quota on the path; 1.5 cores -> 1 thread
    (2, [8.0], 2),         # taskset narrower than the quota
    (8, [0.5], 1),         # never below one
])
def test_cores_from_affinity_and_quotas(affinity, quotas, cores):
    assert threads.cores_from(affinity, quotas) == cores


def test_quotas_are_read_along_the_cgroup_path(tmp_path):
    # v2: /proc/self/cgroup names the process's cgroup; the limits are on it and its parents
    proc = tmp_path / "cgroup"
    proc.write_text("0::/kubepods/pod1/ctr\n")
    root = tmp_path / "fs"
    (root / "kubepods" / "pod1" / "ctr").mkdir(parents=True)
    (root / "kubepods" / "pod1" / "cpu.max").write_text("300000 100000\n")
    (root / "kubepods" / "pod1" / "ctr" / "cpu.max").write_text("max 100000\n")
    (root / "cpu.max").write_text("max 100000\n")
    assert threads.cgroup_quotas(root, proc) == [3.0]


def test_v1_quota_in_the_cpu_controller(tmp_path):
    proc = tmp_path / "cgroup"
    proc.write_text("4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n2:cpuacct:/x\n")
    folder = tmp_path / "fs" / "cpu,cpuacct" / "docker" / "abc"
    folder.mkdir(parents=True)
    (folder / "cpu.cfs_quota_us").write_text("200000\n")
    (folder / "cpu.cfs_period_us").write_text("100000\n")
    assert threads.cgroup_quotas(tmp_path / "fs", proc) == [2.0]


def test_no_cgroup_information_means_no_quota(tmp_path):
    assert threads.cgroup_quotas(tmp_path / "fs", tmp_path / "missing") == []


def test_available_cores_on_this_machine_is_at_most_the_affinity_mask():
    assert 1 <= threads.available_cores() <= len(os.sched_getaffinity(0))


@pytest.mark.parametrize("processes, cores, each", [(1, 2, 2), (2, 2, 1), (3, 2, 1),
                                                    (2, 16, 8), (4, 1, 1)])
def test_cores_are_shared_among_the_processes(processes, cores, each):
    assert threads.per_process(processes, cores) == each


def test_passive_wait_unless_the_user_chose(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    threads.prefer_passive_wait()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    threads.prefer_passive_wait()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_progress_says_who_trains_and_the_time_so_far(capsys):
    assert threads.describe(2, 1) == "2 processes × 1 thread"
    assert threads.describe(1, 4) == "1 process × 4 threads"
    with epoch_progress("lines", 3, threads.describe(2, 1)) as on_epoch:
        for epoch in (1, 2):
            on_epoch({"epoch": epoch, "train_loss": 0.5, "val_loss": 0.25, "seconds": 0.1})
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "training 3 epochs on 2 processes × 1 thread"
    assert lines[1].startswith("epoch   1/3  train_loss 0.5000  val_loss 0.2500  (0.1s, ")
    assert all(line.endswith("s elapsed)") for line in lines[1:]) and len(lines) == 3


def test_progress_says_how_many_networks_train_side_by_side(capsys):
    with epoch_progress("lines", 3, threads.describe(1, 2), members=3, at_once=2) as on_epoch:
        on_epoch({"member": 2, "epoch": 1, "train_loss": 0.5, "val_loss": 0.25, "seconds": 0.1})
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "training 3 networks × 3 epochs, 2 at a time, on 1 process × 2 threads"
    assert lines[1].startswith("network 2/3  epoch   1/3  train_loss 0.5000")
