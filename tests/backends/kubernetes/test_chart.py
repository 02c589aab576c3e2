"""charts/salesops renders (its `{{ .Values.x }}` substituted with the default values, as
Helm would) to the same objects as `salesops infra up --dry-run`. No helm binary needed."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from salesops.backends.kubernetes.infra_objects import infra_objects, new_credentials
from salesops.config import Settings

CHART = Path(__file__).resolve().parents[3] / "charts" / "salesops"
VALUE = re.compile(r"\{\{\s*\.Values\.([A-Za-z0-9_.]+)\s*\}\}")


def render(text: str, values: dict) -> str:
    def lookup(match: re.Match) -> str:
        value = values
        for part in match[1].split("."):
            value = value[part]  # a KeyError names a value the chart does not define
        return "" if value is None else str(value)  # Helm renders nil as empty

    rendered = VALUE.sub(lookup, text)
    assert "{{" not in rendered, "templates may only use {{ .Values.x }}"
    return rendered


def normalized(obj):
    """Nulls pruned (as the API server does); the Secret reduced to its keys (the chart takes
    the password as a value, salesops generates one)."""
    if isinstance(obj, dict):
        obj = {k: normalized(v) for k, v in obj.items() if v is not None}
        if obj.get("kind") == "Secret":
            keys = sorted({**obj.pop("data", {}), **obj.pop("stringData", {})})
            obj["keys"] = keys
        return obj
    if isinstance(obj, list):
        return [normalized(v) for v in obj]
    return obj


def chart_objects() -> list[dict]:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    objects = []
    for template in sorted((CHART / "templates").glob("*.yaml")):
        objects += [doc for doc in yaml.safe_load_all(render(template.read_text(), values)) if doc]
    return objects


def test_templates_use_only_values_substitutions():
    for template in (CHART / "templates").glob("*.yaml"):
        text = template.read_text()
        assert len(re.findall(r"\{\{", text)) == len(VALUE.findall(text)), template.name


def test_chart_with_default_values_equals_infra_up_dry_run(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("SALESOPS_BACKEND__KIND", "kubernetes")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    result = cli("infra", "up", "--dry-run")
    assert result.exit_code == 0, result.stderr
    dry_run = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    chart = chart_objects()
    # the dry run never prints the Secret (generated credentials); the chart takes the
    # password as a value, and its Secret must match what `infra up` creates
    (secret,) = [o for o in chart if o["kind"] == "Secret"]
    built = next(o for o in infra_objects(Settings(), new_credentials()) if o["kind"] == "Secret")
    assert normalized(secret) == normalized(built)
    chart = [o for o in chart if o["kind"] != "Secret"]
    assert [(o["kind"], o["metadata"]["name"]) for o in chart] == [
        (o["kind"], o["metadata"]["name"]) for o in dry_run]
    for ours, theirs in zip(normalized(dry_run), normalized(chart), strict=True):
        assert ours == theirs, ours["kind"]


def test_a_changed_value_reaches_the_objects():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    values["namespace"] = "team-a"
    text = render((CHART / "templates" / "06-configmap-salesops-feature-store.yaml").read_text(),
                  values)
    assert "salesops-postgres.team-a.svc" in text and "namespace: team-a" in text
