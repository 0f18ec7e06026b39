"""Deployment profiles: the shipped local instance (run queue, pools) and the Kubernetes profile, as far as a
machine without a cluster can check it (config loads, the pods it would submit)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_instance_queues_runs_and_limits_every_pool(tmp_path):
    from audiorole_dagster.cli import prepare_dagster_home

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
    from audiorole_dagster import deploy
    from audiorole_dagster.definitions import build_definitions

    local = build_definitions(str(tmp_path), str(tmp_path))
    assert local.resolve_job_def("episode_job").executor_def.name == "audiorole_local"
    graph = local.resolve_asset_graph()
    pools = {k.to_user_string(): graph.get(k).pools for k in graph.get_all_asset_keys()}
    assert {k for k, p in pools.items() if p} == {
        "enhanced_audio", "speaker_turns", "transcript", "arp_model", "arp_replies", "arp_baselines", "arp_eval"}

    monkeypatch.setenv("AUDIOROLE_DEPLOYMENT", "k8s")
    defs = build_definitions(str(tmp_path), str(tmp_path))
    assert defs.resolve_job_def("episode_job").executor_def.name == "audiorole_k8s"
    graph = defs.resolve_asset_graph()

    def pod(asset: str) -> dict:
        tags = graph.get(dg.AssetKey(asset)).assets_def.op.tags
        spec = deploy.render_step_pod({k: v for k, v in tags.items() if k.startswith("dagster-k8s/")},
                                      step_key=asset)["spec"]["template"]["spec"]
        return spec

    heavy, light = pod("transcript"), pod("probed_media")
    assert heavy["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert heavy["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert "nvidia.com/gpu" not in str(light["containers"][0]["resources"]) and not light.get("tolerations")
    for spec in (heavy, light):  # every step pod sees the same data volume and the media read-only
        mounts = {m["mountPath"]: m for m in spec["containers"][0]["volumeMounts"]}
        assert set(mounts) >= {deploy.POD_DATA_DIR, deploy.POD_MEDIA_ROOT} and mounts["/media"]["readOnly"]
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
