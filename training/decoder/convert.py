"""Voice conversion from the bridge's TTS voice to a character's voice, learned from parallel speech the series
already holds: each of the character's train-split lines, as the episode has it, and the same text read by the
TTS voice (``training.bridge.read_aloud``).

Classic parallel conversion on WORLD spectral envelopes (after Stylianou 1998 / Toda 2007): both readings are
analysed with WORLD (F0, spectral envelope coded to ``order`` mel-cepstrum-like coefficients, aperiodicity) and
aligned frame to frame by DTW on the envelopes. A Gaussian mixture of the readings' envelopes (one voice's, shared by
every character) splits them into classes of sound; per class, a character's envelope is a linear function of the
reading's. Converting a new TTS reading keeps its timing, words and aperiodicity; its envelope becomes the
posterior-weighted mean of the classes' functions, and its log-F0 takes the character's mean and spread.

A character's functions are learned from its own lines *with the series' as prior* (``fit_voices``,
``relevance``): every voice's frame pairs pooled give one mapping from the reading to the series' voices, and each
voice's least squares adds ``relevance`` frames' worth of that mapping's statistics to its own (the conjugate MAP
estimate of a linear regression). A class where the voice has minutes of frames is its own; one where it has a few
seconds takes the series' shape and the voice's offset as far as its frames show it. Fitted on its own lines alone, a
voice with seconds of speech got 40 × 41 coefficients per class from too few frames, and its conversions were noise:
on Amazon Queen (4 episodes of 8 minutes) Sparky, 6.8 s of train speech, was heard at CER 0.87 (20 unseen test
lines). Measured with a one-off refit of the conversions on trained builds (each voice's unseen test lines, their
true text, scored as ``benchmarks/speech_paths.py`` scores them; 2026-12-07):

    build (lines per character)          per voice alone (a joint GMM each)   series prior, relevance 400
    the demo (6 x 6)                     CER 0.177, AP-norm 0.74               CER 0.065, AP-norm 0.69
    Amazon Queen, Joe (20; 364 s)        CER 0.12, AP-norm 0.29                CER 0.14, AP-norm 0.19
    Amazon Queen, Sparky (20; 6.8 s)     CER 0.87, AP-norm -0.87               CER 0.21, AP-norm -0.21

Relevance 100 took the demo to 0.110 / 0.71 and Sparky to 0.50 / -0.49; 1600, 0.056 / 0.61 on the demo. Each voice
alone with the shared classes (relevance 0) scored 0.173 / 0.67 on the demo: the classes of the readings alone cost
a little of the voice that a joint mixture per voice (the classes placed by both voices' frames) kept, and more
classes cost more (16: 0.092 / 0.63 at relevance 400; 32: 0.168 / 0.54). The voices are learned together in about a
fifth of the time (the demo's six in 11 s against 50 s), since one mixture is fitted instead of two per voice.

The converted envelope speaks through the voice's own recorded frames by default (``excitation`` "recorded",
``training.decoder.excitation``: per frame a recorded frame picked by a Viterbi search, its envelope swapped for the
converted one): on Amazon Queen's real actors AP-norm 0.54 -> 0.66 at a CER of 0.204 -> 0.224, on the demo 0.69 -> 0.76
at 0.065 -> 0.096, and with a fifth of each recorded frame's own envelope kept (``excitation_blend``) 0.73 and 0.80 at
0.217 and 0.106 (that module's notes). A voice with fewer than ``excitation_min_s`` seconds of recordings, or
``excitation`` "world", speaks through WORLD's excitation, which is the character's own in part: each converted frame
takes the mean aperiodicity of the ``ap_neighbours`` frames of the character's recordings whose envelopes are nearest
the converted one (a voice's breathiness and buzz are much of what makes it theirs, and the mixture maps envelopes
only). In a one-off comparison on 24 test lines of the 3-episode demo this moved the converted speech's speaker
similarity from 0.50 to 0.55 (normalized like ARP-Eval's AP) and top-1 identification from 0.61 to 0.87, at a CER of
0.226 against 0.202 (taking the neighbours' envelopes too reached 0.60 / 0.96 but a CER of 0.29);
``benchmarks/speech_paths.py --ap-neighbours 0`` measures the first pair.

The mixture's conditional mean is an average, and averaged envelopes sound muffled and like nobody in particular: each
converted utterance's coefficients get back the spread they have in the voice's own voiced frames (the global variance
post-filter of Toda et al. 2007, in closed form). With it, and 40 coefficients instead of 24, a one-off comparison (the
same build, conversions refitted per setting, 2 × 8 unseen test lines) moved Amazon Queen's Joe — a real actor, 11 kHz —
from −2.56 to −0.28 normalized (0 = another character's real line; the voices of that series are close, which stretches
the scale), at the same CER (0.11 → 0.12); on the demo (6 × 6 lines) from 0.55 to 0.63 at a CER of 0.237 → 0.193. Either
change alone did less (global variance: −0.81 and 0.64; order 40: −1.93 and 0.52). On the pyannote sample's two close
telephone voices it turned the identification of one conversion from wrong to right (the unit test holds both). On Fish
Fillets' two fish (Czech, read by Festival's voice; 2 × 8 unseen lines, the recorded excitation with its blend,
conversions refitted per setting in a one-off; 2026-12-07) it is what keeps the words: CER 0.428 and AP-norm 0.76 with
it, 0.617 and 0.59 without; 4 components instead of 8 gave 0.461 / 0.69, a relevance of 1600 instead of 400 0.409 /
0.76.

The mixture reads one frame at a time and is linear within a class of sound, so a frame between two sounds gets an
average of the classes' answers. A small network that reads each frame with its two neighbours on each side
(``training.decoder.mapping``) learns the same pairs, and the envelope is the mean of the two mappings
(``mlp_weight``, 0.5). Each alone is a different trade between the words and the voice; their mean kept the mixture's
words (within 0.01 of its CER, or better) with more of the voice on every build measured
(``benchmarks/speech_paths.py --mel-steps 0 [--per-character 8] --mlp-weight 0 --mlp-weight 1`` on decoders refitted
with it, 2026-12-07; CER / AP-norm):

    build (lines per character)          the mixture alone   the network alone   their mean (default)
    the demo (6 x 6)                     0.106 / 0.80        0.194 / 0.79        0.102 / 0.81
    Amazon Queen, 22 episodes (5 x 8)    0.217 / 0.73        0.187 / 0.76        0.184 / 0.79
    Fish Fillets, 6 episodes (2 x 8)     0.428 / 0.76        0.521 / 0.86        0.435 / 0.81

A share of 0.3 or 0.7 instead (``--mlp-weight 0.3 --mlp-weight 0.7``): the demo 0.074 / 0.81 and 0.112 / 0.81, Amazon
Queen 0.186 / 0.75 and 0.188 / 0.77, Fish Fillets 0.436 / 0.75 and 0.504 / 0.83; the real actors are best served at
0.5. Refitted with other networks (one-offs): four frames on each side, the demo 0.112 / 0.81; 16 passes instead of 8,
Fish Fillets 0.507 / 0.85 (the network alone 0.567 / 0.87): longer training buys voice with words. Refitting with the
defaults gave 0.435 / 0.81 again: the fit is reproducible.

Where Fish Fillets' words go (one-offs on that build): the reading's own envelope, with the fish's pitch and recorded
excitation, is heard at 0.150 / 0.16 (the reading itself 0.123), so it is the envelope's mapping that loses them.
Mixing a quarter of the reading's envelope back in trades voice for words (0.269 / 0.71 there, 0.131 / 0.47 on Amazon
Queen, whose voices are close); a quarter of the reading's deviation from its classes' means added back, 0.378 / 0.74
and 0.202 / 0.63; emphasizing the converted envelope's formants (coefficients from the second on times 1.1, 1.2, 1.4)
lost both (0.450 / 0.72, 0.470 / 0.69, 0.459 / 0.56).

The first alignment compares two voices' own envelopes, and where they differ most, DTW pairs frames badly: the
mapping learns from frames of other sounds. So the TTS frames are aligned again through the first fit (its converted
envelopes, already in the character's space, against the recorded ones) and the regressions are fitted again on the
new pairs (``realign``, one round). With a joint mixture per voice (before the series prior), on a trained 3-episode
demo (6 characters x 6 unseen lines): CER 0.243 -> 0.151, AP 0.68 -> 0.71 (normalized); on Amazon Queen's Joe CER
0.191 -> 0.124, AP -0.57 -> -0.48.

A voice also has its own speaking rate, and the reading has the TTS voice's: a conversion speaks at the voice's
``tempo``, its time per unit of the reading's over the parallel lines (``speaking_rate``: the recorded frames the
alignment maps each reading's speech to, against the reading's own), the WORLD parameters stretched to it (``stretch``).
``benchmarks/speech_paths.py`` on Amazon Queen (4 episodes of 8 minutes, 20 unseen test lines): Joe, a real actor who
speaks 1.15 times as long as the reading, went from CER 0.155 to 0.109 and AP 0.26 to 0.45 (normalized, the pair of
encoders ARP-Eval scores with). A voice measured faster than the reading keeps the reading's timing (``tempo_bounds``
starts at 1): a reading compressed to the voice's rate lost words and voice on Fish Fillets, whose fish speak at 0.80
and 0.89 of Festival's Czech reading (8 unseen lines each: CER 0.630 → 0.655, AP 0.64 → 0.54), and changed little on the
demo, whose voices run at 0.88–0.99 (CER 0.177 → 0.176, AP 0.74 → 0.73). A real fast speaker articulates for it; a
uniformly compressed reading does not. The rate is measured, never tuned to the score: both speaker encoders hear slowed
speech as nearer every demo voice (AP 0.78 at 1.2 times the reading's time, 0.80 at 1.7, where the CER is 0.30), and a
first estimate of the rate from voiced-frame counts, which reads the demo voices' denser voicing as slowness (1.4 for
four of six), had raised the demo's AP from 0.74 to 0.79 that way.

Saved beside the unit inventories (``training.decoder``) as ``convert/<voice>.npz``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiorole.audio import SAMPLE_RATE
from audiorole.io import atomic_path
from training.bridge import BRIDGE_VOICE
from training.decoder.excitation import ExcitationBank
from training.decoder.mapping import ContextMLP, MLPConfig, fit_context_mlp

FOLDER = "convert"


@dataclass(frozen=True)
class ConversionConfig:
    components: int = 8  # Gaussian components (classes of sound) of the readings' envelopes
    order: int = 40  # coded spectral-envelope coefficients per frame
    frame_ms: float = 5.0
    min_parallel_s: float = 5.0  # a voice with less parallel speech (its train lines' audio) gets no converter
    ap_neighbours: int = 8  # recorded frames whose aperiodicity a converted frame takes (0: keep the TTS's)
    bank_frames: int = 4000  # at most this many recorded frames kept per voice for that (evenly spaced)
    global_variance: bool = True  # restore the voice's per-coefficient spread the conversion's averaging flattens
    # rounds of realignment: the TTS frames aligned again to the recording through the fitted conversion (DTW
    # between converted and recorded envelopes, two voices nearer each other than before), the regressions refitted
    realign: int = 1
    # the voice's speaking rate: a reading is stretched in time by the voice's time per unit of the reading's over
    # the parallel lines (``speaking_rate``; 1 = the reading's timing), kept within these bounds. Never faster than
    # the reading: compressing it lost words and voice wherever a voice was measured faster (see the module's notes)
    tempo: bool = True
    tempo_bounds: tuple[float, float] = (1.0, 1.4)
    # a voice's mapping is its own lines' least squares with the series' (every voice's lines) as prior, worth this
    # many frames per component (``fit_voices``; 0: each voice alone)
    relevance: float = 400.0
    source_frames: int = 60_000  # at most this many reading frames (evenly spaced) fit the source mixture
    seed: int = 0
    # what drives the converted envelope: "recorded", the voice's own recorded frames (``training.decoder.excitation``:
    # chosen by a Viterbi search, their envelopes swapped for the converted one), or "world", WORLD's pulses and noise
    # at the mapped F0 with the aperiodicity of the voice's nearest frames (``ap_neighbours``)
    excitation: str = "recorded"
    excitation_s: float = 300.0  # at most this much of the voice's recordings kept as its excitation (whole lines)
    # a voice with fewer seconds of recordings speaks with WORLD's excitation: from a small bank the search picks
    # frames of other sounds, and words are lost (the pyannote sample's two voices, ~10 s each: CER about 0.2 higher)
    excitation_min_s: float = 20.0
    # the share of each chosen recorded frame's own coded envelope kept under the converted one (0: the converted
    # envelope alone): the recording's formants carry the voice as well, the conversion's the words
    excitation_blend: float = 0.2
    # the share of the context network's envelope (``training.decoder.mapping``) in the mean with the mixture's (0:
    # the mixture's alone, no network fitted): the network reads each frame's neighbours too
    mlp_weight: float = 0.5


def analyse(wav: np.ndarray, config: ConversionConfig, *, aperiodicity: bool = True):
    """WORLD analysis of 16 kHz speech: (f0 per frame, coded envelope (frames, order), aperiodicity or None)."""
    import pyworld

    x = np.ascontiguousarray(wav, dtype=np.float64)
    f0, t = pyworld.dio(x, SAMPLE_RATE, frame_period=config.frame_ms)
    f0 = pyworld.stonemask(x, f0, t, SAMPLE_RATE)
    sp = pyworld.cheaptrick(x, f0, t, SAMPLE_RATE)
    ap = pyworld.d4c(x, f0, t, SAMPLE_RATE) if aperiodicity else None
    return f0, pyworld.code_spectral_envelope(sp, SAMPLE_RATE, config.order), ap


def aligned_path(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """DTW of two readings' coded envelopes (energy left out): the path, (source frame, target frame) rows in time
    order."""
    import librosa

    _, path = librosa.sequence.dtw(source[:, 1:].T, target[:, 1:].T, metric="euclidean")
    return path[::-1]


def aligned_frames(source: np.ndarray, target: np.ndarray,
                   via: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The aligned frame pairs of two readings' coded envelopes, and the path that pairs them (``aligned_path``).
    ``via``: the source frames as a conversion maps them (one row per source frame), aligned to the target instead
    of the source itself."""
    path = aligned_path(source if via is None else via, target)
    return source[path[:, 0]], target[path[:, 1]], path


