"""Per-stage speed of the episode chain on a demo (or any media root laid out like one), next to ffmpeg decoding and
faster-whisper alone.

    .venv/bin/python benchmarks/pipeline_speed.py [--demo-dir demo_data] [--series NAME ...] [--threads 2]
                                                  [--enhance-streams 2] [--enhancement auto|on|off]
                                                  [--overlap-detection off|auto|on] [--no-series]

``--demo-dir`` holds ``media/`` (one folder per series, as ``audiorole demo`` writes it; the default demo is built
there when it is missing) and optionally ``truth/<series>/<episode>.lines.jsonl``. Every series under ``media/`` is
measured, subtitled or not, unless ``--series`` (repeatable; folder name, title or key) picks some.

Every stage is recomputed (force) for every episode with the default models, in one process (models loaded once,
as in a Dagster run), into a fresh temporary data store. Right after an episode's chain, faster-whisper alone
(same model, beam 1, the whole episode in one ``transcribe`` call, the usual baseline) runs on the same audio, so
both see the same load on a shared machine. Reported:

- per episode: audio minutes, seconds per stage, the chain, faster-whisper alone, and where the demo has ground
  truth the ASR stage's word error rate against the true lines (all words in time order);
- per stage: seconds, share, real-time factor (audio seconds / processing seconds, higher is faster) and the
  ratio to faster-whisper alone; the same for the whole chain, against the targets
  chain <= 2x faster-whisper alone and chain >= 15x real time;
- the series stages (``characters``, ``dialogues``, ``dataset_card``) once per series, after its episodes,
  reported beside the episode chain (``--no-series`` skips them);
- the time ffmpeg takes just to decode the media to 16 kHz PCM, and the peak memory of the process;
- the 1-minute load average before and after: the host's other load slows the chain and faster-whisper alike,
  so the ratio is the figure to compare, not the seconds.

``--enhancement`` and ``--overlap-detection`` default to ``AUDIOROLE_ENHANCEMENT`` / ``AUDIOROLE_OVERLAP_DETECTION``
(else ``auto`` / ``off``), as ``audiorole run`` reads them.

Measured (seconds depend on the host: compare figures from one run; ``/tmp/hard`` = ``audiorole demo --profile
hard``, the default demo = ``demo_data``, as in the README):

- vad, 2026-12-03 (187d2c1): silero-vad's sequence model, one ONNX call per 512 windows, the raw and
  level-normalized streams on two threads, against both streams batched window by window before: hard profile
  (59.8 min, ``--demo-dir /tmp/hard --overlap-detection auto``) 29.7 s -> 14.2 s, TV demo (10.9 min, no
  arguments) 5.5 s -> 2.3 s.
- enhance, two DeepFilterNet states on two threads against one (``--enhance-streams 2`` against
  ``--enhance-streams 1``), 2026-12-01 (9f513dd, a slow host): the demo's low-SNR spans 17.5 s -> 10.5 s, ~60% of
  the time. One libDF state on one of 2 shared cores: 2.7-3.0 s per audio minute of 16 kHz input (2026-11-25,
  4c81e13, a fast host), 9-10 s on a slow one (2026-12-01), resampling included, plus about 0.45 s per
  ``enhance`` call (fresh state, warm-up); compare the ``enhance`` stage's seconds with the ``enh s`` column.
- BACKGROUND_SNR_CEILING_DB (``audiorole.segments.enhance``), 2026-12-03 (99674dd; the ``enh s`` column; the
  per-region SNRs are ``enhance.choose_regions``' second and third returns, no script prints them): on the hard
  profile (RT60 0.46-0.72 s, normal talkers 25-35 dB over the room noise) 77-262 of 279-343 regions per 15-minute
  episode read below 8 dB WADA-SNR, 192-513 s of speech (83 s of DeepFilterNet on one episode), while their SNR
  against the background read 21-32 dB (10th-90th percentile of the normal talkers' regions). With both conditions
  every region chosen on the hard profile is a quiet talker's (5.8-10.4 dB over the noise) but 5 s of one episode's,
  and on the default demo (music + noise beds at 10-20 dB) the chosen regions are exactly those WADA-SNR alone chose
  (background SNR 5.9-14.6 dB). Since ab04825, enhancement ``auto`` leaves subtitle-less episodes as they are, so
  the hard profile's choice is now empty.
"""

from __future__ import annotations

import argparse
import json
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

#: chain / faster-whisper alone at most this
TARGET_VS_WHISPER = 2.0
#: chain real-time factor at least this
TARGET_REAL_TIME = 15.0


