"""Speaker embeddings: resemblyzer (d-vector, weights in its wheel) by default, SpeechBrain ECAPA-TDNN from a
local directory when configured. Every embedding is L2-normalized, so a dot product is a cosine similarity."""

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


def build_embedder(backend: str = "resemblyzer", model_dir: str | None = None, device: str = "cpu") -> SpeakerEmbedder:
    if backend == "resemblyzer":
        return ResemblyzerEmbedder(device)
    if backend == "ecapa":
        if not model_dir:
            raise ValueError("the ecapa embedder needs model_dir: a local SpeechBrain ECAPA directory")
        return EcapaEmbedder(model_dir, device)
    raise ValueError(f"unknown speaker embedding backend {backend!r} (resemblyzer | ecapa)")