@dataclass
class VoiceConverter:
    """One voice's conversion: the readings' mixture (shared by a series' voices) and, per component, the voice's
    linear map of a reading's envelope (``mean_y`` + ``regress`` (x - ``mean_x``))."""

    weights: np.ndarray  # (K,)
    mean_x: np.ndarray  # (K, D) source means
    mean_y: np.ndarray  # (K, D) target means
    prec_x: np.ndarray  # (K, D, D) inverse source covariances
    logdet_x: np.ndarray  # (K,)
    regress: np.ndarray  # (K, D, D): Σyx Σxx⁻¹
    log_f0: np.ndarray  # (2,) the voice's log-F0 mean and standard deviation
    parallel_s: float
    bank_env: np.ndarray | None = None  # (N, D-1) recorded frames' coded envelopes, energy left out
    bank_ap: np.ndarray | None = None  # (N, bins) float16: their aperiodicity
    gv: np.ndarray | None = None  # (D-1,) the variance of the voice's coded envelope over its voiced frames
    # the voice's time per unit of the source's (``speaking_rate``) as conversion applies it, within the bounds;
    # 1.0 for a conversion saved before it
    tempo: float = 1.0
    measured_tempo: float | None = None  # the same as measured, before the bounds (None: saved before it)
    source: str = BRIDGE_VOICE  # the bridge voice whose readings it converts (``training.bridge.bridge_voice``)
    excitation: ExcitationBank | None = None  # the voice's recorded frames (None: WORLD's excitation only)
    mlp: ContextMLP | None = None  # the context network's mapping (None: the mixture's alone)

    @classmethod
    def fit(cls, pairs: list[tuple[np.ndarray, np.ndarray]], config: ConversionConfig,
            source: str = BRIDGE_VOICE) -> VoiceConverter:
        """``pairs``: (reading by the bridge voice ``source``, the character's recording) of the same text, 16 kHz.
        One voice alone: its own lines are the only evidence (``fit_voices`` learns several voices together)."""
        return fit_voices({"voice": analyse_parallel(pairs, config)}, config, source)["voice"]

    def posterior(self, cx: np.ndarray) -> np.ndarray:
        """(K, T): each source frame's posterior over the mixture's components."""
        diff = cx[None] - self.mean_x[:, None]  # (K, T, D)
        maha = np.einsum("ktd,kde,kte->kt", diff, self.prec_x, diff)
        logp = np.log(self.weights)[:, None] - 0.5 * (maha + self.logdet_x[:, None])
        post = np.exp(logp - logp.max(0, keepdims=True))
        return post / post.sum(0, keepdims=True)

    def envelope(self, cx: np.ndarray, mlp_weight: float = 0.0) -> np.ndarray:
        """The conditional expectation of the voice's coded envelope given the source frames, under the mixture;
        with ``mlp_weight`` that share of it the context network's (``mlp``; where the voice has one)."""
        diff = cx[None] - self.mean_x[:, None]  # (K, T, D)
        cond = self.mean_y[:, None] + np.einsum("kde,kte->ktd", self.regress, diff)
        env = np.einsum("kt,ktd->td", self.posterior(cx), cond)
        if mlp_weight and self.mlp is not None:
            env = (1.0 - mlp_weight) * env + mlp_weight * self.mlp.predict(cx)
        return env

    def restore_variance(self, env: np.ndarray, voiced: np.ndarray) -> np.ndarray:
        """``env`` with each coefficient's spread over the voiced frames scaled to the voice's own (the global
        variance post-filter of Toda et al. 2007, in its closed form): a mixture's conditional mean is an average,
        and averaged envelopes sound muffled and less like anyone."""
        if self.gv is None or voiced.sum() < 10:
            return env
        mean, var = env[voiced, 1:].mean(0), env[voiced, 1:].var(0) + 1e-9
        out = env.copy()
        out[:, 1:] = (env[:, 1:] - mean) * np.sqrt(self.gv / var) + mean
        return out

    def aperiodicity(self, env: np.ndarray, k: int) -> np.ndarray:
        """Per converted frame, the mean aperiodicity of the ``k`` recorded frames with the nearest envelopes."""
        bank = self.bank_env
        d = (env[:, 1:] ** 2).sum(1)[:, None] - 2 * env[:, 1:] @ bank.T + (bank ** 2).sum(1)[None]
        k = min(k, len(bank))
        idx = np.argpartition(d, k - 1, axis=1)[:, :k]
        return np.ascontiguousarray(np.clip(self.bank_ap[idx].astype(np.float64).mean(1), 0.0, 1.0))

    def pitch(self, f0: np.ndarray) -> np.ndarray:
        """A reading's F0 contour (0 where unvoiced) moved to the voice's log-F0 mean and spread."""
        voiced = f0 > 0
        if voiced.sum() <= 1:
            return f0
        lf = np.log(f0[voiced])
        mean, std = self.log_f0
        out = f0.copy()
        out[voiced] = np.exp((lf - lf.mean()) / (lf.std() + 1e-6) * std + mean)
        return out

    def convert(self, wav: np.ndarray, config: ConversionConfig) -> np.ndarray:
        """A TTS reading in this voice: 16 kHz float32, its timing stretched by the voice's ``tempo`` (the
        reading's own timing with ``config.tempo`` off)."""
        import pyworld

        if len(wav) < SAMPLE_RATE * 0.05:
            return np.zeros(0, np.float32)
        recorded = config.excitation == "recorded" and self.excitation is not None
        f0, cx, ap = analyse(wav, config, aperiodicity=not recorded)
        if config.tempo and self.tempo != 1.0:
            f0, cx, ap = stretch(f0, cx, ap, self.tempo)
        voiced = f0 > 0
        f0 = self.pitch(f0)
        env = self.envelope(cx, config.mlp_weight)
        if not recorded and config.ap_neighbours and self.bank_env is not None \
                and self.bank_ap.shape[1] == ap.shape[1]:
            ap = self.aperiodicity(env, config.ap_neighbours)
        if config.global_variance:
            env = self.restore_variance(env, voiced)
        if recorded:
            y = self.excitation.speak(f0, env, blend=config.excitation_blend)
        else:
            sp = pyworld.decode_spectral_envelope(np.ascontiguousarray(env), SAMPLE_RATE, (ap.shape[1] - 1) * 2)
            y = pyworld.synthesize(f0, sp, ap, SAMPLE_RATE, config.frame_ms)
        peak = np.abs(y).max()
        return (y / peak * 0.9 if peak > 0.9 else y).astype(np.float32)

    def save(self, path: Path) -> None:
        bank = {} if self.bank_env is None else {"bank_env": self.bank_env, "bank_ap": self.bank_ap}
        if self.gv is not None:
            bank["gv"] = self.gv
        if self.measured_tempo is not None:
            bank["measured_tempo"] = np.array(self.measured_tempo)
        if self.excitation is not None:
            bank.update(self.excitation.arrays())
        if self.mlp is not None:
            bank.update(self.mlp.arrays())
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, weights=self.weights, mean_x=self.mean_x, mean_y=self.mean_y, prec_x=self.prec_x,
                     logdet_x=self.logdet_x, regress=self.regress, log_f0=self.log_f0,
                     parallel_s=np.array(self.parallel_s), source=np.array(self.source),
                     tempo=np.array(self.tempo), **bank)

    @classmethod
    def load(cls, path: Path) -> VoiceConverter:
        try:
            with np.load(path) as z:
                scalar = {"parallel_s": float, "source": str, "tempo": float, "measured_tempo": float}
                arrays = {k: z[k] for k in z.files}
            excitation, mlp = ExcitationBank.from_arrays(arrays), ContextMLP.from_arrays(arrays)
            fields = {k: scalar[k](v) if k in scalar else v for k, v in arrays.items()
                      if not k.startswith(("exc_", "mlp_"))}
            return cls(**fields, excitation=excitation, mlp=mlp)
        except (OSError, ValueError, TypeError, KeyError) as err:
            raise ValueError(f"{path}: corrupt voice conversion: {err}") from err


