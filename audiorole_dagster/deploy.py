"""Deployment profiles: where the steps of a run execute.

- ``local`` (default): one process per run (the in-process executor): no process start per step, and each model
  loaded once for all the steps and partitions of the run; two runs at a time (``dagster.yaml``), the heavy steps
  queued on their pools (``concurrency.pools``) across runs. Measured on 3 demo episodes dropped into the UI:
  136 s against 201 s with a process per step (``benchmarks/curator_path.py``), at the same peak memory.
  ``AUDIOROLE_LOCAL_EXECUTOR=multiprocess`` puts ``episode_job``, ``training_job`` and ``eval_job`` on the
  multiprocess executor (two steps at a time: ASR beside diarization), for machines with more cores.
- ``k8s`` (``AUDIOROLE_DEPLOYMENT=k8s``): ``dagster-k8s``'s ``k8s_job_executor``, one Kubernetes pod per step.
  Model steps carry ``GPU_STEP`` tags (``assets/_common.py``) and ask for a GPU; the others get ``LIGHT_STEP``'s
  small pod. The data dir is one shared volume (``AUDIOROLE_DATA_PVC``) mounted at the same path in every pod;
  the Helm values that go with it are ``deploy/k8s/values.yaml``.

Nothing here imports ``dagster_k8s`` unless the k8s profile is asked for.
"""

from __future__ import annotations

import os

import dagster as dg

PROFILES = ("local", "k8s")
#: Where the shared data volume and the (read-only) media volume are mounted in every pod.
POD_DATA_DIR, POD_MEDIA_ROOT = "/data", "/media"
#: The default pod of a step without GPU tags: ingest, subtitles, VAD, series stages, shards, reports.
LIGHT_STEP = {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "4Gi"}}


def profile() -> str:
    name = os.environ.get("AUDIOROLE_DEPLOYMENT", "local")
    if name not in PROFILES:
        raise ValueError(f"AUDIOROLE_DEPLOYMENT={name!r}: use one of {', '.join(PROFILES)}")
    return name


def k8s_step_config() -> dict:
    """The ``k8s_job_executor``'s config: image, shared data volume, environment, default (light) resources."""
    data_pvc = os.environ.get("AUDIOROLE_DATA_PVC", "audiorole-data")
    media_pvc = os.environ.get("AUDIOROLE_MEDIA_PVC", "audiorole-media")
    return {
        "job_namespace": os.environ.get("AUDIOROLE_K8S_NAMESPACE", "audiorole"),
        "image_pull_policy": "IfNotPresent",
        "max_concurrent": int(os.environ.get("AUDIOROLE_K8S_MAX_STEPS", "8")),
        "env_vars": ["HF_HUB_OFFLINE=1", "TRANSFORMERS_OFFLINE=1", "AUDIOROLE_DEPLOYMENT=k8s",
                     f"AUDIOROLE_DATA_DIR={POD_DATA_DIR}", f"AUDIOROLE_MEDIA_ROOT={POD_MEDIA_ROOT}"],
        # the local model directories (AUDIOROLE_WHISPER_DIR, _PYANNOTE_DIR, _ECAPA_DIR, _BASE_LM_DIR), on the data
        # volume, named in this ConfigMap
        "env_config_maps": ["audiorole-models"],
        "volume_mounts": [{"name": "audiorole-data", "mount_path": POD_DATA_DIR},
                          {"name": "audiorole-media", "mount_path": POD_MEDIA_ROOT, "read_only": True}],
        "volumes": [{"name": "audiorole-data", "persistent_volume_claim": {"claim_name": data_pvc}},
                    {"name": "audiorole-media", "persistent_volume_claim": {"claim_name": media_pvc}}],
        "resources": LIGHT_STEP,
    }


def parallel_executor() -> dg.ExecutorDefinition | None:
    """The executor of the jobs with heavy independent steps under the local profile: the multiprocess executor
    when ``AUDIOROLE_LOCAL_EXECUTOR=multiprocess``; None (the code location's default) otherwise and under k8s."""
    if profile() == "local" and os.environ.get("AUDIOROLE_LOCAL_EXECUTOR", "in_process") == "multiprocess":
        return dg.multiprocess_executor.configured({"max_concurrent": 2}, name="audiorole_local_parallel")
    return None


def executor(name: str | None = None) -> dg.ExecutorDefinition:
    """The default executor of the code location (every job without one of its own, asset backfills included)."""
    name = name or profile()
    if name == "k8s":
        import warnings

        with warnings.catch_warnings():  # dagster-k8s 0.29.27 is the newest release; it expects dagster 1.13.27
            warnings.filterwarnings("ignore", message="Found version mismatch", category=UserWarning)
            from dagster_k8s import k8s_job_executor

        return k8s_job_executor.configured(k8s_step_config(), name="audiorole_k8s")
    return dg.in_process_executor.configured({}, name="audiorole_local")


def render_step_pod(op_tags: dict, *, image: str = "audiorole:latest", step_key: str = "step") -> dict:
    """The Kubernetes Job a step with these op tags becomes under the k8s profile, as a plain dict — what the
    executor would submit (used by the tests and to review a deployment without a cluster)."""
    from dagster_k8s.job import DagsterK8sJobConfig, UserDefinedDagsterK8sConfig, construct_dagster_k8s_job, \
        get_user_defined_k8s_config
    from kubernetes.client import ApiClient

    cfg = k8s_step_config()
    job_config = DagsterK8sJobConfig(
        job_image=image, dagster_home="/opt/dagster/dagster_home", image_pull_policy=cfg["image_pull_policy"],
        instance_config_map="dagster-instance", env_vars=cfg["env_vars"], env_config_maps=cfg["env_config_maps"],
        volume_mounts=cfg["volume_mounts"],
        volumes=cfg["volumes"], resources=cfg["resources"])
    user = get_user_defined_k8s_config({k: _tag(v) for k, v in op_tags.items()}) if op_tags else \
        UserDefinedDagsterK8sConfig()
    job = construct_dagster_k8s_job(job_config, ["dagster", "api", "execute_step"], f"dagster-step-{step_key}"[:63],
                                    user_defined_k8s_config=user, component="step_worker")
    return ApiClient().sanitize_for_serialization(job)


def _tag(value):
    import json

    return value if isinstance(value, str) else json.dumps(value)
