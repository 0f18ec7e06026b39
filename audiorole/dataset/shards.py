"""Per-character shards: size-bounded parquet files with each kept utterance's audio (FLAC bytes), text, context
and metadata, a manifest with checksums, and a lhotse CutSet.

Layout under the data dir::

    shards/<series key>/<character key>/
      train-00000.parquet ...      one split per file prefix; a new file every ``max_shard_bytes``
      manifest.json                files, rows, bytes, sha256, hours per split; written last
      lhotse/cuts.jsonl.gz         lhotse CutSet over the episode audio (same utterances, same times)

The parquet files carry Hugging Face ``datasets`` features in their schema metadata, so
``load_dataset("parquet", data_files=...)`` decodes ``audio`` as an ``Audio`` column at 16 kHz.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import soundfile as sf

from audiorole.audio import SAMPLE_RATE, cut
from audiorole.io import atomic_path, sha256_file, write_json_atomic

SHARD_FORMAT_VERSION = 2  # 2: the attribution column

_CONTEXT_TURN = pa.struct([
    ("character", pa.string()), ("text", pa.string()), ("start_s", pa.float64()), ("end_s", pa.float64()),
])
SHARD_SCHEMA = pa.schema(
    [
        ("segment_id", pa.string()), ("series_key", pa.string()), ("episode_key", pa.string()),
        ("scene_id", pa.string()), ("split", pa.string()), ("character", pa.string()),
        ("start_s", pa.float64()), ("end_s", pa.float64()), ("duration_s", pa.float64()),
        ("text", pa.string()), ("text_source", pa.string()), ("asr_text", pa.string()), ("cer", pa.float32()),
        ("language", pa.string()), ("snr_db", pa.float32()),
        ("character_similarity", pa.float32()), ("character_margin", pa.float32()),
        # how the line's character was decided: "subtitle_tag" (its own cue names the voice) or "embedding"
        ("attribution", pa.string()),
        ("context", pa.list_(_CONTEXT_TURN)),  # preceding turns of the scene, oldest first
        ("audio", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),  # FLAC, 16 kHz mono
    ]
)


@dataclass(frozen=True)
class ShardConfig:
    max_shard_bytes: int = 256 * 1024 * 1024  # a new parquet file starts past this size (audio dominates)
    context_turns: int = 4  # preceding scene turns stored with each utterance


def flac_bytes(wav: np.ndarray, sr: int = SAMPLE_RATE) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, wav, sr, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def hf_features_metadata(schema: pa.Schema) -> bytes:
    """The ``huggingface`` schema metadata that makes ``datasets`` read ``audio`` as an Audio feature."""
    from datasets import Audio, Features

    feats = Features.from_arrow_schema(schema)
    feats["audio"] = Audio(sampling_rate=SAMPLE_RATE)
    return json.dumps({"info": {"features": feats.to_dict()}}).encode("utf-8")


def write_character_shards(
    out_dir: Path,
    rows: list[dict],
    audio_for_episode,
    *,
    series_key: str,
    character: str,
    config: ShardConfig = ShardConfig(),
) -> dict:
    """Write one character's shards and manifest; returns the manifest.

    ``rows``: the character's kept segments (SEGMENT_SCHEMA + character/split/scene_id/context keys), any order.
    ``audio_for_episode(episode_key) -> (wav, path)``: the episode audio the utterances are cut from.
    Files are written to temporary names and renamed; stale shard files of an earlier run are removed after the
    new manifest is in place, so a reader never sees a mix.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    schema = SHARD_SCHEMA.with_metadata({b"huggingface": hf_features_metadata(SHARD_SCHEMA)})
    rows = sorted(rows, key=lambda r: (r["split"], r["episode_key"], r["start_s"]))
    files = []
    by_split: dict[str, list[dict]] = {}
    for r in rows:
        by_split.setdefault(r["split"], []).append(r)
    for split, split_rows in sorted(by_split.items()):
        batch, batch_bytes, part = [], 0, 0
        for i, r in enumerate(split_rows):
            wav, path = audio_for_episode(r["episode_key"])
            audio = flac_bytes(cut(wav, r["start_s"], r["end_s"]))
            batch.append(_shard_row(r, audio, f"{r['segment_id'].replace('/', '_').replace('#', '_')}.flac"))
            batch_bytes += len(audio)
            if batch_bytes >= config.max_shard_bytes or i == len(split_rows) - 1:
                files.append(_write_shard(out_dir / f"{split}-{part:05d}.parquet", batch, schema, split))
                batch, batch_bytes, part = [], 0, part + 1
    manifest = {
        "format_version": SHARD_FORMAT_VERSION, "series_key": series_key, "character": character,
        "sample_rate": SAMPLE_RATE, "audio_codec": "flac", "n_rows": sum(f["rows"] for f in files),
        "hours": round(sum(f["duration_s"] for f in files) / 3600, 6),
        "splits": {s: {"rows": sum(f["rows"] for f in files if f["split"] == s),
                       "hours": round(sum(f["duration_s"] for f in files if f["split"] == s) / 3600, 6)}
                   for s in sorted(by_split)},
        "files": files,
    }
    write_json_atomic(out_dir / "manifest.json", manifest)
    keep = {f["path"] for f in files}
    for stale in out_dir.glob("*.parquet"):
        if stale.name not in keep:
            stale.unlink()
    return manifest