@dataclass
class ParallelSpeech:
    """One voice's parallel lines as the fit needs them (``analyse_parallel``)."""

    pairs: list[tuple[np.ndarray, np.ndarray]]  # per line: (the reading's coded envelope, the recording's)
    spoken: list  # per line: the reading's first and last voiced frame (a clean voice: its speech extent), or None
    log_f0: np.ndarray  # the recordings' voiced frames' log-F0
    gv: np.ndarray  # (D-1,) the variance of the recordings' coded envelope over their voiced frames
    bank_env: np.ndarray | None  # (N, D-1) recorded frames' coded envelopes (energy left out), evenly kept
    bank_ap: np.ndarray | None  # (N, bins) float16: their aperiodicity
    seconds: float  # the recordings' length
    excitation: ExcitationBank | None = None  # the recordings' frames, as ``config.excitation`` "recorded" speaks


def analyse_parallel(pairs: list[tuple[np.ndarray, np.ndarray]], config: ConversionConfig) -> ParallelSpeech:
    """WORLD analysis of a voice's parallel lines: (reading by the bridge voice, the voice's recording), 16 kHz.
    Refused (``ValueError``, with the amount) below ``config.min_parallel_s`` or 50 voiced frames."""
    analysed, spoken, log_f0, voiced_env, env, aps, recorded = [], [], [], [], [], [], []
    seconds = sum(len(r) for _, r in pairs) / SAMPLE_RATE
    recorded_excitation = config.excitation == "recorded" and seconds >= config.excitation_min_s
    stride = ExcitationBank.stride(seconds, config.excitation_s) if recorded_excitation else 0
    for i, (tts, real) in enumerate(pairs):
        if min(len(tts), len(real)) < SAMPLE_RATE * 0.3:
            continue
        f0x, cx, _ = analyse(tts, config, aperiodicity=False)
        f0, cy, ap = analyse(real, config, aperiodicity=config.ap_neighbours > 0)
        analysed.append((cx.astype(np.float32), cy.astype(np.float32)))  # a series' voices are held at once
        spoken.append(np.flatnonzero(f0x > 0)[[0, -1]] if (f0x > 0).any() else None)
        log_f0.append(np.log(f0[f0 > 0]))
        voiced_env.append(cy[f0 > 0, 1:])
        if stride and i % stride == 0:  # whole lines, evenly over the voice's, up to ``excitation_s``
            recorded.append((real, f0, cy.astype(np.float32)))
        if ap is not None:
            env.append(cy[:, 1:])
            aps.append(ap.astype(np.float16))
    voiced = np.concatenate(log_f0) if log_f0 else np.zeros(0)
    if seconds < config.min_parallel_s or len(voiced) < 50:
        raise ValueError(f"{seconds:.1f} s of parallel speech ({len(voiced)} voiced frames): "
                         f"{config.min_parallel_s:.0f} s with voiced speech needed to learn a voice conversion")
    bank_env = bank_ap = None
    if env:
        bank_env, bank_ap = np.concatenate(env).astype(np.float32), np.concatenate(aps)
        keep = np.linspace(0, len(bank_env) - 1, min(len(bank_env), config.bank_frames)).astype(int)
        bank_env, bank_ap = bank_env[keep], bank_ap[keep]
    try:  # no line long enough for a bank: WORLD's excitation, the conversion kept
        hop = round(SAMPLE_RATE * config.frame_ms / 1000)  # the bank's frames are the analysis's
        excitation = ExcitationBank.from_lines(recorded, hop) if recorded else None
    except ValueError:
        excitation = None
    return ParallelSpeech(pairs=analysed, spoken=spoken, log_f0=voiced, gv=np.concatenate(voiced_env).var(0),
                          bank_env=bank_env, bank_ap=bank_ap, seconds=round(seconds, 1), excitation=excitation)


