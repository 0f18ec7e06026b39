"""The Dagster code location end to end: definitions, in-process materialization, the CLI, sensor and schedule."""

from __future__ import annotations

import random
import subprocess
import sys
import time

import dagster as dg
import pytest

from audiorole import catalog
from audiorole.store import DataStore
from audiorole_dagster.cli import main
from audiorole_dagster.runner import run_pipeline
from tests.conftest import SRT, make_tone, make_video_only, make_zero_length_wav


def test_definitions_load_without_heavy_imports():
    code = (
        "import sys, time; t = time.time()\n"
        "from audiorole_dagster.definitions import defs\n"
        "heavy = [m for m in ('torch', 'pyannote.audio', 'faster_whisper', 'speechbrain', 'transformers') "
        "if m in sys.modules]\n"
        "print(heavy, round(time.time() - t, 1))\n"
        "assert not heavy, heavy\n"
        "defs.resolve_job_def('episode_job')\n"
        "defs.resolve_all_job_defs(); [defs.resolve_schedule_def(s.name) for s in defs.schedules]\n"
        "defs.validate_loadable(defs)\n"
        "names = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}\n"
        "assert {'probed_media', 'standardized_audio', 'parsed_subtitles'} <= names, names\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]


def test_materialize_ingest_assets_in_process(media_root, tmp_path):
    """The assets, materialized through Dagster for one episode partition, write the artifacts and metadata."""
    from assets.ingest import ingest_assets
    from resources import DataStoreResource, MediaRootResource

    data = tmp_path / "data"
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("episodes", ["test-show/e02"])
    result = dg.materialize(
        ingest_assets,
        partition_key="test-show/e02",
        instance=instance,
        resources={
            "media_root": MediaRootResource(path=str(media_root)),
            "data_store": DataStoreResource(data_dir=str(data)),
        },
    )
    assert result.success
    mats = {name: result.asset_materializations_for_node(name)[0].metadata
            for name in ("probed_media", "standardized_audio", "parsed_subtitles")}
    assert mats["probed_media"]["has_video"].value is True
    assert mats["parsed_subtitles"]["subtitle_source"].value == "embedded"
    assert mats["parsed_subtitles"]["n_speaker_tags"].value >= 1
    assert mats["parsed_subtitles"]["n_dash_cues"].value == 1
    store = DataStore(data)
    assert store.path("test-show/e02", "audio.flac").exists()
    rows = catalog.query(data, "SELECT series, episode, n_subtitle_cues, subtitle_source FROM episodes")
    assert rows == [{"series": "Test Show", "episode": "E02", "n_subtitle_cues": 2, "subtitle_source": "embedded"}]


@pytest.fixture
def messy_media_root(media_root):
    """The healthy series plus every kind of bad input a curator's drop can hold."""
    show = media_root / "Test Show"
    (show / "E03-corrupt.mkv").write_bytes(random.Random(3).randbytes(5000))  # fixed: some random bytes parse as a stream
    make_video_only(show / "E04-noaudio.mkv")
    make_zero_length_wav(show / "E05-empty.wav")
    make_tone(show / "E06-badsubs.wav", 2.0)
    (show / "E06-badsubs.srt").write_text("1\nnot a timestamp\nhello\n\n2\n99:xx --> what\nworld\n")
    make_tone(show / "E07-binarysubs.wav", 2.0)
    (show / "E07-binarysubs.srt").write_bytes(bytes(range(256)) * 8)
    full = make_tone(show / "full.mkv", 6.0)
    (show / "E08-truncated.mkv").write_bytes(full.read_bytes()[: full.stat().st_size // 3])
    full.unlink()
    intl = media_root / "Café Série 老友记"
    make_tone(intl / "Épisode 1.wav", 2.0)
    (intl / "Épisode 1.srt").write_text(SRT, encoding="utf-8")
    return media_root


def test_run_fails_bad_partitions_with_reasons_and_goes_on(messy_media_root, tmp_path, capsys):
    data = tmp_path / "data"
    code = main(["run", "--media-root", str(messy_media_root), "--data-dir", str(data)])
    out, err = capsys.readouterr()
    assert code == 1
    failed = {line.split()[1].rstrip(":"): line for line in err.splitlines() if line.strip().startswith("FAILED")}
    assert set(failed) == {
        "test-show/e03-corrupt", "test-show/e04-noaudio", "test-show/e05-empty", "test-show/e08-truncated",
    }
    assert "E03-corrupt.mkv: cannot read media container" in failed["test-show/e03-corrupt"]
    assert "E04-noaudio.mkv: no audio stream" in failed["test-show/e04-noaudio"]
    assert "E05-empty.wav: audio is empty or too short" in failed["test-show/e05-empty"]
    assert "E08-truncated.mkv: truncated or corrupt" in failed["test-show/e08-truncated"]

    rows = {r["episode_key"]: r for r in catalog.query(data, "SELECT * FROM episodes")}
    # healthy episodes, the non-ASCII series and the episodes with unusable subtitles all went through
    assert {"test-show/e01", "test-show/e02", "test-show/e06-badsubs", "test-show/e07-binarysubs"} <= set(rows)
    intl = [r for r in rows.values() if r["series"] == "Café Série 老友记"]
    assert len(intl) == 1 and intl[0]["n_subtitle_cues"] == 2 and intl[0]["episode_key"].isascii()
    for k in ("test-show/e06-badsubs", "test-show/e07-binarysubs"):
        assert rows[k]["n_subtitle_cues"] == 0 and rows[k]["audio_path"]
        assert "subtitle skipped" in rows[k]["subtitle_warnings"] and ".srt" in rows[k]["subtitle_warnings"]
    # failed partitions left no half-written artifact behind
    store = DataStore(data)
    for k in ("test-show/e03-corrupt", "test-show/e05-empty", "test-show/e08-truncated"):
        d = store.episode_dir(k)
        assert not (d / "audio.flac").exists() and not list(d.rglob(".*.*"))


def test_rerun_is_idempotent_and_force_recomputes(media_root, tmp_path):
    data = tmp_path / "data"
    first = run_pipeline(media_root, data, echo=lambda *_: None)
    assert first.ok and len(first.succeeded) == 2
    audio = DataStore(data).path("test-show/e01", "audio.flac")
    mtime = audio.stat().st_mtime_ns
    second = run_pipeline(media_root, data, echo=lambda *_: None)
    assert second.skipped == first.succeeded and not second.succeeded
    assert audio.stat().st_mtime_ns == mtime
    # a replaced subtitle makes that episode stale again; only it is recomputed
    time.sleep(0.01)
    (media_root / "Test Show" / "E01.srt").write_text(SRT + "\n3\n00:00:03,500 --> 00:00:04,000\nBye.\n")
    third = run_pipeline(media_root, data, echo=lambda *_: None)
    assert third.succeeded == ["test-show/e01"] and third.skipped == ["test-show/e02"]
    assert audio.stat().st_mtime_ns == mtime, "audio did not depend on the subtitle: not recomputed"
    assert catalog.query(data, "SELECT n_subtitle_cues FROM episodes WHERE episode = 'E01'") == [{"n_subtitle_cues": 3}]
    forced = run_pipeline(media_root, data, force=True, echo=lambda *_: None)
    assert len(forced.succeeded) == 2 and audio.stat().st_mtime_ns != mtime
    # the runs are recorded in the data dir's Dagster instance, for the UI
    with dg.DagsterInstance.from_config(str(data / "dagster_home")) as instance:
        runs = [r.job_name for r in instance.get_runs()]
        # episodes: 2 + 0 (current) + 1 + 2 forced; the series (tones: no voices, so no shards) after each change
        assert runs.count("episode_job") == 2 + 1 + 2 and runs.count("series_job") == 3 and len(runs) == 8


def test_sensor_adds_partitions_idempotently_and_picks_up_new_series(media_root, tmp_path):
    from audiorole_dagster.definitions import build_definitions
    from audiorole_dagster.sensors import media_root_sensor

    instance = dg.DagsterInstance.ephemeral()
    data = tmp_path / "data"
    resources = build_definitions(str(media_root), str(data)).resources

    def tick(cursor=None):
        ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
        result = media_root_sensor(ctx)
        if isinstance(result, dg.SensorResult):
            for req in result.dynamic_partitions_requests or []:
                instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
        return result

    first = tick()
    assert sorted(r.partition_key for r in first.run_requests) == ["test-show/e01", "test-show/e02"]
    assert instance.get_dynamic_partitions("series") == ["test-show"]
    assert tick(first.cursor).__class__ is dg.SkipReason, "unchanged media root: nothing to do"

    make_tone(media_root / "New Show" / "Pilot.wav", 1.0)
    second = tick(first.cursor)
    assert [r.partition_key for r in second.run_requests] == ["new-show/pilot"], "only the changed series is looked at"
    adds = {req.partitions_def_name: list(req.partition_keys) for req in second.dynamic_partitions_requests}
    assert adds == {"series": ["new-show"], "episodes": ["new-show/pilot"]}, "known partitions are not re-added"
    assert len(second.cursor) < 200, "the cursor holds one digest per series, not one entry per episode"

    # `audiorole run` built everything; a fresh sensor (e.g. on `dagster dev` start) requests nothing current
    run_pipeline(media_root, data, echo=lambda *_: None)
    fresh = tick()
    assert isinstance(fresh, dg.SensorResult) and fresh.run_requests == []
    time.sleep(0.01)
    (media_root / "Test Show" / "E02.mkv").touch()
    third = tick(fresh.cursor)
    assert [r.partition_key for r in third.run_requests] == ["test-show/e02"], "a replaced file is stale again"
    keys = {r.partition_key: r.run_key for r in first.run_requests}
    assert third.run_requests[0].run_key != keys["test-show/e02"], "new source fingerprint, new run key"


def test_schedule_requests_only_stale_episodes(media_root, tmp_path):
    from audiorole_dagster.definitions import build_definitions
    from audiorole_dagster.schedules import stale_episodes_schedule

    data = tmp_path / "data"
    run_pipeline(media_root, data, echo=lambda *_: None)
    resources = build_definitions(str(media_root), str(data)).resources
    with dg.instance_for_test() as instance:  # schedules with resources need an instance with a ref
        instance.add_dynamic_partitions("episodes", ["test-show/e01", "test-show/e02"])
        with dg.build_schedule_context(instance=instance, resources=resources) as ctx:
            assert isinstance(stale_episodes_schedule(ctx), dg.SkipReason)
        time.sleep(0.01)
        (media_root / "Test Show" / "E02.mkv").touch()
        with dg.build_schedule_context(instance=instance, resources=resources) as ctx:
            requests = stale_episodes_schedule(ctx)
    assert [r.partition_key for r in requests] == ["test-show/e02"]


def test_two_runs_on_one_new_episode_at_once_compute_each_stage_once(media_root, tmp_path):
    """The CLI and the UI (or two backfills) on the same partition at once: both runs succeed, each stage is computed
    by one of them (the other waits on the stage's lock and finds it current), and the store is whole."""
    from audiorole.pipeline import EPISODE_STAGES, stale_episode

    data = tmp_path / "data"
    cmd = [sys.executable, "-m", "audiorole_dagster.cli", "run", "--media-root", str(media_root), "--data-dir",
           str(data), "--no-train", "--only", "test-show/e01"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    with dg.DagsterInstance.from_config(str(data / "dagster_home")) as instance:
        for stage in EPISODE_STAGES:
            records = instance.fetch_materializations(dg.AssetKey(stage.name), limit=10).records
            computed = [r for r in records if r.asset_materialization.metadata["skipped_current"].value is False]
            assert len(records) == 2 and len(computed) == 1, stage.name
    from audiorole.discovery import discover_episodes
    from audiorole_dagster.definitions import build_definitions
    from resources.models import episode_params

    (ep,) = [e for e in discover_episodes(media_root)[0] if e.key == "test-show/e01"]
    params = episode_params(build_definitions(str(media_root), str(data)).resources)
    assert stale_episode(ep, DataStore(data), params) == [] and not list(DataStore(data).episode_dir(ep.key).glob(".*.*"))


def test_a_vad_setting_that_is_no_number_or_means_nothing_is_named(monkeypatch, tmp_path):
    from audiorole_dagster.definitions import build_definitions
    from resources.models import VadResource

    with pytest.raises(ValueError, match="tail_margin_db"):  # the launchpad's value, checked when the stage reads it
        VadResource(tail_margin_db=-1.0).config()

    monkeypatch.setenv("AUDIOROLE_VAD_TAIL_DB", "three")
    with pytest.raises(ValueError, match="AUDIOROLE_VAD_TAIL_DB='three': a number expected"):
        build_definitions(str(tmp_path / "media"), str(tmp_path / "data"))
    monkeypatch.setenv("AUDIOROLE_VAD_TAIL_DB", " 3 ")
    assert build_definitions(str(tmp_path / "media"), str(tmp_path / "data")).resources["vad"].tail_margin_db == 3.0
    monkeypatch.setenv("AUDIOROLE_VAD_TAIL_DB", "")
    assert build_definitions(str(tmp_path / "media"), str(tmp_path / "data")).resources["vad"].tail_margin_db is None


def test_eval_scores_ap_with_the_speaker_encoder_asked_for_and_refuses_an_unknown_one(tmp_path, monkeypatch, capsys):
    from audiorole_dagster import cli
    from audiorole_dagster.runner import RunReport

    calls = []

    def fake_run_eval(data_dir, **kwargs):
        calls.append(kwargs)
        return RunReport()

    monkeypatch.setattr(cli, "run_eval", fake_run_eval)
    main(["eval", "--data-dir", str(tmp_path), "--speaker-encoder", "resemblyzer"])
    main(["eval", "--data-dir", str(tmp_path)])
    assert calls[0]["config"] == {"arp_eval": {"speaker_encoder": "resemblyzer"}} and calls[1]["config"] is None
    assert main(["eval", "--data-dir", str(tmp_path), "--speaker-encoder", "resemblyzer+xvector"]) == 2
    assert len(calls) == 2 and "unknown encoder 'xvector'" in capsys.readouterr().err
    assert main(["eval", "--data-dir", str(tmp_path), "--speaker-encoder", "ecapa"]) == 2  # no directory given
    assert len(calls) == 2 and "needs --speaker-encoder-dir" in capsys.readouterr().err
    main(["eval", "--data-dir", str(tmp_path), "--speaker-encoder", "ecapa", "--speaker-encoder-dir", str(tmp_path)])
    assert calls[2]["config"] == {"arp_eval": {"speaker_encoder": "ecapa", "speaker_encoder_dir": str(tmp_path)}}
    main(["eval", "--data-dir", str(tmp_path), "--ap-space-weight", "0"])  # AP with the encoder alone
    assert calls[3]["config"] == {"arp_eval": {"ap_series_space_weight": 0.0}}
    assert main(["eval", "--data-dir", str(tmp_path), "--ap-space-weight", "-1"]) == 2
    assert len(calls) == 4 and "a weight >= 0" in capsys.readouterr().err


def test_turning_the_tag_split_off_is_a_setting_of_its_own_that_makes_the_turns_stale():
    """``DiarizationResource.split_tagged`` reaches the diarization's config, and the stage's identity changes with
    it: turns made one way are not taken for the other's."""
    from resources.models import DiarizationResource

    on, off = DiarizationResource(), DiarizationResource(split_tagged=False)
    assert on.config().split_tagged and not off.config().split_tagged
    assert on.backend_id("resemblyzer") != off.backend_id("resemblyzer")
