"""Series stages: characters → dialogues → dataset card, and per-character shards; each declared once
(``audiorole.stage.Stage``) and run by ``run_<stage>``; ``<stage>_inputs`` are its fingerprint's inputs besides
its upstream stamps. Where they write: ``audiorole.store``.

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

from audiorole.dataset import card as card_mod
from audiorole.segments.stages import analysis_audio_path
from audiorole.audio import cut, load_audio
from audiorole.dataset.characters import (
    MAPPING_FILE, OTHER, SEGMENT_CHARACTER_SCHEMA, VOICE_SCHEMA, CharacterConfig, assign_characters, load_mapping,
)
from audiorole.dataset.dialogues import DIALOGUE_SCHEMA, SCENE_SCHEMA, DialogueConfig, assign_splits, episode_dialogues
from audiorole.discovery import EpisodeSource, SeriesSpec
from audiorole.io import write_parquet_atomic
from audiorole.media import decode_audio
from audiorole.dataset.shards import ShardConfig, verify_manifest, write_character_shards, write_lhotse_cuts
from audiorole.segments.stages import ALIGNED_SEGMENTS
from audiorole.segments.language import language_code, language_inputs
from audiorole.stage import Stage, StageResult
from audiorole.store import DataStore, file_identity

# 4: subtitle tags constrain the voice clustering (one name one voice, two names never merge)
# 6: refinement lets a voice into an episode whose tags name its character when none of the episode's voices does
CHARACTERS = Stage("characters", stamp="characters", version="7", scope="series", folder="series",
                   outputs=("voices.parquet", "segment_characters.parquet"), upstream=("aligned_segments",),
                   fan_in=("aligned_segments",))
# 2: no empty test or validation split in a series of 10+ episodes
# 3: one character's consecutive utterances are one turn (dialogues.merge_turns)
DIALOGUES = Stage("dialogues", stamp="dialogues", version="3", scope="series", folder="series",
                  outputs=("dialogues.parquet", "scenes.parquet", "splits.parquet"), upstream=("characters",))
DATASET_CARD = Stage("dataset_card", stamp="card", version="3", scope="series", folder="series",
                     outputs=("card/README.md", "card/index.html"), upstream=("dialogues",))
CHARACTER_SHARDS = Stage("character_shards", stamp="shards", version="2", scope="character", folder="shards",
                         outputs=("manifest.json", "files.parquet", "lhotse/cuts.jsonl.gz"), upstream=("dialogues",))
ENROLLMENT_MIN_S = 1.0  # an enrollment clip shorter than this says too little about a voice

SPLIT_SCHEMA = pa.schema([("series_key", pa.string()), ("episode_key", pa.string()), ("split", pa.string())])
SHARD_FILE_SCHEMA = pa.schema([
    ("series_key", pa.string()), ("character", pa.string()), ("character_key", pa.string()), ("split", pa.string()),
    ("path", pa.string()), ("rows", pa.int64()), ("bytes", pa.int64()), ("sha256", pa.string()),
    ("hours", pa.float64()),
])


def _source_identity(path: Path) -> list | None:
    return file_identity(path) if path.exists() else None


# inputs -------------------------------------------------------------------------------------------------------------
def episode_inputs(store: DataStore, episodes: list[EpisodeSource]) -> tuple[list[str], list[str], list[str]]:
    """(present episode keys, missing ones, the present ones' segments fingerprints) of a series."""
    present, missing, fps = [], [], []
    for ep in sorted(episodes, key=lambda e: e.key):
        stamp = ALIGNED_SEGMENTS.read_stamp(store, ep.key)
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
def characters_inputs(spec: SeriesSpec, store: DataStore, episodes: list[EpisodeSource], config: CharacterConfig,
                      embedder_name: str) -> list:
    """The present episodes' segments fingerprints and the missing ones (the fan-in), then config and sources."""
    _, missing, fps = episode_inputs(store, episodes)
    return [fps, missing, asdict(config), embedder_name, _source_identity(spec.folder / "series.yaml"),
            _source_identity(spec.folder / MAPPING_FILE),
            [_source_identity(Path(c)) for ch in spec.characters for c in ch.enrollment]]


def run_characters(spec: SeriesSpec, store: DataStore, episodes: list[EpisodeSource], embedder_factory, *,
                   config: CharacterConfig = CharacterConfig(), embedder_name: str = "resemblyzer",
                   force: bool = False) -> StageResult:
    """Cluster the series' voices and name them. ``embedder_factory()`` is called only for enrollment clips."""
    inputs = characters_inputs(spec, store, episodes, config, embedder_name)
    return CHARACTERS.run(store, spec.key, inputs, lambda folder: _characters(spec, store, episodes, embedder_factory,
                                                                              config, folder), force=force)


def _characters(spec: SeriesSpec, store: DataStore, episodes: list[EpisodeSource], embedder_factory,
                config: CharacterConfig, folder: Path) -> tuple[dict, list[str]]:
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
    # kept segments; one its own cue's tag attributes is confident whatever its voice margin
    attributed = [r for r in result.segments if r["attribution"] in ("embedding", "subtitle_tag")]
    confident = sum(r["attribution"] == "subtitle_tag" or r["character_margin"] >= config.confident_margin
                    for r in attributed)
    row = {
        "n_voices": len(result.voices),
        "characters": sorted({v["character"] for v in result.voices if v["role"] == "main"}),
        "n_minor_voices": sum(v["role"] == "minor" for v in result.voices),
        "episodes": present, "missing_episodes": missing,
        "confident_share": round(confident / len(attributed), 4) if attributed else None,
        # the speaker space the subtitle tags taught: the names and the tagged lines it was learned from
        "projection": ({"names": len(result.projection.classes), "tagged_lines": result.projection.n_lines}
                       if result.projection else None),
        "name_sources": {v["character"]: v["name_source"] for v in result.voices if v["role"] == "main"},
    }
    return row, result.warnings


def read_voices(store: DataStore, series_key: str) -> list[dict]:
    return pq.read_table(store.series_dir(series_key) / "voices.parquet").to_pylist()


def segments_with_characters(store: DataStore, series_key: str, keys: list[str]) -> list[dict]:
    """The series' segments (no embeddings) with voice_id, character, character_key, similarity, margin and
    attribution (how the character was decided: ``subtitle_tag``, ``embedding`` or ``diarization``)."""
    folder = store.series_dir(series_key)
    chars = {r["segment_id"]: r for r in pq.read_table(folder / "segment_characters.parquet").to_pylist()}
    key_of = {v["character"]: v["character_key"] for v in read_voices(store, series_key)}
    rows = read_segments(store, keys, embeddings=False)
    for r in rows:
        c = chars.get(r["segment_id"], {})
        r["series_key"] = series_key
        r.update({k: c.get(k) for k in ("voice_id", "character", "character_similarity", "character_margin",
                                        "attribution")})
        r["character_key"] = key_of.get(r["character"]) if r["character"] else None
    return rows



def train_speech(store: DataStore, series_key: str) -> dict[str, float]:
    """Seconds of kept speech per character key in the series' train-split episodes: what a model of the character
    can learn from (the ARP-Model's training and the test set's eligibility read the same figure)."""
    folder = store.series_dir(series_key)
    splits = {r["episode_key"]: r["split"] for r in pq.read_table(folder / "splits.parquet").to_pylist()}
    seconds: dict[str, float] = {}
    for r in segments_with_characters(store, series_key, CHARACTERS.read_stamp(store, series_key)["episodes"]):
        if r["keep"] and r["character_key"] and splits.get(r["episode_key"]) == "train":
            seconds[r["character_key"]] = seconds.get(r["character_key"], 0.0) + r["end_s"] - r["start_s"]
    return seconds

# dialogues -----------------------------------------------------------------------------------------------------
def dialogues_inputs(spec: SeriesSpec, config: DialogueConfig) -> list:
    return [asdict(config), sorted(spec.splits)]


def gap_level(wav: np.ndarray):
    """RMS level (dBFS) of the audio between two times: tells a music bridge from a quiet pause."""
    def level(a: float, b: float) -> float | None:
        x = cut(wav, a, b)
        return float(20 * np.log10(np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-12)) if len(x) else None
    return level


def run_dialogues(spec: SeriesSpec, store: DataStore, *, config: DialogueConfig = DialogueConfig(),
                  force: bool = False) -> StageResult:
    return DIALOGUES.run(store, spec.key, dialogues_inputs(spec, config),
                         lambda folder: _dialogues(spec, store, config, folder), force=force)


def _dialogues(spec: SeriesSpec, store: DataStore, config: DialogueConfig, folder: Path) -> tuple[dict, list[str]]:
    chars = CHARACTERS.read_stamp(store, spec.key)
    keys = chars["episodes"]
    overrides = spec.split_overrides
    unknown = sorted(set(overrides) - set(keys) - set(chars["missing_episodes"]))
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
    return row, warnings


def split_leaks(store: DataStore, series_key: str) -> list[str]:
    """Episodes or scenes that appear in more than one split (should be none)."""
    folder = store.series_dir(series_key)
    problems = []
    for col in ("episode_key", "scene_id"):
        t = pq.read_table(folder / "dialogues.parquet", columns=[col, "split"]).to_pylist()
        seen: dict[str, set] = {}
        for r in t:
            seen.setdefault(r[col], set()).add(r["split"])
        problems += [f"{col} {k} in {sorted(v)}" for k, v in seen.items() if len(v) > 1]
    return problems


# shards ---------------------------------------------------------------------------------------------------------
def character_keys(store: DataStore, series_key: str) -> list[str]:
    """Shard partition keys (``<series>/<character key>``) of the series' main characters."""
    return sorted({f"{series_key}/{v['character_key']}" for v in read_voices(store, series_key)
                   if v["role"] == "main" and v["character"] != OTHER})


def shards_inputs(key: str, config: ShardConfig) -> list:
    return [key.split("/", 1)[1], asdict(config)]


def run_shards(series_key: str, character_key: str, store: DataStore, *, config: ShardConfig = ShardConfig(),
               force: bool = False) -> StageResult:
    key = f"{series_key}/{character_key}"
    return CHARACTER_SHARDS.run(store, key, shards_inputs(key, config),
                                lambda out: _shards(store, series_key, character_key, config, out), force=force)


def _shards(store: DataStore, series_key: str, character_key: str, config: ShardConfig, out: Path) -> dict:
    key = f"{series_key}/{character_key}"
    folder = store.series_dir(series_key)
    keys = CHARACTERS.read_stamp(store, series_key)["episodes"]
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
        for sid in d["reply"]["segment_ids"]:
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
    return row


def shard_problems(store: DataStore, series_key: str, character_key: str) -> list[str]:
    out = store.shard_dir(f"{series_key}/{character_key}")
    if not (out / "manifest.json").exists():
        return [f"{out}: no manifest"]
    manifest = json.loads((out / "manifest.json").read_text())
    problems = verify_manifest(out)
    if manifest["n_rows"] == 0:
        problems.append(f"{out}: empty shard")
    return problems


# dataset card ---------------------------------------------------------------------------------------------------
def card_inputs(spec: SeriesSpec) -> list:
    return [spec.title, *language_inputs(spec.language)]


def run_card(spec: SeriesSpec, store: DataStore, *, force: bool = False) -> StageResult:
    def compute(folder: Path) -> dict:
        chars = CHARACTERS.read_stamp(store, spec.key)
        segments = segments_with_characters(store, spec.key, chars["episodes"])
        dialogues = pq.read_table(folder / "dialogues.parquet", columns=["character", "kind"]).to_pylist()
        splits = {r["episode_key"]: r["split"] for r in pq.read_table(folder / "splits.parquet").to_pylist()}
        stats = card_mod.card_stats(spec.title, spec.key, segments, read_voices(store, spec.key), dialogues, splits,
                                    chars["missing_episodes"], language=language_code(spec.language))
        files = card_mod.write_card(folder / "card", stats)
        return {"files": files, "card": str(folder / "card" / "index.html"),
                "kept_hours": round(stats["kept_hours"], 4), "characters": [c["character"] for c in stats["characters"]]}

    return DATASET_CARD.run(store, spec.key, card_inputs(spec), compute, force=force)


def retire_characters(store: DataStore, series_key: str, current: list[str]) -> list[str]:
    """Move the shard folders of characters that no longer exist (renamed or merged by the curator) to
    ``shards/_retired/``, out of the catalog. Returns their partition keys."""
    root = store.shards_root / series_key
    retired = []
    for folder in sorted(p for p in root.glob("*") if p.is_dir()) if root.exists() else []:
        key = f"{series_key}/{folder.name}"
        if key not in current:
            target = store.shards_root / "_retired" / series_key / f"{folder.name}-{time.strftime('%Y%m%d%H%M%S')}"
            target.parent.mkdir(parents=True, exist_ok=True)
            folder.rename(target)
            retired.append(key)
    return retired