def _regression_stats(post: np.ndarray, x: np.ndarray, y: np.ndarray, mean_x: np.ndarray):
    """Per component k, the weighted sufficient statistics of the regression y ≈ W_k [1, x - mean_x_k]:
    (n (K,), G (K, D+1, D+1) = Σ γ φ φᵀ, H (K, D, D+1) = Σ γ y φᵀ)."""
    k, t = post.shape
    phi = np.concatenate([np.ones((k, t, 1)), x[None] - mean_x[:, None]], axis=2)  # (K, T, D+1)
    weighted = phi * post[:, :, None]
    return (post.sum(1), np.einsum("kti,ktj->kij", weighted, phi),
            np.einsum("kti,ktd->kdi", weighted, y[None].astype(np.float64)))


def _solve(g: np.ndarray, h: np.ndarray, ridge: float = 1e-3) -> np.ndarray:
    """W = H G⁻¹ per component, a small ridge keeping G invertible."""
    scale = np.maximum(np.trace(g, axis1=1, axis2=2) / g.shape[1], 1e-9)  # per component: the ridge is relative
    eye = np.eye(g.shape[1])[None] * ridge * scale[:, None, None]
    return np.linalg.solve((g + eye).transpose(0, 2, 1), h.transpose(0, 2, 1)).transpose(0, 2, 1)


