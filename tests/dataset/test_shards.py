"""Per-character shards: size bound, manifest checksums, and the two exports (HF datasets, lhotse)."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from audiorole.dataset.shards import ShardConfig, verify_manifest, write_character_shards, write_lhotse_cuts


@pytest.fixture
def episode_audio(tmp_path):
    t = np.arange(16000 * 20) / 16000
    wav = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 0.5 * t)) / 2).astype(np.float32)
    path = tmp_path / "audio.flac"
    sf.write(path, wav, 16000)
    return wav, path


def rows(n=12):
    return [{"segment_id": f"show/e1#{i:04d}", "series_key": "show", "episode_key": "show/e1", "scene_id": "show/e1/scene000",
             "split": "test" if i < 3 else "train", "character": "Maggie", "start_s": i * 1.5, "end_s": i * 1.5 + 1.2,
             "text": f"line {i}", "text_source": "subtitle", "asr_text": f"line {i}", "cer": 0.0, "language": "en",
             "snr_db": 20.0, "character_similarity": 0.9, "character_margin": 0.2,
             "attribution": "subtitle_tag" if i % 2 else "embedding",
             "context": [{"character": "Theo", "text": "hi", "start_s": 0.0, "end_s": 1.0}] if i else []}
            for i in range(n)]


def test_shards_are_size_bounded_and_checksummed(tmp_path, episode_audio):
    wav, path = episode_audio
    out = tmp_path / "maggie"
    (out / "train-00099.parquet").parent.mkdir(parents=True)
    (out / "train-00099.parquet").write_bytes(b"stale")
    m = write_character_shards(out, rows(), lambda k: (wav, str(path)), series_key="show", character="Maggie",
                               config=ShardConfig(max_shard_bytes=10_000))
    assert m["n_rows"] == 12 and m["splits"]["test"]["rows"] == 3 and len(m["files"]) > 2
    assert not (out / "train-00099.parquet").exists()  # a stale file of an earlier run is gone
    assert all(f["bytes"] > 0 and len(f["sha256"]) == 64 for f in m["files"])
    assert sum(pq.ParquetFile(out / f["path"]).metadata.num_rows for f in m["files"]) == 12
    assert verify_manifest(out) == []
    victim = out / m["files"][0]["path"]
    victim.write_bytes(victim.read_bytes()[:-10] + b"0123456789")
    assert any("checksum mismatch" in p for p in verify_manifest(out))


def test_shards_load_in_hf_datasets_and_lhotse(tmp_path, episode_audio):
    wav, path = episode_audio
    out = tmp_path / "maggie"
    write_character_shards(out, rows(), lambda k: (wav, str(path)), series_key="show", character="Maggie")
    from datasets import load_dataset

    ds = load_dataset("parquet", data_files={"train": str(out / "train-*.parquet"), "test": str(out / "test-*.parquet")},
                      cache_dir=str(tmp_path / "hf"))
    assert ds["train"].num_rows == 9 and ds["test"].num_rows == 3
    ex = ds["test"][1]
    audio = ex["audio"]
    samples = audio["array"] if isinstance(audio, dict) else audio.get_all_samples().data.numpy().ravel()
    rate = audio["sampling_rate"] if isinstance(audio, dict) else audio.get_all_samples().sample_rate
    assert rate == 16000 and abs(len(samples) - 1.2 * 16000) < 2
    ref = wav[int(1.5 * 16000):int(1.5 * 16000) + len(samples)]
    assert np.max(np.abs(np.asarray(samples) - ref)) < 1e-3  # 16-bit FLAC of the same samples
    assert ex["text"] == "line 1" and ex["context"][0]["character"] == "Theo"
    assert ex["attribution"] == "subtitle_tag" and ds["test"][0]["attribution"] == "embedding"

    from lhotse import CutSet

    n = write_lhotse_cuts(out / "lhotse" / "cuts.jsonl.gz", rows(), lambda k: str(path))
    cuts = CutSet.from_file(out / "lhotse" / "cuts.jsonl.gz").to_eager()
    assert n == len(cuts) == 12
    cut = cuts["show/e1#0004"]
    assert cut.supervisions[0].speaker == "Maggie" and cut.supervisions[0].custom["split"] == "train"
    x = cut.load_audio()
    assert x.shape == (1, int(round(1.2 * 16000)))
    assert np.max(np.abs(x[0] - wav[int(6.0 * 16000):int(6.0 * 16000) + x.shape[1]])) < 1e-3
    json.loads((out / "manifest.json").read_text())
