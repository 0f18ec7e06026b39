"""Episode ingest stages: probe the media, standardize the audio, parse the subtitles.

Each stage is declared once (``audiorole.stage.Stage``) and run by ``run_<stage>(episode, store, ...)``: it writes
its artifacts atomically, then its stamp. ``<stage>_inputs`` are its fingerprint's inputs besides its upstream
stamps, known without running anything (``audiorole.pipeline`` asks them to tell what is stale).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pyarrow as pa

from audiorole import media
from audiorole.discovery import EpisodeSource
from audiorole.errors import InputError
from audiorole.ingest import subtitles
from audiorole.io import write_parquet_atomic
from audiorole.schema import CUE_SCHEMA
from audiorole.stage import Stage, StageResult
from audiorole.store import DataStore, file_identity

log = logging.getLogger(__name__)

# Bump a stage's version when its output changes for the same input: every episode then becomes stale.
PROBE = Stage("probed_media", stamp="probe", version="1", scope="episode", folder="episode",
              outputs=("probe.parquet",))
STANDARDIZED_AUDIO = Stage("standardized_audio", stamp="audio", version="3", scope="episode", folder="episode",
                           outputs=("audio.flac", "audio.parquet"), upstream=("probed_media",))
PARSED_SUBTITLES = Stage("parsed_subtitles", stamp="subtitles", version="2", scope="episode", folder="episode",
                         outputs=("cues.parquet", "subtitles.parquet"), upstream=("probed_media",))


# probe ------------------------------------------------------------------------------------------------------------
def probe_inputs(ep: EpisodeSource) -> list:
    return [file_identity(ep.media_path)]


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
    def compute(folder: Path) -> dict:
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
        write_parquet_atomic(folder / "probe.parquet", pa.Table.from_pylist([row], schema=PROBE_SCHEMA))
        return row

    return PROBE.run(store, ep.key, probe_inputs(ep), compute, force=force)


# audio ------------------------------------------------------------------------------------------------------------
def audio_inputs(loudnorm: bool = True, highpass_hz: float | None = media.HIGHPASS_HZ) -> list:
    return [loudnorm, highpass_hz]


AUDIO_SCHEMA = pa.schema(
    [
        ("episode_key", pa.string()), ("audio_path", pa.string()), ("sample_rate", pa.int32()),
        ("n_samples", pa.int64()), ("audio_duration_s", pa.float64()), ("loudnorm", pa.bool_()),
        ("loudness_lufs", pa.float64()), ("gain_db", pa.float64()),
    ]
)


def run_standardize_audio(
    ep: EpisodeSource, store: DataStore, *, loudnorm: bool = True, highpass_hz: float | None = media.HIGHPASS_HZ,
    force: bool = False
) -> StageResult:
    def compute(folder: Path) -> dict:
        declared = PROBE.read_stamp(store, ep.key).get("duration_s")
        facts = media.standardize_audio(ep.media_path, folder / "audio.flac", loudnorm=loudnorm,
                                        expected_duration_s=declared, highpass_hz=highpass_hz)
        row = {
            "episode_key": ep.key, "audio_path": str(folder / "audio.flac"), "sample_rate": facts["sample_rate"],
            "n_samples": facts["n_samples"], "audio_duration_s": facts["duration_s"], "loudnorm": loudnorm,
            "loudness_lufs": facts["loudness_lufs"], "gain_db": facts["gain_db"],
        }
        write_parquet_atomic(folder / "audio.parquet", pa.Table.from_pylist([row], schema=AUDIO_SCHEMA))
        return {**row, "duration_s": facts["duration_s"], "highpass_hz": highpass_hz}

    return STANDARDIZED_AUDIO.run(store, ep.key, audio_inputs(loudnorm, highpass_hz), compute, force=force)


# subtitles --------------------------------------------------------------------------------------------------------
def subtitles_inputs(ep: EpisodeSource) -> list:
    return [[file_identity(p) for p in ep.subtitle_paths]]


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
    return PARSED_SUBTITLES.run(store, ep.key, subtitles_inputs(ep), lambda folder: _parse_subtitles(ep, folder),
                                force=force)


def _parse_subtitles(ep: EpisodeSource, folder: Path) -> tuple[dict, list[str]]:
    parsed, source, warnings = load_subtitles(ep, read_row(folder / "probe.parquet"))
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
    write_parquet_atomic(folder / "cues.parquet", cues)
    write_parquet_atomic(folder / "subtitles.parquet", pa.Table.from_pylist([row], schema=SUBTITLE_INFO_SCHEMA))
    return {**row, "source": source}, warnings


def read_row(path: str | Path) -> dict:
    """The single row of a one-row parquet artifact (probe, audio, subtitle info)."""
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()[0]