def adapted_regressions(stats: dict[str, tuple], relevance: float) -> dict[str, np.ndarray]:
    """Per voice, per component, the regression W (D, D+1) of its envelope on [1, reading frame - component mean]:
    the voice's least squares with the pooled voices' as a conjugate prior worth ``relevance`` frames. ``stats``:
    voice → (n, G, H) of ``_regression_stats``. W = (H + r W₀ Ĝ)(G + r Ĝ)⁻¹, W₀ the pooled fit and Ĝ the
    pooled G per frame: a component with many of the voice's frames takes its own fit, one with few the pooled one."""
    n_all = sum(s[0] for s in stats.values())
    g_all, h_all = sum(s[1] for s in stats.values()), sum(s[2] for s in stats.values())
    prior = _solve(g_all, h_all)
    g_frame = g_all / np.maximum(n_all, 1e-9)[:, None, None]
    return {v: _solve(g + relevance * g_frame, h + relevance * np.einsum("kdi,kij->kdj", prior, g_frame))
            for v, (_, g, h) in stats.items()}


def fit_voices(parallel: dict[str, ParallelSpeech], config: ConversionConfig, source: str = BRIDGE_VOICE, *,
               threads: int = 1) -> dict[str, VoiceConverter]:
    """Every voice's conversion from the same bridge voice ``source``, learned together.

    The source side is one mixture for all (Stylianou 1998): a Gaussian mixture of the readings' coded envelopes,
    which are all the same voice's. Per component, a voice's envelope is a linear function of the reading's; each
    voice's is fitted by weighted least squares on its aligned frame pairs, with the series' (every voice's pairs
    pooled) as its prior: ``relevance`` frames' worth of the pooled statistics are added to the voice's own (the
    conjugate MAP estimate; the weight a voice's own evidence gets grows with its frames in the component). A voice
    with minutes of speech is its own; one with seconds borrows the series' mapping where its frames are few, instead
    of fitting 40 × 41 coefficients per component to them. Realignment as ``ConversionConfig.realign`` says: the pairs
    aligned again through each voice's conversion, the regressions fitted again."""
    import warnings
    from concurrent.futures import ThreadPoolExecutor

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    d = config.order
    frames = np.vstack([cx for p in parallel.values() for cx, _ in p.pairs])  # every reading: one voice's
    keep = np.linspace(0, len(frames) - 1, min(len(frames), config.source_frames)).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gmm = GaussianMixture(config.components, covariance_type="full", reg_covar=1e-3, max_iter=100,
                              random_state=config.seed).fit(frames[keep].astype(np.float64))
    shared = {"weights": gmm.weights_, "mean_x": gmm.means_, "prec_x": np.linalg.inv(gmm.covariances_),
              "logdet_x": np.linalg.slogdet(gmm.covariances_)[1]}
    convs = {v: VoiceConverter(**shared, mean_y=gmm.means_.copy(), regress=np.zeros((config.components, d, d)),
                               log_f0=np.array([p.log_f0.mean(), p.log_f0.std()]), parallel_s=p.seconds,
                               bank_env=p.bank_env, bank_ap=p.bank_ap, gv=p.gv, source=source,
                               excitation=p.excitation)
             for v, p in parallel.items()}

    def aligned_stats(v: str, realigned: bool):
        """The voice's frame pairs aligned (through its conversion so far when ``realigned``), their regression
        statistics and the alignment paths."""
        conv, n, g, h, ps = convs[v], 0, 0, 0, []
        for cx, cy in parallel[v].pairs:
            x, y, path = aligned_frames(cx, cy, conv.envelope(cx) if realigned else None)
            ps.append(path)
            dn, dg, dh = _regression_stats(conv.posterior(x), x, y, conv.mean_x)
            n, g, h = n + dn, g + dg, h + dh
        return (n, g, h), ps

    for round_ in range(1 + config.realign):
        with ThreadPoolExecutor(max(1, threads)) as pool:
            done = dict(zip(parallel, pool.map(lambda v: aligned_stats(v, round_ > 0), parallel)))
        stats = {v: st for v, (st, _) in done.items()}
        paths = {v: ps for v, (_, ps) in done.items()}
        for v, w in adapted_regressions(stats, config.relevance).items():
            convs[v].mean_y, convs[v].regress = w[:, :, 0], w[:, :, 1:]
    if config.mlp_weight:
        nets = fit_context_mlp({v: [(cx, cy, path) for (cx, cy), path in zip(parallel[v].pairs, paths[v])]
                                for v in parallel}, MLPConfig(seed=config.seed), threads=threads)
        for v, net in nets.items():
            convs[v].mlp = net
    if config.tempo:
        for v, p in parallel.items():
            convs[v].measured_tempo = speaking_rate(paths[v], p.spoken)
            convs[v].tempo = round(float(np.clip(convs[v].measured_tempo, *config.tempo_bounds)), 4)
    return convs