def _shard_row(r: dict, audio: bytes, name: str) -> dict:
    return {
        "segment_id": r["segment_id"], "series_key": r["series_key"], "episode_key": r["episode_key"],
        "scene_id": r.get("scene_id"), "split": r["split"], "character": r["character"],
        "start_s": r["start_s"], "end_s": r["end_s"], "duration_s": round(r["end_s"] - r["start_s"], 3),
        "text": r["text"], "text_source": r["text_source"], "asr_text": r.get("asr_text"), "cer": r.get("cer"),
        "language": r.get("language"), "snr_db": r.get("snr_db"),
        "character_similarity": r.get("character_similarity"), "character_margin": r.get("character_margin"),
        "attribution": r.get("attribution"),
        "context": [{k: t.get(k) for k in ("character", "text", "start_s", "end_s")} for t in r.get("context") or []],
        "audio": {"bytes": audio, "path": name},
    }


def _write_shard(path: Path, rows: list[dict], schema: pa.Schema, split: str) -> dict:
    table = pa.Table.from_pylist(rows, schema=schema)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, row_group_size=256, compression="zstd")
    return {"path": path.name, "split": split, "rows": table.num_rows, "bytes": path.stat().st_size,
            "sha256": sha256_file(path), "duration_s": round(float(sum(r["duration_s"] for r in rows)), 3)}


def verify_manifest(out_dir: Path) -> list[str]:
    """Problems with a character's shards (missing file, checksum or row count mismatch); empty when sound."""
    manifest = json.loads((out_dir / "manifest.json").read_text())
    problems = []
    for f in manifest["files"]:
        p = out_dir / f["path"]
        if not p.exists():
            problems.append(f"{p}: missing")
        elif sha256_file(p) != f["sha256"]:
            problems.append(f"{p}: checksum mismatch")
        elif pq.ParquetFile(p).metadata.num_rows != f["rows"]:
            problems.append(f"{p}: row count mismatch")
    return problems


def write_lhotse_cuts(path: Path, rows: list[dict], audio_path_for_episode) -> int:
    """A lhotse CutSet (jsonl.gz) of the same utterances over the episode audio files. Returns the cut count."""
    from lhotse import CutSet, MonoCut, Recording, SupervisionSegment

    recordings: dict[str, Recording] = {}
    cuts = []
    for r in sorted(rows, key=lambda r: (r["episode_key"], r["start_s"])):
        ek = r["episode_key"]
        if ek not in recordings:
            recordings[ek] = Recording.from_file(audio_path_for_episode(ek), recording_id=ek)
        rec = recordings[ek]
        start = round(r["start_s"], 3)
        duration = round(min(r["end_s"], rec.duration) - start, 3)
        sup = SupervisionSegment(
            id=r["segment_id"], recording_id=ek, start=0.0, duration=duration, channel=0, text=r["text"],
            speaker=r["character"], language=r.get("language"),
            custom={"split": r["split"], "scene_id": r.get("scene_id"), "episode_start_s": start},
        )
        cuts.append(MonoCut(id=r["segment_id"], start=start, duration=duration, channel=0, recording=rec,
                            supervisions=[sup]))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".jsonl.gz") as tmp:
        CutSet.from_cuts(cuts).to_file(tmp)
    return len(cuts)
