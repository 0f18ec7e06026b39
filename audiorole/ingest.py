"""Episode ingest stages: probe the media, standardize the audio, parse the subtitles.

Each stage is a plain function ``run_<stage>(episode, store, ...) -> StageResult`` that writes its artifacts
atomically, then its stamp. ``<stage>_fingerprint`` computes the fingerprint of the stage's present inputs, so
callers (the Dagster assets, the CLI) can tell whether the stage is current without running it.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from audiorole import media, subtitles
from audiorole.discovery import EpisodeSource
from audiorole.errors import InputError
from audiorole.io import write_parquet_atomic
from audiorole.schema import CUE_SCHEMA
from audiorole.store import DataStore, file_identity, fingerprint

log = logging.getLogger(__name__)

# Bump a stage's version when its output changes for the same input: every episode then becomes stale.
PROBE_VERSION = "1"
AUDIO_VERSION = "2"
SUBTITLES_VERSION = "1"

PROBE_OUTPUTS = ["probe.parquet"]
AUDIO_OUTPUTS = ["audio.flac", "audio.parquet"]
SUBTITLE_OUTPUTS = ["cues.parquet", "subtitles.parquet"]


@dataclass
class StageResult:
    """What a stage did: its row (also written to parquet), whether it was skipped, warnings, seconds."""

    stage: str
    key: str
    fingerprint: str
    row: dict
    skipped: bool = False
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)


def upstream_stamp(store: DataStore, key: str, stage: str) -> dict:
    """The stamp of an upstream stage (its fingerprint and facts); RuntimeError if it never ran."""
    stamp = store.read_stamp(key, stage)
    if stamp is None:
        raise RuntimeError(f"{key}: upstream stage '{stage}' has not been materialized yet")
    return stamp


def _skip(store: DataStore, key: str, stage: str, fp: str, table: str) -> StageResult:
    return StageResult(stage, key, fp, read_row(store.path(key, table)), skipped=True)


# probe ------------------------------------------------------------------------------------------------------------
def probe_fingerprint(ep: EpisodeSource) -> str:
    return fingerprint("probe", PROBE_VERSION, file_identity(ep.media_path))


PROBE_SCHEMA = pa.schema(
    [
        ("episode_key", pa.string()), ("series_key", pa.string()), ("series", pa.string()), ("episode", pa.string()),
        ("source_path", pa.string()), ("container", pa.string()), ("duration_s", pa.float64()),
        ("size_bytes", pa.int64()), ("sha256", pa.string()), ("has_video", pa.bool_()),
        ("n_audio_streams", pa.int32()), ("n_subtitle_streams", pa.int32()), ("audio_codec", pa.string()),
        ("streams_json", pa.string()),
    ]
)


def run_probe(ep: EpisodeSource, store: DataStore, *, force: bool = False) -> StageResult:
    fp = probe_fingerprint(ep)
    if not force and store.is_current(ep.key, "probe", fp, PROBE_OUTPUTS):
        return _skip(store, ep.key, "probe", fp, "probe.parquet")
    t0 = time.perf_counter()
    store.clean_partial_writes(ep.key)
    info = media.probe(ep.media_path)
    row = {
        "episode_key": ep.key, "series_key": ep.series.key, "series": ep.series.title, "episode": ep.episode,
        "source_path": str(ep.media_path), "container": info.container, "duration_s": info.duration_s,
        "size_bytes": info.size_bytes, "sha256": info.sha256, "has_video": info.has_video,
        "n_audio_streams": len(info.audio_streams), "n_subtitle_streams": len(info.subtitle_streams),
        "audio_codec": info.audio_streams[0].codec,
        "streams_json": json.dumps([s.__dict__ for s in info.streams]),
    }
    write_parquet_atomic(store.path(ep.key, "probe.parquet"), pa.Table.from_pylist([row], schema=PROBE_SCHEMA))
    store.write_stamp(ep.key, "probe", fp, sha256=info.sha256, duration_s=info.duration_s)
    return StageResult("probe", ep.key, fp, row, seconds=time.perf_counter() - t0)


# audio ------------------------------------------------------------------------------------------------------------
def audio_fingerprint(ep: EpisodeSource, store: DataStore, *, loudnorm: bool = True) -> str:
    probe = upstream_stamp(store, ep.key, "probe")
    return fingerprint("audio", AUDIO_VERSION, probe["fingerprint"], loudnorm)


AUDIO_SCHEMA = pa.schema(
    [
        ("episode_key", pa.string()), ("audio_path", pa.string()), ("sample_rate", pa.int32()),
        ("n_samples", pa.int64()), ("audio_duration_s", pa.float64()), ("loudnorm", pa.bool_()),
        ("loudness_lufs", pa.float64()), ("gain_db", pa.float64()),
    ]
)


def run_standardize_audio(
    ep: EpisodeSource, store: DataStore, *, loudnorm: bool = True, force: bool = False
) -> StageResult:
    fp = audio_fingerprint(ep, store, loudnorm=loudnorm)
    if not force and store.is_current(ep.key, "audio", fp, AUDIO_OUTPUTS):
        return _skip(store, ep.key, "audio", fp, "audio.parquet")
    t0 = time.perf_counter()
    audio_path = store.path(ep.key, "audio.flac")
    declared = upstream_stamp(store, ep.key, "probe").get("duration_s")
    facts = media.standardize_audio(ep.media_path, audio_path, loudnorm=loudnorm, expected_duration_s=declared)
    row = {
        "episode_key": ep.key, "audio_path": str(audio_path), "sample_rate": facts["sample_rate"],
        "n_samples": facts["n_samples"], "audio_duration_s": facts["duration_s"], "loudnorm": loudnorm,
        "loudness_lufs": facts["loudness_lufs"], "gain_db": facts["gain_db"],
    }
    write_parquet_atomic(store.path(ep.key, "audio.parquet"), pa.Table.from_pylist([row], schema=AUDIO_SCHEMA))
    store.write_stamp(ep.key, "audio", fp, duration_s=facts["duration_s"])
    return StageResult("audio", ep.key, fp, row, seconds=time.perf_counter() - t0)


# subtitles --------------------------------------------------------------------------------------------------------
def subtitles_fingerprint(ep: EpisodeSource, store: DataStore) -> str:
    probe = upstream_stamp(store, ep.key, "probe")
    return fingerprint(
        "subtitles", SUBTITLES_VERSION, probe["fingerprint"], [file_identity(p) for p in ep.subtitle_paths]
    )


SUBTITLE_INFO_SCHEMA = pa.schema(
    [
        ("episode_key", pa.string()), ("subtitle_source", pa.string()), ("subtitle_path", pa.string()),
        ("subtitle_format", pa.string()), ("encoding", pa.string()), ("n_cues", pa.int32()),
        ("n_dropped", pa.int32()), ("n_speaker_tags", pa.int32()), ("n_dash_cues", pa.int32()),
        ("warnings", pa.string()),
    ]
)


def _embedded_text_streams(probe_row: dict, language: str) -> list[dict]:
    """Text subtitle streams of the container, those in the series language first."""
    streams = [
        s for s in json.loads(probe_row["streams_json"])
        if s["kind"] == "subtitle" and (s["codec"] or "") in media.TEXT_SUBTITLE_CODECS
    ]
    lang = language.lower()[:2]
    return sorted(streams, key=lambda s: 0 if (s.get("language") or "").lower().startswith(lang) else 1)


def load_subtitles(ep: EpisodeSource, probe_row: dict) -> tuple[subtitles.ParsedSubtitles | None, str, list[str]]:
    """The best usable subtitles of an episode: sidecars first, then embedded text streams.

    Returns (parsed or None, source kind, warnings). A subtitle that cannot be read is skipped with a warning
    naming the file and the problem; the episode goes on (with the next candidate, or with no subtitles).
    """
    warnings: list[str] = []
    max_t = float(probe_row["duration_s"]) + 5.0 if probe_row["duration_s"] else None
    for path in ep.subtitle_paths:
        try:
            return subtitles.parse_subtitle_file(path, max_time_s=max_t), "sidecar", warnings
        except InputError as err:
            warnings.append(f"subtitle skipped: {err}")
    for stream in _embedded_text_streams(probe_row, ep.series.language):
        where = f"{ep.media_path}#subtitle:{stream['index']}"
        try:
            text = media.extract_subtitle_stream(ep.media_path, stream["index"])
            return subtitles.parse_subtitle_text(text, fmt="srt", path=where, max_time_s=max_t), "embedded", warnings
        except InputError as err:
            warnings.append(f"subtitle skipped: {err}")
    return None, "none", warnings


def run_parse_subtitles(ep: EpisodeSource, store: DataStore, *, force: bool = False) -> StageResult:
    fp = subtitles_fingerprint(ep, store)
    if not force and store.is_current(ep.key, "subtitles", fp, SUBTITLE_OUTPUTS):
        return _skip(store, ep.key, "subtitles", fp, "subtitles.parquet")
    t0 = time.perf_counter()
    probe_row = read_row(store.path(ep.key, "probe.parquet"))
    parsed, source, warnings = load_subtitles(ep, probe_row)
    if parsed is not None:
        cues = parsed.to_table(ep.key)
        warnings += [f"{parsed.path}: {w}" for w in parsed.warnings]
    else:
        cues = CUE_SCHEMA.empty_table()
    tags = [t for t in cues.column("speaker_tag").to_pylist() if t]
    n_parts = cues.column("n_parts").to_pylist()
    row = {
        "episode_key": ep.key, "subtitle_source": source,
        "subtitle_path": parsed.path if parsed else None, "subtitle_format": parsed.format if parsed else None,
        "encoding": parsed.encoding if parsed else None, "n_cues": len({*cues.column("cue_index").to_pylist()}),
        "n_dropped": parsed.n_dropped if parsed else 0, "n_speaker_tags": len(tags),
        "n_dash_cues": sum(1 for p, n in zip(cues.column("part").to_pylist(), n_parts) if p == 0 and n > 1),
        "warnings": "\n".join(warnings),
    }
    for w in warnings:
        log.warning(w)
    write_parquet_atomic(store.path(ep.key, "cues.parquet"), cues)
    write_parquet_atomic(
        store.path(ep.key, "subtitles.parquet"), pa.Table.from_pylist([row], schema=SUBTITLE_INFO_SCHEMA)
    )
    store.write_stamp(ep.key, "subtitles", fp, n_cues=row["n_cues"], source=source)
    return StageResult("subtitles", ep.key, fp, row, seconds=time.perf_counter() - t0, warnings=warnings)


def read_row(path: str | Path) -> dict:
    """The single row of a one-row parquet artifact (probe, audio, subtitle info)."""
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()[0]
