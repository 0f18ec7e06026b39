"""Series stages: characters → dialogues → per-character shards, and the dataset card.

Like the episode stages, each is a plain function ``run_<stage>(...) -> StageResult`` that writes its artifacts
atomically, then a fingerprint stamp; a current stage is skipped. Layout under the data dir::

    series/<series key>/
      voices.parquet               one row per voice (cluster), its character, role and name source
      segment_characters.parquet   segment_id -> voice, character, similarity, margin
      dialogues.parquet            context → reply records        scenes.parquet  splits.parquet
      card/                        README.md, index.html, PNG plots
      _stamps/<stage>.json
    shards/<series key>/<character key>/   parquet shards, manifest.json, files.parquet, lhotse/cuts.jsonl.gz

A series is built from the episodes whose segments exist; the others (failed or not yet run upstream) are
reported as missing, and the series is rebuilt when they arrive (their stamps are part of the fingerprint).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from audiorole import card as card_mod
from audiorole.alignment import analysis_audio_path
from audiorole.audio import cut, load_audio
from audiorole.characters import (
    MAPPING_FILE, OTHER, SEGMENT_CHARACTER_SCHEMA, VOICE_SCHEMA, CharacterConfig, assign_characters, load_mapping,
)
from audiorole.dialogues import DIALOGUE_SCHEMA, SCENE_SCHEMA, DialogueConfig, assign_splits, episode_dialogues
from audiorole.discovery import EpisodeSource, SeriesSpec
from audiorole.ingest import StageResult
from audiorole.io import write_parquet_atomic
from audiorole.media import decode_audio
from audiorole.shards import ShardConfig, verify_manifest, write_character_shards, write_lhotse_cuts
from audiorole.store import DataStore, current_stamp, file_identity, fingerprint, read_stamp, upstream_fingerprint, write_stamp

CHARACTERS_VERSION = "3"
ENROLLMENT_MIN_S = 1.0  # an enrollment clip shorter than this says too little about a voice
DIALOGUES_VERSION = "2"  # 2: no empty test or validation split in a series of 10+ episodes
SHARDS_VERSION = "1"
CARD_VERSION = "2"

SPLIT_SCHEMA = pa.schema([("series_key", pa.string()), ("episode_key", pa.string()), ("split", pa.string())])
SHARD_FILE_SCHEMA = pa.schema([
    ("series_key", pa.string()), ("character", pa.string()), ("character_key", pa.string()), ("split", pa.string()),
    ("path", pa.string()), ("rows", pa.int64()), ("bytes", pa.int64()), ("sha256", pa.string()),
    ("hours", pa.float64()),
])


# paths and stamps -------------------------------------------------------------------------------------------------
def series_dir(store: DataStore, series_key: str) -> Path:
    return store.root / "series" / series_key


def shard_dir(store: DataStore, series_key: str, character_key: str) -> Path:
    return store.root / "shards" / series_key / character_key


def _source_identity(path: Path) -> list | None:
    return file_identity(path) if path.exists() else None


# inputs -------------------------------------------------------------------------------------------------------------
def episode_inputs(store: DataStore, episodes: list[EpisodeSource]) -> tuple[list[str], list[str], list[str]]:
    """(present episode keys, missing ones, the present ones' segments fingerprints) of a series."""
    present, missing, fps = [], [], []
    for ep in sorted(episodes, key=lambda e: e.key):
        stamp = store.read_stamp(ep.key, "segments")
        if stamp and store.path(ep.key, "segments.parquet").exists():
            present.append(ep.key)
            fps.append(stamp["fingerprint"])
        else:
            missing.append(ep.key)
    return present, missing, fps


def read_segments(store: DataStore, keys: list[str], embeddings: bool = True) -> list[dict]:
    rows = []
    for k in keys:
        t = pq.read_table(store.path(k, "segments.parquet"))
        if not embeddings:
            t = t.drop_columns(["embedding"])
        rows.extend(t.to_pylist())
    return rows


# characters ----------------------------------------------------------------------------------------------------
CHARACTER_OUTPUTS = ["voices.parquet", "segment_characters.parquet"]


def characters_fingerprint(spec: SeriesSpec, store: DataStore, episodes: list[EpisodeSource],
                           config: CharacterConfig, embedder_name: str) -> str:
    _, missing, fps = episode_inputs(store, episodes)
    return fingerprint("characters", CHARACTERS_VERSION, fps, missing, asdict(config), embedder_name,
                       _source_identity(spec.folder / "series.yaml"), _source_identity(spec.folder / MAPPING_FILE),
                       [_source_identity(Path(c)) for ch in spec.characters for c in ch.enrollment])


def run_characters(spec: SeriesSpec, store: DataStore, episodes: list[EpisodeSource], embedder_factory, *,
                   config: CharacterConfig = CharacterConfig(), embedder_name: str = "resemblyzer",
                   force: bool = False) -> StageResult:
    """Cluster the series' voices and name them. ``embedder_factory()`` is called only for enrollment clips."""
    folder = series_dir(store, spec.key)
    fp = characters_fingerprint(spec, store, episodes, config, embedder_name)
    stamp = None if force else current_stamp(folder, "characters", fp, CHARACTER_OUTPUTS)
    if stamp:
        return StageResult("characters", spec.key, fp, stamp, skipped=True)
    t0 = time.perf_counter()
    present, missing, _ = episode_inputs(store, episodes)
    if not present:
        raise RuntimeError(f"{spec.key}: no episode of this series has segments yet "
                           f"(missing: {', '.join(missing) or 'no episodes'})")
    mapping = load_mapping(spec.folder / MAPPING_FILE)
    enrolled = {}
    clips = {ch.name: ch.enrollment for ch in spec.characters if ch.enrollment}
    if clips:
        embedder = embedder_factory()
        enrolled = {name: embedder.embed_many([decode_audio(c, min_s=ENROLLMENT_MIN_S) for c in paths]).mean(axis=0)
                    for name, paths in clips.items()}
    previous = {}
    if (folder / "voices.parquet").exists():
        prev = pq.read_table(folder / "voices.parquet", columns=["voice_id", "centroid"]).to_pylist()
        previous = {r["voice_id"]: np.asarray(r["centroid"], np.float32) for r in prev if r["centroid"]}
    segments = read_segments(store, present)
    result = assign_characters(segments, spec, mapping=mapping, enrolled=enrolled, previous=previous, config=config)
    write_parquet_atomic(folder / "voices.parquet", pa.Table.from_pylist(result.voices, schema=VOICE_SCHEMA))
    write_parquet_atomic(folder / "segment_characters.parquet",
                         pa.Table.from_pylist(result.segments, schema=SEGMENT_CHARACTER_SCHEMA))
    attributed = [r for r in result.segments if r["attribution"] == "embedding"]
    confident = sum(r["character_margin"] >= config.confident_margin for r in attributed)
    row = {
        "n_voices": len(result.voices),
        "characters": sorted({v["character"] for v in result.voices if v["role"] == "main"}),
        "n_minor_voices": sum(v["role"] == "minor" for v in result.voices),
        "episodes": present, "missing_episodes": missing,
        "confident_share": round(confident / len(attributed), 4) if attributed else None,
        "name_sources": {v["character"]: v["name_source"] for v in result.voices if v["role"] == "main"},
    }
    write_stamp(folder, "characters", fp, **row)
    return StageResult("characters", spec.key, fp, row, seconds=time.perf_counter() - t0, warnings=result.warnings)


def read_voices(store: DataStore, series_key: str) -> list[dict]:
    return pq.read_table(series_dir(store, series_key) / "voices.parquet").to_pylist()


def segments_with_characters(store: DataStore, series_key: str, keys: list[str]) -> list[dict]:
    """The series' segments (no embeddings) with voice_id, character, character_key, similarity and margin."""
    folder = series_dir(store, series_key)
    chars = {r["segment_id"]: r for r in pq.read_table(folder / "segment_characters.parquet").to_pylist()}
    key_of = {v["character"]: v["character_key"] for v in read_voices(store, series_key)}
    rows = read_segments(store, keys, embeddings=False)
    for r in rows:
        c = chars.get(r["segment_id"], {})
        r["series_key"] = series_key
        r.update({k: c.get(k) for k in ("voice_id", "character", "character_similarity", "character_margin")})
        r["character_key"] = key_of.get(r["character"]) if r["character"] else None
    return rows


# dialogues -----------------------------------------------------------------------------------------------------
DIALOGUE_OUTPUTS = ["dialogues.parquet", "scenes.parquet", "splits.parquet"]


def dialogues_fingerprint(spec: SeriesSpec, store: DataStore, config: DialogueConfig) -> str:
    folder = series_dir(store, spec.key)
    return fingerprint("dialogues", DIALOGUES_VERSION, upstream_fingerprint(folder, "characters"), asdict(config),
                       sorted(spec.splits))


def gap_level(wav: np.ndarray):
    """RMS level (dBFS) of the audio between two times: tells a music bridge from a quiet pause."""
    def level(a: float, b: float) -> float | None:
        x = cut(wav, a, b)
        return float(20 * np.log10(np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-12)) if len(x) else None
    return level


def run_dialogues(spec: SeriesSpec, store: DataStore, *, config: DialogueConfig = DialogueConfig(),
                  force: bool = False) -> StageResult:
    folder = series_dir(store, spec.key)
    fp = dialogues_fingerprint(spec, store, config)
    stamp = None if force else current_stamp(folder, "dialogues", fp, DIALOGUE_OUTPUTS)
    if stamp:
        return StageResult("dialogues", spec.key, fp, stamp, skipped=True)
    t0 = time.perf_counter()
    keys = read_stamp(folder, "characters")["episodes"]
    overrides = spec.split_overrides
    unknown = sorted(set(overrides) - set(keys) - set(read_stamp(folder, "characters")["missing_episodes"]))
    warnings = [f"series.yaml pins a split for an unknown episode: {k}" for k in unknown]
    splits = assign_splits(keys, (1 - config.validation_share - config.test_share, config.validation_share, config.test_share), {k: s for k, s in overrides.items() if k in keys})
    by_episode: dict[str, list[dict]] = {}
    for r in segments_with_characters(store, spec.key, keys):
        by_episode.setdefault(r["episode_key"], []).append(r)
    records, scenes = [], []
    for k in keys:
        audio = store.path(k, "audio.flac")
        recs, scn = episode_dialogues(k, spec.key, by_episode.get(k, []), splits[k],
                                      str(analysis_audio_path(store, k)), gap_level_dbfs=gap_level(load_audio(audio)),
                                      config=config)
        records += recs
        scenes += scn
    write_parquet_atomic(folder / "dialogues.parquet", pa.Table.from_pylist(records, schema=DIALOGUE_SCHEMA))
    write_parquet_atomic(folder / "scenes.parquet", pa.Table.from_pylist(scenes, schema=SCENE_SCHEMA))
    write_parquet_atomic(folder / "splits.parquet", pa.Table.from_pylist(
        [{"series_key": spec.key, "episode_key": k, "split": s} for k, s in sorted(splits.items())],
        schema=SPLIT_SCHEMA))
    row = {
        "n_dialogues": len(records), "n_scenes": len(scenes),
        "kinds": {k: sum(r["kind"] == k for r in records) for k in ("single_turn", "multi_turn")},
        "splits": {s: sorted(k for k, v in splits.items() if v == s) for s in ("train", "validation", "test")},
    }
    write_stamp(folder, "dialogues", fp, **row)
    return StageResult("dialogues", spec.key, fp, row, seconds=time.perf_counter() - t0, warnings=warnings)


def split_leaks(store: DataStore, series_key: str) -> list[str]:
    """Episodes or scenes that appear in more than one split (should be none)."""
    folder = series_dir(store, series_key)
    problems = []
    for col in ("episode_key", "scene_id"):
        t = pq.read_table(folder / "dialogues.parquet", columns=[col, "split"]).to_pylist()
        seen: dict[str, set] = {}
        for r in t:
            seen.setdefault(r[col], set()).add(r["split"])
        problems += [f"{col} {k} in {sorted(v)}" for k, v in seen.items() if len(v) > 1]
    return problems


# shards ---------------------------------------------------------------------------------------------------------
SHARD_OUTPUTS = ["manifest.json", "files.parquet", "lhotse/cuts.jsonl.gz"]


def character_keys(store: DataStore, series_key: str) -> list[str]:
    """Shard partition keys (``<series>/<character key>``) of the series' main characters."""
    return sorted({f"{series_key}/{v['character_key']}" for v in read_voices(store, series_key)
                   if v["role"] == "main" and v["character"] != OTHER})


def shards_fingerprint(store: DataStore, series_key: str, character_key: str, config: ShardConfig) -> str:
    folder = series_dir(store, series_key)
    return fingerprint("shards", SHARDS_VERSION, upstream_fingerprint(folder, "dialogues"), character_key, asdict(config))


def run_shards(series_key: str, character_key: str, store: DataStore, *, config: ShardConfig = ShardConfig(),
               force: bool = False) -> StageResult:
    key = f"{series_key}/{character_key}"
    out = shard_dir(store, series_key, character_key)
    fp = shards_fingerprint(store, series_key, character_key, config)
    stamp = None if force else current_stamp(out, "shards", fp, SHARD_OUTPUTS)
    if stamp:
        return StageResult("shards", key, fp, stamp, skipped=True)
    t0 = time.perf_counter()
    folder = series_dir(store, series_key)
    keys = read_stamp(folder, "characters")["episodes"]
    splits = {r["episode_key"]: r["split"] for r in pq.read_table(folder / "splits.parquet").to_pylist()}
    rows = [r for r in segments_with_characters(store, series_key, keys)
            if r["keep"] and r["character_key"] == character_key]
    if not rows:
        raise RuntimeError(f"{key}: no kept segment is attributed to this character (was it renamed or merged? "
                           "re-materialize characters and drop stale character partitions)")
    # context and scene of each utterance: from its dialogue record with the most context
    best: dict[str, dict] = {}
    for d in pq.read_table(folder / "dialogues.parquet", columns=["reply", "context", "scene_id", "n_context"],
                           filters=[("character_key", "=", character_key)]).to_pylist():
        sid = d["reply"]["segment_id"]
        if sid not in best or d["n_context"] > best[sid]["n_context"]:
            best[sid] = d
    scenes = pq.read_table(folder / "scenes.parquet").to_pylist()
    for r in rows:
        r["split"] = splits[r["episode_key"]]
        d = best.get(r["segment_id"])
        r["context"] = (d["context"][-config.context_turns:] if d else [])
        r["scene_id"] = d["scene_id"] if d else next(
            (s["scene_id"] for s in scenes if s["episode_key"] == r["episode_key"]
             and s["start_s"] <= r["start_s"] <= s["end_s"]), None)
    cache: dict[str, tuple] = {}

    def audio_for(ep_key: str):
        if ep_key not in cache:
            cache.clear()  # rows come sorted by episode within a split: keep one episode's audio in memory
            p = analysis_audio_path(store, ep_key)
            cache[ep_key] = (load_audio(p), str(p))
        return cache[ep_key]

    character = rows[0]["character"]
    manifest = write_character_shards(out, rows, audio_for, series_key=series_key, character=character, config=config)
    n_cuts = write_lhotse_cuts(out / "lhotse" / "cuts.jsonl.gz", rows, lambda k: str(analysis_audio_path(store, k)))
    files = [{"series_key": series_key, "character": character, "character_key": character_key, "split": f["split"],
              "path": str(out / f["path"]), "rows": f["rows"], "bytes": f["bytes"], "sha256": f["sha256"],
              "hours": f["duration_s"] / 3600} for f in manifest["files"]]
    write_parquet_atomic(out / "files.parquet", pa.Table.from_pylist(files, schema=SHARD_FILE_SCHEMA))
    row = {"character": character, "n_rows": manifest["n_rows"], "hours": manifest["hours"],
           "n_files": len(files), "bytes": sum(f["bytes"] for f in files), "splits": manifest["splits"],
           "n_lhotse_cuts": n_cuts}
    write_stamp(out, "shards", fp, **row)
    return StageResult("shards", key, fp, row, seconds=time.perf_counter() - t0)


def shard_problems(store: DataStore, series_key: str, character_key: str) -> list[str]:
    out = shard_dir(store, series_key, character_key)
    if not (out / "manifest.json").exists():
        return [f"{out}: no manifest"]
    manifest = json.loads((out / "manifest.json").read_text())
    problems = verify_manifest(out)
    if manifest["n_rows"] == 0:
        problems.append(f"{out}: empty shard")
    return problems


# dataset card ---------------------------------------------------------------------------------------------------
CARD_OUTPUTS = ["card/README.md", "card/index.html"]


def card_fingerprint(spec: SeriesSpec, store: DataStore) -> str:
    folder = series_dir(store, spec.key)
    return fingerprint("card", CARD_VERSION, upstream_fingerprint(folder, "dialogues"), spec.title)


def run_card(spec: SeriesSpec, store: DataStore, *, force: bool = False) -> StageResult:
    folder = series_dir(store, spec.key)
    fp = card_fingerprint(spec, store)
    stamp = None if force else current_stamp(folder, "card", fp, CARD_OUTPUTS)
    if stamp:
        return StageResult("card", spec.key, fp, stamp, skipped=True)
    t0 = time.perf_counter()
    chars = read_stamp(folder, "characters")
    segments = segments_with_characters(store, spec.key, chars["episodes"])
    dialogues = pq.read_table(folder / "dialogues.parquet", columns=["character", "kind"]).to_pylist()
    splits = {r["episode_key"]: r["split"] for r in pq.read_table(folder / "splits.parquet").to_pylist()}
    stats = card_mod.card_stats(spec.title, spec.key, segments, read_voices(store, spec.key), dialogues, splits,
                                chars["missing_episodes"])
    files = card_mod.write_card(folder / "card", stats)
    row = {"files": files, "card": str(folder / "card" / "index.html"), "kept_hours": round(stats["kept_hours"], 4),
           "characters": [c["character"] for c in stats["characters"]]}
    write_stamp(folder, "card", fp, **row)
    return StageResult("card", spec.key, fp, row, seconds=time.perf_counter() - t0)


def retire_characters(store: DataStore, series_key: str, current: list[str]) -> list[str]:
    """Move the shard folders of characters that no longer exist (renamed or merged by the curator) to
    ``shards/_retired/``, out of the catalog. Returns their partition keys."""
    root = store.root / "shards" / series_key
    retired = []
    for folder in sorted(p for p in root.glob("*") if p.is_dir()) if root.exists() else []:
        key = f"{series_key}/{folder.name}"
        if key not in current:
            target = store.root / "shards" / "_retired" / series_key / f"{folder.name}-{time.strftime('%Y%m%d%H%M%S')}"
            target.parent.mkdir(parents=True, exist_ok=True)
            folder.rename(target)
            retired.append(key)
    return retired


def stale_series_stages(spec: SeriesSpec, store: DataStore, episodes: list[EpisodeSource], *,
                        characters: CharacterConfig = CharacterConfig(), dialogues: DialogueConfig = DialogueConfig(),
                        embedder_name: str = "resemblyzer") -> list[str]:
    """The series stages that would recompute (a stage is stale when an upstream one is)."""
    folder = series_dir(store, spec.key)
    stages = ["characters", "dialogues", "card"]
    if not current_stamp(folder, "characters", characters_fingerprint(spec, store, episodes, characters, embedder_name),
                    CHARACTER_OUTPUTS):
        return stages
    if not current_stamp(folder, "dialogues", dialogues_fingerprint(spec, store, dialogues), DIALOGUE_OUTPUTS):
        return stages[1:]
    if not current_stamp(folder, "card", card_fingerprint(spec, store), CARD_OUTPUTS):
        return stages[2:]
    return []


def shards_current(store: DataStore, series_key: str, character_key: str, config: ShardConfig = ShardConfig()) -> bool:
    out = shard_dir(store, series_key, character_key)
    try:
        fp = shards_fingerprint(store, series_key, character_key, config)
    except RuntimeError:
        return False
    return current_stamp(out, "shards", fp, SHARD_OUTPUTS) is not None
