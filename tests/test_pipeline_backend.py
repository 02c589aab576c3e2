"""`pipeline run` serves the model it has just trained: a training backend whose runs end
elsewhere (a TrainJob) is refused before anything runs, without a cluster."""

from __future__ import annotations


def test_pipeline_run_refuses_kubernetes_training_without_a_cluster(cli, workspace,
                                                                     monkeypatch, tmp_path):
    monkeypatch.setenv("SALESOPS_BACKEND__KIND", "kubernetes")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    result = cli("pipeline", "run")
    assert result.exit_code == 2
    assert ("error: pipeline run drives the local lifecycle; on Kubernetes run `infra up`, "
            "`features build`, `train submit --wait` and `serve deploy --wait`") in result.stderr
    assert result.stdout == "" and not workspace.exists()
