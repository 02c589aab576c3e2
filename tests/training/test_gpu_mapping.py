"""One training process per GPU (issue 15, defect 4): `kubernetes.gpus_per_node = 1` with
`proc_per_node = 2` exited 0 and its pods trained on the CPU while holding a GPU, since a
rank used CUDA only when the node had a GPU per local rank. Now the configuration is
refused before anything is submitted, and a rank that finds fewer GPUs than ranks on its
machine fails with the ways out instead of falling back to the CPU."""

from __future__ import annotations

import pytest
import torch

from salesops.errors import ConfigError
from salesops.training.distributed import device_for, init_from_env
from tests.backends.kubernetes.test_dry_run import docs, k8s  # noqa: F401


def test_submit_refuses_fewer_gpus_than_processes(cli, k8s, monkeypatch):  # noqa: F811
    monkeypatch.setenv("SALESOPS_KUBERNETES__GPUS_PER_NODE", "1")
    monkeypatch.setenv("SALESOPS_KUBERNETES__PROC_PER_NODE", "2")
    result = cli("train", "submit", "--nodes", "2", "--dry-run")
    assert result.exit_code == 2 and result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert "kubernetes.gpus_per_node = 1" in line and "kubernetes.proc_per_node = 1" in line
    assert "not 2" in line


def test_more_gpus_than_processes_is_refused_too(cli, k8s, monkeypatch):  # noqa: F811
    monkeypatch.setenv("SALESOPS_KUBERNETES__GPUS_PER_NODE", "2")
    result = cli("train", "submit", "--dry-run")
    assert result.exit_code == 2 and "kubernetes.proc_per_node = 2" in result.stderr


def test_the_two_keys_may_come_from_different_layers(cli, k8s, monkeypatch, tmp_path):  # noqa: F811
    """Each layer is checked on its own (config_sources.check_layer); this rule only on the
    merged settings, or a file's `gpus_per_node = 2` would fail although the environment
    sets the matching `proc_per_node`."""
    config = tmp_path / "gpu.toml"
    config.write_text("[kubernetes]\ngpus_per_node = 2\n")
    monkeypatch.setenv("SALESOPS_KUBERNETES__PROC_PER_NODE", "2")
    result = cli("--config", str(config), "train", "submit", "--dry-run")
    assert result.exit_code == 0, result.stderr
    (job,) = docs(result.stdout)
    trainer = job["spec"]["trainer"]
    assert trainer["numProcPerNode"] == 2
    assert trainer["resourcesPerNode"]["limits"]["nvidia.com/gpu"] == "2"


def test_cpu_training_takes_any_process_count(cli, k8s, monkeypatch):  # noqa: F811
    monkeypatch.setenv("SALESOPS_KUBERNETES__PROC_PER_NODE", "4")
    result = cli("train", "submit", "--dry-run")
    assert result.exit_code == 0, result.stderr


def test_each_rank_gets_its_own_gpu_or_the_cpu():
    assert device_for(0, 1, gpus=0) == torch.device("cpu")
    assert device_for(3, 4, gpus=0) == torch.device("cpu")
    assert device_for(1, 2, gpus=2) == torch.device("cuda:1")
    assert device_for(1, 2, gpus=8) == torch.device("cuda:1")
    with pytest.raises(ConfigError) as error:
        device_for(0, 2, gpus=1)
    assert error.value.exit_code == 2
    line = error.value.one_line()
    assert "2 training processes on this machine but 1 GPU" in line
    assert "CUDA_VISIBLE_DEVICES=" in line and "kubernetes.proc_per_node" in line


def test_a_rank_short_of_gpus_fails_instead_of_training_on_the_cpu(monkeypatch):
    """The rank's own start-up, on a machine that shows one GPU to two local ranks. This
    machine has no GPU, so torch's two device queries are the stand-in for one: before the
    fix the rank returned a CPU device here and trained on it."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    for key, value in {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1",
                       "LOCAL_WORLD_SIZE": "2"}.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match="NCCL needs one GPU per process"):
        init_from_env()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_a_real_gpu(monkeypatch):
    gpus = torch.cuda.device_count()
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    assert init_from_env().device == torch.device("cuda:0")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(gpus + 1))
    with pytest.raises(ConfigError):
        init_from_env()