def speaking_rate(paths: list[np.ndarray], spoken: list) -> float:
    """A voice's time per unit of the reading's: over the parallel lines, the recorded frames the alignments map the
    readings' speech extents to (first to last voiced frame) against those extents' own frames. The reading is a
    clean voice, so its extent is exact; the recording's silence, noise or music around and inside the line, which
    would bias a count of its own, is placed by the alignment. 1.0 without a line to measure; unbounded (the fit
    keeps what conversion applies within ``ConversionConfig.tempo_bounds``)."""
    reading = recorded = 0.0
    for path, ends in zip(paths, spoken):
        if ends is None or ends[1] <= ends[0]:
            continue
        at = [np.median(path[path[:, 0] == e, 1]) for e in ends]
        reading, recorded = reading + ends[1] - ends[0], recorded + at[1] - at[0]
    if reading <= 0 or recorded <= 0:
        return 1.0
    return round(float(recorded / reading), 4)


def stretch(f0: np.ndarray, env: np.ndarray, ap: np.ndarray | None, factor: float):
    """WORLD parameters played ``factor`` times as long: each new frame reads the old timeline at i / factor,
    envelope and aperiodicity interpolated between the two frames around it, F0 too where both are voiced (in log),
    the nearer frame's otherwise (voicing is never blended)."""
    n = max(1, int(round(len(f0) * factor)))
    pos = np.minimum(np.arange(n) / factor, len(f0) - 1)
    lo = np.floor(pos).astype(int)
    hi, w = np.minimum(lo + 1, len(f0) - 1), (pos - lo)[:, None]
    env_s = (1 - w) * env[lo] + w * env[hi]
    ap_s = None if ap is None else np.ascontiguousarray((1 - w) * ap[lo] + w * ap[hi])
    f0_s = f0[np.where(w[:, 0] < 0.5, lo, hi)].copy()
    both = (f0[lo] > 0) & (f0[hi] > 0)
    f0_s[both] = np.exp((1 - w[both, 0]) * np.log(f0[lo][both]) + w[both, 0] * np.log(f0[hi][both]))
    return f0_s, np.ascontiguousarray(env_s), ap_s


