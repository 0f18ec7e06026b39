"""Deployment profiles: the shipped local instance (run queue, pools) and the Kubernetes profile, as far as a
machine without a cluster can check it (config loads, the pods it would submit)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_instance_queues_runs_and_limits_every_pool(tmp_path):
    from audiorole_dagster.runner import prepare_dagster_home

    home = prepare_dagster_home(tmp_path)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        config = instance.get_concurrency_config()
        assert config.run_queue_config.max_concurrent_runs == 2
        assert config.pool_config.default_pool_limit == 1
    own = home / "dagster.yaml"
    own.write_text("telemetry:\n  enabled: false\nconcurrency:\n  pools:\n    default_limit: 3\n")
    prepare_dagster_home(tmp_path)
    assert "default_limit: 3" in own.read_text(), "a curator's own instance file is kept"


def test_heavy_steps_take_a_pool_slot_and_ask_for_a_gpu_under_k8s(monkeypatch, tmp_path):
    from audiorole_dagster.definitions import build_definitions

    local = build_definitions(str(tmp_path), str(tmp_path))
    # measured (benchmarks/curator_path.py): one process per run beats a process per step on 2 cores
    assert {local.resolve_job_def(j).executor_def.name for j in ("episode_job", "shards_job")} == {"audiorole_local"}
    graph = local.resolve_asset_graph()
    pools = {k.to_user_string(): graph.get(k).pools for k in graph.get_all_asset_keys()}
    assert {k for k, p in pools.items() if p} == {
        "enhanced_audio", "speaker_turns", "transcript", "arp_model", "arp_replies", "arp_baselines", "arp_eval"}

    # the profile is process-level (read when the code location loads): the k8s one is loaded in a fresh process
    code = (
        "import json, dagster as dg\n"
        "from audiorole_dagster import deploy\n"
        f"from audiorole_dagster.definitions import build_definitions\n"
        f"defs = build_definitions({str(tmp_path)!r}, {str(tmp_path)!r})\n"
        "graph = defs.resolve_asset_graph()\n"
        "def pod(a):\n"
        "    tags = graph.get(dg.AssetKey(a)).assets_def.op.tags\n"
        "    return deploy.render_step_pod({k: v for k, v in tags.items() if k.startswith('dagster-k8s/')},"
        " step_key=a)['spec']['template']['spec']\n"
        "print(json.dumps({'executors': sorted({defs.resolve_job_def(j).executor_def.name for j in "
        "('episode_job', 'shards_job', 'training_job')}), 'heavy': pod('transcript'), 'light': pod('probed_media')}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "AUDIOROLE_DEPLOYMENT": "k8s"})
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["executors"] == ["audiorole_k8s"], "under k8s every job runs a pod per step"
    heavy, light = got["heavy"], got["light"]
    assert heavy["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert heavy["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert "nvidia.com/gpu" not in str(light["containers"][0]["resources"]) and not light.get("tolerations")
    for spec in (heavy, light):  # every step pod sees the same data volume and the media read-only
        mounts = {m["mountPath"]: m for m in spec["containers"][0]["volumeMounts"]}
        assert set(mounts) >= {"/data", "/media"} and mounts["/media"]["readOnly"]
        env = {e["name"]: e.get("value") for e in spec["containers"][0]["env"]}
        assert env["AUDIOROLE_DATA_DIR"] == "/data" and env["HF_HUB_OFFLINE"] == "1"

    monkeypatch.setenv("AUDIOROLE_DEPLOYMENT", "cloud")
    try:
        build_definitions(str(tmp_path), str(tmp_path))
        raise AssertionError("an unknown profile must be refused")
    except ValueError as err:
        assert "AUDIOROLE_DEPLOYMENT" in str(err)


def test_helm_values_match_the_profile():
    values = yaml.safe_load((ROOT / "deploy" / "k8s" / "values.yaml").read_text())
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert "audiorole_dagster.definitions" in deployment["dagsterApiGrpcArgs"]
    env = {e["name"]: e["value"] for e in deployment["env"]}
    assert env["AUDIOROLE_DEPLOYMENT"] == "k8s" and env["HF_HUB_OFFLINE"] == "1"
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["concurrency"]["pools"]["defaultLimit"] >= 1