def asr_wer(words, truth_path: Path) -> tuple[float, float] | None:
    """WER and CER of the ASR words (time order) against the true lines (time order) of an episode."""
    import jiwer

    from audiorole.segments.asr import normalize_text
    from audiorole.scoring import load_truth_lines

    if not truth_path.is_file():
        return None
    ref = normalize_text(" ".join(line.text for line in sorted(load_truth_lines(truth_path), key=lambda l: l.start_s)))
    hyp = normalize_text(" ".join(w.text for w in sorted(words, key=lambda w: w.start)))
    if not ref:
        return None
    return float(jiwer.wer(ref, hyp)), float(jiwer.cer(ref, hyp))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--demo-dir", type=Path, default=Path("demo_data"))
    ap.add_argument("--series", action="append", default=[],
                    help="only this series (folder name, title or key); repeatable; default: every series")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--enhance-streams", type=int, default=2, help="DeepFilterNet states per episode")
    ap.add_argument("--enhancement", default=os.environ.get("AUDIOROLE_ENHANCEMENT", "auto"),
                    choices=["auto", "on", "off"])
    ap.add_argument("--overlap-detection", default=os.environ.get("AUDIOROLE_OVERLAP_DETECTION", "off"),
                    choices=["off", "auto", "on"])
    ap.add_argument("--no-series", action="store_true", help="skip the series stages (characters, dialogues, card)")
    args = ap.parse_args()
    load_before = os.getloadavg()[0]

    import torch

    torch.set_num_threads(args.threads)
    from audiorole.segments import stages as segments
    from audiorole.ingest import stages as ingest
    from audiorole.audio import load_audio
    from audiorole.discovery import discover_episodes
    from audiorole.store import DataStore
    from resources.models import AsrResource, DiarizationResource, EnhancementResource, SpeakerEmbeddingResource, VadResource

    media = args.demo_dir / "media"
    if not media.exists():
        from audiorole.demo import build_demo

        build_demo(args.demo_dir)
    wanted = set(args.series)
    episodes = [ep for ep in discover_episodes(media)[0]
                if not wanted or wanted & {ep.series.folder.name, ep.series.title, ep.series.key}]
    if not episodes:
        print(f"no episode under {media}" + (f" for series {sorted(wanted)}" if wanted else ""), file=sys.stderr)
        return 1
    store = DataStore(Path(tempfile.mkdtemp(prefix="audiorole-bench-")))

    t0 = time.perf_counter()
    vad = VadResource().get()
    emb = SpeakerEmbeddingResource().get()
    asr = AsrResource(cpu_threads=args.threads).get()
    enh = EnhancementResource(streams=args.enhance_streams, mode=args.enhancement)
    with enh.enhancer():  # loaded once per process, like the other models
        pass
    diarizer = DiarizationResource(overlap_detection=args.overlap_detection).get(emb)
    load_s = time.perf_counter() - t0

    stages = [
        ("probe", lambda ep: ingest.run_probe(ep, store, force=True)),
        ("standardize", lambda ep: ingest.run_standardize_audio(ep, store, force=True)),
        ("subtitles", lambda ep: ingest.run_parse_subtitles(ep, store, force=True)),
        ("vad", lambda ep: segments.run_speech_activity(ep, store, vad, force=True)),
        ("enhance", lambda ep: segments.run_enhancement(ep, store, enh.enhancer, mode=enh.mode,
                                                         below_snr_db=enh.below_snr_db, streams=enh.streams,
                                                         atten_lim_db=enh.atten_lim_db, force=True)),
        ("sync", lambda ep: segments.run_sync(ep, store, force=True)),
        ("diarization", lambda ep: segments.run_diarization(ep, store, diarizer, force=True)),
        ("asr", lambda ep: segments.run_transcript(ep, store, asr, force=True)),
        ("segments+embeddings", lambda ep: segments.run_segments(ep, store, emb, asr=asr, force=True)),
    ]
    names = [name for name, _ in stages]
    per_ep: list[dict] = []
    for ep in episodes:
        row: dict = {"key": ep.key, "stage_s": {}}
        for name, fn in stages:
            t = time.perf_counter()
            fn(ep)
            row["stage_s"][name] = time.perf_counter() - t
        row["audio_s"] = ingest.read_row(store.path(ep.key, "audio.parquet"))["audio_duration_s"]
        enh_row = json.loads(store.path(ep.key, "enhancement.json").read_text())
        row["enhanced_s"] = enh_row["enhanced_s"]
        t = time.perf_counter()
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(ep.media_path), "-ac", "1", "-ar",
                        "16000", "-f", "s16le", "-"], check=True, stdout=subprocess.DEVNULL)
        row["decode_s"] = time.perf_counter() - t
        wav = load_audio(store.path(ep.key, "audio.flac"))
        t = time.perf_counter()
        segs, _ = asr.model.transcribe(wav, beam_size=1)
        list(segs)
        row["whisper_s"] = time.perf_counter() - t
        row["wer"] = asr_wer(segments.read_words(store.path(ep.key, "words.parquet")),
                             args.demo_dir / "truth" / ep.series.folder.name / f"{ep.episode}.lines.jsonl")
        per_ep.append(row)
        print(f"  {ep.key}: {row['audio_s'] / 60:.1f} min, chain {sum(row['stage_s'].values()):.1f} s, "
              f"faster-whisper alone {row['whisper_s']:.1f} s", file=sys.stderr, flush=True)

    series_s: dict[str, float] = defaultdict(float)
    if not args.no_series:
        from audiorole.dataset import stages as dataset

        by_series: dict[str, list] = defaultdict(list)
        for ep in episodes:
            by_series[ep.series.key].append(ep)
        for eps in by_series.values():
            spec = eps[0].series
            for name, fn in (
                ("characters", lambda: dataset.run_characters(spec, store, eps, lambda: emb, force=True)),
                ("dialogues", lambda: dataset.run_dialogues(spec, store, force=True)),
                ("dataset_card", lambda: dataset.run_card(spec, store, force=True)),
            ):
                t = time.perf_counter()
                fn()
                series_s[name] += time.perf_counter() - t

    seconds = {name: sum(r["stage_s"][name] for r in per_ep) for name in names}
    audio_s = sum(r["audio_s"] for r in per_ep)
    decode_s = sum(r["decode_s"] for r in per_ep)
    whisper_s = sum(r["whisper_s"] for r in per_ep)
    total = sum(seconds.values())
    minutes = [r["audio_s"] / 60 for r in per_ep]
    series = sorted({ep.series.title for ep in episodes})
    print(f"{len(episodes)} episodes of {', '.join(series)}: {audio_s / 60:.1f} min of audio "
          f"({min(minutes):.1f}-{max(minutes):.1f} min per episode), {args.threads} threads; "
          f"model loading {load_s:.1f} s; enhancement {args.enhancement}, overlap detection "
          f"{args.overlap_detection}; load average (1 min) {load_before:.2f} before, {os.getloadavg()[0]:.2f} after "
          f"on {os.cpu_count()} CPUs")

    print("\nper episode (seconds; fw = faster-whisper alone)")
    short = {"probe": "probe", "standardize": "std", "subtitles": "subs", "vad": "vad", "enhance": "enh",
             "sync": "sync", "diarization": "diar", "asr": "asr", "segments+embeddings": "seg+emb"}
    head = "".join(f"{short.get(n, n[:8]):>8s}" for n in names)
    print(f"{'episode':24s} {'min':>5s}{head}{'chain':>8s}{'fw':>7s}{'chain/fw':>9s}{'asr/fw':>7s}{'asr WER':>8s}"
          f"{'enh s':>7s}")
    for r in per_ep:
        chain = sum(r["stage_s"].values())
        wer = f"{r['wer'][0]:8.3f}" if r["wer"] else f"{'-':>8s}"
        print(f"{r['key'][:24]:24s} {r['audio_s'] / 60:5.1f}" + "".join(f"{r['stage_s'][n]:8.2f}" for n in names)
              + f"{chain:8.1f}{r['whisper_s']:7.1f}{chain / r['whisper_s']:9.2f}"
              + f"{r['stage_s']['asr'] / r['whisper_s']:7.2f}{wer}{r['enhanced_s']:7.1f}")
    print("(enh s: seconds of speech regions chosen for enhancement)")

    print(f"\n{'stage':22s} {'seconds':>9s} {'share':>7s} {'x real time':>12s} {'/ fw alone':>11s}")
    for name, s in seconds.items():
        print(f"{name:22s} {s:9.2f} {s / total:7.1%} {audio_s / s:12.1f} {s / whisper_s:11.2f}")
    print(f"{'TOTAL chain':22s} {total:9.2f} {1:7.0%} {audio_s / total:12.1f} {total / whisper_s:11.2f}")
    for name, sec in series_s.items():
        print(f"{'  series: ' + name:22s} {sec:9.2f} {'':7s} {audio_s / sec:12.1f} {sec / whisper_s:11.2f}")
    if series_s:
        with_series = total + sum(series_s.values())
        print(f"{'chain + series stages':22s} {with_series:9.2f} {'':7s} {audio_s / with_series:12.1f} "
              f"{with_series / whisper_s:11.2f}")
    print(f"{'ffmpeg decode only':22s} {decode_s:9.2f} {'':7s} {audio_s / decode_s:12.1f} {decode_s / whisper_s:11.2f}")
    print(f"{'faster-whisper alone':22s} {whisper_s:9.2f} {'':7s} {audio_s / whisper_s:12.1f} {1:11.2f}")
    scored = [r["wer"] for r in per_ep if r["wer"]]
    if scored:
        print(f"asr vs true lines: mean WER {sum(w for w, _ in scored) / len(scored):.3f}, "
              f"mean CER {sum(c for _, c in scored) / len(scored):.3f} ({len(scored)} episodes with truth)")
    ratio, rtf = total / whisper_s, audio_s / total
    print(f"chain / faster-whisper alone = {ratio:.2f}x (target <= {TARGET_VS_WHISPER:g}x: "
          f"{'met' if ratio <= TARGET_VS_WHISPER else 'MISSED'}); chain real-time factor {rtf:.1f}x "
          f"(target >= {TARGET_REAL_TIME:g}x: {'met' if rtf >= TARGET_REAL_TIME else 'MISSED'})")
    print(f"peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