def fit_series_voices(lines: dict[str, list[tuple[str, np.ndarray]]], config: ConversionConfig, source: str, *,
                      threads: int = 2) -> tuple[dict[str, VoiceConverter], dict[str, str]]:
    """Every voice's conversion from its lines (text, the voice's recording of it, 16 kHz), each read by
    ``source``, learned together (``fit_voices``). Returns the conversions and, per voice left without one, why.
    The voices' WORLD analyses, alignments and statistics run on ``threads`` threads (pyworld and numpy let go of
    the GIL), the bridge voice reading one line at a time; the result is the same for any number. Amazon Queen's 8
    voices (4 episodes of 8 minutes, 1,020 s of parallel speech): 94 s on one thread, 51 s on two (2 cores)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from training.bridge import read_aloud

    reading = threading.Lock()

    def analysed(voice: str) -> ParallelSpeech | str:
        with reading:
            pairs = [(read_aloud(text, voice=source), audio) for text, audio in lines[voice]]
        try:
            return analyse_parallel(pairs, config)
        except ValueError as err:
            return str(err)

    with ThreadPoolExecutor(max(1, threads)) as pool:
        done = dict(zip(sorted(lines), pool.map(analysed, sorted(lines))))
    parallel = {v: a for v, a in done.items() if isinstance(a, ParallelSpeech)}
    refused = {v: a for v, a in done.items() if isinstance(a, str)}
    return (fit_voices(parallel, config, source, threads=threads) if parallel else {}), refused


def save_converters(converters: dict[str, VoiceConverter], folder: Path) -> None:
    for name, conv in converters.items():
        conv.save(folder / FOLDER / f"{name}.npz")


def load_converters(folder: Path) -> dict[str, VoiceConverter]:
    """The voices' converters of a saved decoder (empty for a decoder saved before they existed)."""
    d = Path(folder) / FOLDER
    return {p.stem: VoiceConverter.load(p) for p in sorted(d.glob("*.npz"))} if d.is_dir() else {}
