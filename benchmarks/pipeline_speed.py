"""Per-stage speed of the episode chain on the demo series, next to ffmpeg decoding and faster-whisper alone.

    .venv/bin/python benchmarks/pipeline_speed.py [--demo-dir demo_data] [--threads 2] [--enhance-streams 2]

Every stage is recomputed (force) for every demo episode with the default models, in one process (models loaded
once, as in a Dagster run). Reports seconds and real-time factor (audio seconds / processing seconds, higher is
faster) per stage and in total, the time ffmpeg takes just to decode the same media to 16 kHz PCM, the time
faster-whisper alone (same model, beam 1, whole episode) takes, and the peak memory of the process.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--demo-dir", type=Path, default=Path("demo_data"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--enhance-streams", type=int, default=2, help="DeepFilterNet states per episode")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from audiorole import alignment, ingest
    from audiorole.audio import load_audio
    from audiorole.discovery import discover_episodes
    from audiorole.store import DataStore
    from resources.models import AsrResource, DiarizationResource, EnhancementResource, SpeakerEmbeddingResource, VadResource

    media = args.demo_dir / "media"
    if not media.exists():
        from audiorole.demo import build_demo

        build_demo(args.demo_dir)
    store = DataStore(Path(tempfile.mkdtemp(prefix="audiorole-bench-")))
    episodes = [ep for ep in discover_episodes(media)[0] if ep.series.folder.name == "Maple Street"]

    t0 = time.perf_counter()
    vad = VadResource().get()
    emb = SpeakerEmbeddingResource().get()
    asr = AsrResource(cpu_threads=args.threads).get()
    enh = EnhancementResource(streams=args.enhance_streams)
    with enh.enhancer():  # loaded once per process, like the other models
        pass
    diarizer = DiarizationResource().get(emb)
    load_s = time.perf_counter() - t0

    seconds = defaultdict(float)
    audio_s = 0.0
    stages = [
        ("probe", lambda ep: ingest.run_probe(ep, store, force=True)),
        ("standardize", lambda ep: ingest.run_standardize_audio(ep, store, force=True)),
        ("subtitles", lambda ep: ingest.run_parse_subtitles(ep, store, force=True)),
        ("vad", lambda ep: alignment.run_speech_activity(ep, store, vad, force=True)),
        ("enhance", lambda ep: alignment.run_enhancement(ep, store, enh.enhancer, mode=enh.mode,
                                                         below_snr_db=enh.below_snr_db, streams=enh.streams,
                                                         atten_lim_db=enh.atten_lim_db, force=True)),
        ("sync", lambda ep: alignment.run_sync(ep, store, force=True)),
        ("diarization", lambda ep: alignment.run_diarization(ep, store, diarizer, force=True)),
        ("asr", lambda ep: alignment.run_transcript(ep, store, asr, force=True)),
        ("segments+embeddings", lambda ep: alignment.run_segments(ep, store, emb, force=True)),
    ]
    for ep in episodes:
        for name, fn in stages:
            t = time.perf_counter()
            fn(ep)
            seconds[name] += time.perf_counter() - t
        audio_s += ingest.read_row(store.path(ep.key, "audio.parquet"))["audio_duration_s"]

    decode_s = 0.0
    whisper_s = 0.0
    for ep in episodes:
        t = time.perf_counter()
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(ep.media_path), "-ac", "1", "-ar",
                        "16000", "-f", "s16le", "-"], check=True, stdout=subprocess.DEVNULL)
        decode_s += time.perf_counter() - t
        wav = load_audio(store.path(ep.key, "audio.flac"))
        t = time.perf_counter()
        segs, _ = asr.model.transcribe(wav, beam_size=1)
        list(segs)
        whisper_s += time.perf_counter() - t

    total = sum(seconds.values())
    print(f"{len(episodes)} episodes, {audio_s / 60:.1f} min of audio, {args.threads} threads; model loading {load_s:.1f} s")
    print(f"{'stage':22s} {'seconds':>9s} {'share':>7s} {'x real time':>12s}")
    for name, s in seconds.items():
        print(f"{name:22s} {s:9.2f} {s / total:7.1%} {audio_s / s:12.1f}")
    print(f"{'TOTAL chain':22s} {total:9.2f} {1:7.0%} {audio_s / total:12.1f}")
    print(f"{'ffmpeg decode only':22s} {decode_s:9.2f} {'':7s} {audio_s / decode_s:12.1f}")
    print(f"{'faster-whisper alone':22s} {whisper_s:9.2f} {'':7s} {audio_s / whisper_s:12.1f}")
    print(f"chain / faster-whisper alone = {total / whisper_s:.2f}x (target <= 3x); "
          f"chain real-time factor {audio_s / total:.1f}x (target >= 20x)")
    print(f"peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
