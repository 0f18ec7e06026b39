"""The voice's own excitation under the converted envelope.

WORLD resynthesis of a converted envelope drives it with WORLD's excitation: pulses at the mapped F0 and noise by the
aperiodicity. Much of what a speaker encoder (and a listener) hears as *the* voice is in what that replaces: the
glottal pulse's shape, its jitter and breathiness, the phase. So a conversion can speak through an excitation bank
instead: a part of the voice's own train recordings, analysed in 5 ms frames (coded envelope, log-F0). To speak a
converted utterance, a Viterbi search picks one recorded frame per frame (``select``): the target cost is the
distance of the frame's coded envelope (first ``FEATURES`` coefficients, energy weighted down) to the converted one,
relative to the utterance's median distance of the best candidates, plus ``pitch_weight`` times a log-F0 distance
(capped at 4) and ``voicing`` (10) times a voicing mismatch, so that a voiced frame is excited by a voiced recording
whatever its pitch; a jump between frames that were not consecutive in the recording costs ``join``. Each chosen
frame's 20 ms of recorded audio then has its own spectral envelope divided out and the converted one put in
(``transplant``, in the STFT, weighted overlap-add; after a jump the window is taken up to 2.5 ms off its centre
where it best continues the previous one, as WSOLA joins): the words are the conversion's envelope, the excitation
is the voice's.

Measured on trained builds with ``benchmarks/speech_paths.py`` (each character's unseen test lines, their true text;
its ``tts-vc-world`` row is the same conversion through WORLD's excitation, with the aperiodicity of the voice's
nearest frames; 2026-12-07):

    build (lines per character)                     WORLD's excitation        the voice's recorded excitation
    the demo, a fresh clone (6 x 6; 22-39 s)         CER 0.065, AP-norm 0.69   CER 0.096, AP-norm 0.76
    Amazon Queen, 22 episodes (5 x 8; real actors)   CER 0.204, AP-norm 0.54   CER 0.224, AP-norm 0.66

(real recordings: CER 0.111 and 0.071; the table's recorded column is before the blend below). On Amazon Queen Faye went
from AP-norm 0.72 to 0.90 (CER 0.008 -> 0.021), Joe from 0.57 to 0.71 (0.054 -> 0.121), Klunk from 0.55 to 0.73 (0.472
-> 0.499; his own recordings are heard at 0.22); on the demo Rosa Alvarez (an espeak voice) from 0.50 to 0.69, Maggie
Chen from 0.73 to 0.88. Synthesis takes 0.055 s per second of speech on the demo (WORLD's 0.064: no aperiodicity to
analyse), 0.117 s on Amazon Queen, whose banks hold up to 300 s (0.061). Measured with one-offs and not kept (the demo's
and Amazon Queen's CER / AP-norm): a voicing mismatch costing as much as a small pitch distance (``voicing`` 1): 0.114 /
0.78 and 0.263 / 0.63 (Klunk, 41% of whose frames are voiced, at CER 0.68); 10-ms frames with 40-ms windows: 0.171 /
0.79 and 0.285 / 0.70 (consonants are short); windows of 15 or 30 ms on the demo: 0.124 / 0.77, 0.119 / 0.79; WORLD's
synthesis for the unvoiced frames and the transplant for the voiced, crossfaded: 0.151 / 0.76 (10 ms); a join cost of 1
or 4, 64 candidates, pitch weights 0 or 1: 0.08-0.116 / 0.76-0.78 on the demo. Recorded frames chosen for their
envelopes alone, without the transplant, kept the voice (AP-norm 0.83 on the demo) and lost the words (CER 0.55), as the
unit-selection decoder does; the recorded frames' envelopes taken into the WORLD conversion instead (their k-nearest
mean, blended) moved AP-norm by 0.01-0.03. A voice with a few seconds of recordings loses words this way
(``ConversionConfig.excitation_min_s``).

The envelope put in keeps a share of each chosen frame's own (``blend``; ``ConversionConfig.excitation_blend``,
0.2): the coded envelopes are mixed, so the spectra are mixed geometrically, the converted one's formants with a
fifth of the recording's. The conversion's envelope is a regression's average and the recording's is the voice's own
shape of the sound the search found nearest; the words stay the conversion's. The same trained builds and lines as
the table above, CER / AP-norm (``benchmarks/speech_paths.py --data-dir DIR --series S --mel-steps 0 [--per-character
8] --blend 0 --blend 0.3``; the last three rows a one-off sweep through ``speak``):

    blend                                   the demo (6 x 6)   Amazon Queen (5 x 8)
    0 (the recorded column above)           0.096 / 0.76       0.224 / 0.66
    0.2 (the default)                       0.106 / 0.80       0.217 / 0.73
    0.3                                     0.114 / 0.81       0.241 / 0.76
    0.4                                     0.152 / 0.81       -
    0.3 on voiced frames only               0.108 / 0.79       0.250 / 0.69
    coefficients 24-39 the recording's      0.107 / 0.76       -

Per character on Amazon Queen, AP-norm 0 -> 0.2: Faye 0.90 -> 0.95, Joe 0.71 -> 0.80, John 0.63 -> 0.69, Klunk 0.73 ->
0.81, Sparky 0.31 -> 0.41. The unvoiced frames' own envelopes carry the voice too (blending the voiced frames alone
gains less), and the recording's fine detail above the search's ``FEATURES`` coefficients adds nothing the transplant
does not already keep (it divides out the recorded frame's coded envelope only, so the detail above the code stays).
0.2 is where Amazon Queen's real actors lose no words; 0.3 costs them 0.02-0.03 of CER for 0.02-0.03 of AP-norm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audiorole.audio import SAMPLE_RATE

N_FFT = 1024
FEATURES = 24  # coded-envelope coefficients the search compares (0 is the energy)
ENERGY_WEIGHT = 0.1
BLOCK = 256  # target frames whose distances to the whole bank are held at once


@dataclass
class ExcitationBank:
    """A voice's recorded frames: ``audio`` (int16, the lines one after another; line ``i`` is
    ``audio[offsets[i]:offsets[i + 1]]``) and per WORLD analysis frame (``hop`` samples apart, 5 ms by default) its
    coded envelope, log-F0 (0 where unvoiced), line and position in the line (frame ``p`` is centred on sample
    ``p * hop`` of its line). Each frame speaks ``window`` (4 hops, 20 ms) of audio, Hann-weighted twice (analysis
    and synthesis) and overlap-added."""

    audio: np.ndarray  # (samples,) int16
    offsets: np.ndarray  # (lines + 1,) int64
    env: np.ndarray  # (N, D) float32
    lf0: np.ndarray  # (N,) float32
    line: np.ndarray  # (N,) int32
    pos: np.ndarray  # (N,) int32
    hop: int = SAMPLE_RATE // 200  # samples per frame: the WORLD analysis's frame period

    FIELDS = ("audio", "offsets", "env", "lf0", "line", "pos", "hop")

    @property
    def window(self) -> int:
        return 4 * self.hop

    @staticmethod
    def stride(total_s: float, max_s: float) -> int:
        """Every how many lines one is kept, for ``total_s`` seconds of lines to keep at most about ``max_s``."""
        return max(1, int(np.ceil(total_s / max_s)))

    @classmethod
    def from_lines(cls, lines: list[tuple[np.ndarray, np.ndarray, np.ndarray]], hop: int) -> ExcitationBank:
        """``lines``: (16 kHz recording, its WORLD F0 and coded envelope), analysed ``hop`` samples apart."""
        audio, offsets, env, lf0, line, pos = [], [0], [], [], [], []
        for wav, f0, cx in lines:
            n = min(len(f0), len(wav) // hop)
            if n < 2:
                continue
            audio.append(np.clip(np.round(wav * 32767), -32768, 32767).astype(np.int16))
            offsets.append(offsets[-1] + len(wav))
            env.append(cx[:n].astype(np.float32))
            lf0.append(np.where(f0[:n] > 0, np.log(np.maximum(f0[:n], 1.0)), 0.0).astype(np.float32))
            line.append(np.full(n, len(audio) - 1, np.int32))
            pos.append(np.arange(n, dtype=np.int32))
        if not audio:
            raise ValueError("no recorded line long enough for an excitation bank")
        return cls(np.concatenate(audio), np.asarray(offsets, np.int64), np.vstack(env), np.concatenate(lf0),
                   np.concatenate(line), np.concatenate(pos), hop)

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE

    def arrays(self, prefix: str = "exc_") -> dict[str, np.ndarray]:
        return {prefix + k: getattr(self, k) for k in self.FIELDS}

    @classmethod
    def from_arrays(cls, arrays: dict, prefix: str = "exc_") -> ExcitationBank | None:
        if prefix + "audio" not in arrays:
            return None
        fields = {k: np.asarray(arrays[prefix + k]) for k in cls.FIELDS}
        return cls(**fields | {"hop": int(fields["hop"])})

    def select(self, env: np.ndarray, lf0: np.ndarray, *, candidates: int = 32, join: float = 2.0,
               pitch_weight: float = 0.3, voicing: float = 10.0) -> np.ndarray:
        """Per target frame (coded envelope ``env``, log-F0 ``lf0``, 0 where unvoiced; ``hop`` samples apart), the
        index of the recorded frame the Viterbi search picks (the module's notes)."""
        w = np.sqrt(np.r_[ENERGY_WEIGHT, np.ones(FEATURES - 1)]).astype(np.float32)
        q = np.asarray(env[:, :FEATURES], np.float32) * w
        bank = self.env[:, :FEATURES].astype(np.float32) * w
        bank_sq = (bank ** 2).sum(1)
        k = min(candidates, len(bank))

        def distances(rows: slice) -> np.ndarray:  # (rows, N) squared distances, a block of target frames at a time
            return (q[rows] ** 2).sum(1)[:, None] - 2 * q[rows] @ bank.T + bank_sq[None]

        blocks = [slice(a, a + BLOCK) for a in range(0, len(q), BLOCK)]
        # the scale: the median distance of each target frame's best candidates
        scale = max(float(np.median(np.concatenate([np.partition(distances(b), k - 1, axis=1)[:, :k].ravel()
                                                    for b in blocks]))), 1e-9)
        bv = self.lf0 > 0
        cand, cost = np.zeros((len(q), k), np.int64), np.zeros((len(q), k))
        for b in blocks:
            d = distances(b) / scale
            tv = lf0[b] > 0
            pitch = np.where(tv[:, None] & bv[None], (lf0[b][:, None] - self.lf0[None]) / 0.1, 0.0) ** 2
            d += pitch_weight * (np.minimum(pitch, 4.0) + voicing * (tv[:, None] != bv[None]))
            cand[b] = np.argpartition(d, k - 1, axis=1)[:, :k]
            cost[b] = np.take_along_axis(d, cand[b], 1)
        acc, back = cost[0].copy(), np.zeros(cand.shape, np.int64)
        for t in range(1, len(cand)):
            p, c = cand[t - 1], cand[t]
            follows = (self.line[p][:, None] == self.line[c][None]) & (self.pos[p][:, None] + 1 == self.pos[c][None])
            total = acc[:, None] + np.where(follows, 0.0, join)
            back[t] = total.argmin(0)
            acc = total.min(0) + cost[t]
        path = np.zeros(len(cand), np.int64)
        path[-1] = acc.argmin()
        for t in range(len(cand) - 1, 0, -1):
            path[t - 1] = back[t, path[t]]
        return cand[np.arange(len(cand)), path]

    def windows(self, chosen: np.ndarray, win: np.ndarray, shift: int) -> np.ndarray:
        """(T, ``window``): each chosen frame's audio around its centre. Where a frame does not follow the one before in
        its recording, it is taken up to ``shift`` samples off its centre, where it best continues the previous
        window's waveform (normalized cross-correlation, as WSOLA joins): a join of two recordings' pitch periods
        out of phase cancels part of both."""
        from numpy.lib.stride_tricks import sliding_window_view

        audio, hop, window = self.audio, self.hop, self.window
        out = np.zeros((len(chosen), window))
        prev = None  # (the previous window's first sample, its line)
        for t, c in enumerate(chosen):
            line = int(self.line[c])
            start, end = self.offsets[line], self.offsets[line + 1]
            a = start + int(self.pos[c]) * hop - window // 2
            if prev is not None and prev[1] == line and self.pos[c] == self.pos[chosen[t - 1]] + 1:
                a = prev[0] + hop  # a run of the recording, as it was recorded
            elif prev is not None and shift:
                n0 = prev[0] + hop  # where the previous window's recording would go on
                nlo, nhi = max(n0, self.offsets[prev[1]]), min(n0 + window, self.offsets[prev[1] + 1])
                lo, hi = max(a - shift, start), min(a + shift + window, end)
                if nhi - nlo > window // 2 and hi - lo > window:
                    natural = np.zeros(window)
                    natural[nlo - n0:nhi - n0] = audio[nlo:nhi]
                    around = np.zeros(window + 2 * shift)
                    around[lo - a + shift:hi - a + shift] = audio[lo:hi]
                    cands = sliding_window_view(around, window)  # (2 shift + 1, window)
                    score = cands @ (natural * win) / np.sqrt((cands ** 2) @ win + 1e-6)
                    a += int(np.argmax(score)) - shift
            lo, hi = max(a, start), min(a + window, end)
            if hi > lo:
                out[t, lo - a:hi - a] = audio[lo:hi]
            prev = (a, line)
        return out / 32768.0

    def transplant(self, chosen: np.ndarray, env: np.ndarray, shift: int = 0, blend: float = 0.0) -> np.ndarray:
        """The chosen recorded frames' audio, each with its own spectral envelope divided out and ``env``'s frame
        (coded, one per chosen frame) put in, overlap-added ``hop`` apart: float32, ``len(chosen) * hop`` samples.
        ``blend``: the share of the recorded frame's own coded envelope mixed into ``env``'s (0: ``env`` alone; 1:
        the recording as it was)."""
        import pyworld

        if blend:
            env = (1.0 - blend) * np.asarray(env, np.float64) + blend * self.env[chosen]

        def amplitude(coded: np.ndarray) -> np.ndarray:
            power = pyworld.decode_spectral_envelope(np.ascontiguousarray(coded, np.float64), SAMPLE_RATE, N_FFT)
            return np.sqrt(power)

        gain = amplitude(env) / np.maximum(amplitude(self.env[chosen]), 1e-8)  # (T, N_FFT // 2 + 1)
        hop, window = self.hop, self.window
        win = np.hanning(window + 1)[:-1]  # periodic: its square overlap-adds to a constant
        frames = self.windows(chosen, win, shift)
        spec = np.fft.rfft(frames * win, N_FFT, axis=1) * gain
        frames = np.fft.irfft(spec, N_FFT, axis=1)[:, :window] * win
        out = np.zeros(len(chosen) * hop + window)
        for t in range(len(chosen)):
            out[t * hop:t * hop + window] += frames[t]
        y = out[window // 2:window // 2 + len(chosen) * hop] * (hop / (win ** 2).sum())
        return y.astype(np.float32)

    def speak(self, f0: np.ndarray, env: np.ndarray, shift: int | None = None, blend: float = 0.0,
              **search) -> np.ndarray:
        """A converted utterance (WORLD F0 and coded envelope, ``hop`` samples apart) with this voice's excitation;
        joins taken up to ``shift`` samples (default half a hop) off their frames' centres; ``blend`` of each chosen
        frame's own envelope kept (``transplant``)."""
        lf0 = np.where(f0 > 0, np.log(np.maximum(f0, 1.0)), 0.0)
        return self.transplant(self.select(env, lf0, **search), env, self.hop // 2 if shift is None else shift,
                               blend)
