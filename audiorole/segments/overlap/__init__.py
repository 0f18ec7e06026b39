"""Overlapped-speech detection from the audio alone: where two or more people talk at once.

Subtitles mark overlap only where two cues overlap; without subtitles nothing did. This package holds a small
frame classifier (log-mel → two convolutions → a bidirectional GRU → none / one / several talkers, every 10 ms),
trained on mixtures made from single-talker speech (the recipe, made of the demo's voices, lives with the demo:
``audiorole.demo.train_overlap``), and the code that turns its frame probabilities into overlap regions. Its
weights ship with the package (``detector.pt``, ~0.4 MB), written by

    .venv/bin/python -m audiorole.demo.train_overlap --out audiorole/segments/overlap/detector.pt

The training voices are packaged TTS voices that the demo series does *not* use, rooms are simple synthetic
impulse responses (not the hard demo's pyroomacoustics rooms), and TV-like music beds are among the
backgrounds, so the demo's scores measure generalisation, not memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiorole.audio import SAMPLE_RATE

FRAME_S = 0.01  # one prediction per 10 ms
N_MELS = 64
CMN_SPAN_S = 3.0  # log-mel mean removed over this span: the features do not depend on the level
WEIGHTS = Path(__file__).with_name("detector.pt")


@dataclass(frozen=True)
class OverlapConfig:
    #: frames whose overlap probability is at least this are overlapped speech. Measured on the hard demo profile
    #: (4 × 15 min, 18% overlap), as overlapped speech in the diarization's turns: 0.5 → precision 0.66, recall
    #: 0.69, mean DER 0.40; 0.65 → 0.71 / 0.63 / 0.34; 0.8 → 0.77 / 0.54 / 0.28
    threshold: float = 0.65
    #: overlap regions shorter than this are dropped; gaps shorter than ``merge_gap_s`` are bridged
    min_overlap_s: float = 0.2
    merge_gap_s: float = 0.1
    #: the model sees chunks this long (seconds), with ``context_s`` more on each side
    chunk_s: float = 30.0
    context_s: float = 2.0


def detector_id(config: OverlapConfig = OverlapConfig(), weights: str | Path | None = None) -> str:
    """What decides the detector's output, without loading it: a digest of the weights and the settings."""
    import hashlib
    import json
    from dataclasses import asdict

    path = Path(weights) if weights else WEIGHTS
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12] if path.is_file() else "missing"
    return f"overlap:{digest}:{json.dumps(asdict(config), sort_keys=True)}"


def log_mel(wav: np.ndarray) -> np.ndarray:
    """(frames, N_MELS) float32: Kaldi-style log-mel filterbank (25 ms windows every 10 ms), each bin's mean over
    ``CMN_SPAN_S`` removed, so a quiet talker and a loud one give the same features."""
    import torch
    import torchaudio
    from scipy.ndimage import uniform_filter1d

    wav = np.asarray(wav, dtype=np.float32)
    if len(wav) < int(0.025 * SAMPLE_RATE):
        return np.zeros((0, N_MELS), dtype=np.float32)
    fb = torchaudio.compliance.kaldi.fbank(torch.from_numpy(wav)[None] * 32768.0, num_mel_bins=N_MELS,
                                           frame_length=25.0, frame_shift=10.0, sample_frequency=SAMPLE_RATE,
                                           dither=0.0, energy_floor=1.0).numpy()
    span = max(1, int(round(CMN_SPAN_S / FRAME_S)))
    return (fb - uniform_filter1d(fb, span, axis=0, mode="nearest")).astype(np.float32)


def build_model():
    """The classifier: ~110k parameters, 3 classes per frame (no speech, one talker, two or more)."""
    import torch
    from torch import nn

    class OverlapNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Sequential(
                nn.Conv1d(N_MELS, 64, 5, padding=2), nn.ReLU(),
                nn.Conv1d(64, 64, 5, padding=2), nn.ReLU(),
            )
            self.gru = nn.GRU(64, 64, batch_first=True, bidirectional=True)
            self.out = nn.Linear(128, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, frames, mels) → (batch, frames, 3) logits
            h = self.conv(x.transpose(1, 2)).transpose(1, 2)
            return self.out(self.gru(h)[0])

    return OverlapNet()


class OverlapDetector:
    """Loads the shipped weights (or ``weights``) once; ``probabilities`` gives P(overlap) per 10 ms frame."""

    def __init__(self, weights: str | Path | None = None, config: OverlapConfig = OverlapConfig(), threads: int = 1):
        import torch

        path = Path(weights) if weights else WEIGHTS
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: no overlap-detector weights (train them: python -m audiorole.demo.train_overlap)")
        saved = torch.load(path, map_location="cpu", weights_only=True)
        self.model = build_model()
        self.model.load_state_dict(saved["state_dict"])
        self.model.eval()
        self.weights = path
        self.meta = {k: v for k, v in saved.items() if k != "state_dict"}
        self.config = config
        self.threads = threads
        self.name = f"overlap:{self.meta.get('version', '?')}"

    def probabilities(self, wav: np.ndarray) -> np.ndarray:
        """P(two or more talkers) per 10 ms frame of ``wav`` (16 kHz), the episode cut into chunks that are run
        as one batch, each with ``context_s`` of audio on both sides."""
        import torch

        from audiorole.embeddings import _torch_threads

        feats = log_mel(wav)
        n = len(feats)
        if n == 0:
            return np.zeros(0, dtype=np.float32)
        chunk, ctx = int(self.config.chunk_s / FRAME_S), int(self.config.context_s / FRAME_S)
        starts = list(range(0, n, chunk))
        width = min(n, chunk) + 2 * ctx
        batch = np.zeros((len(starts), width, N_MELS), dtype=np.float32)
        for i, s in enumerate(starts):
            a, b = max(0, s - ctx), min(n, s + chunk + ctx)
            batch[i, a - (s - ctx): a - (s - ctx) + (b - a)] = feats[a:b]
        with _torch_threads(self.threads), torch.no_grad():
            probs = torch.softmax(self.model(torch.from_numpy(batch)), dim=-1)[..., 2].numpy()
        out = np.concatenate([probs[i, ctx: ctx + min(chunk, n - s)] for i, s in enumerate(starts)])
        # the filterbank drops the last partial window: one value per whole 10 ms of audio
        out = np.pad(out, (0, max(0, len(wav) // int(FRAME_S * SAMPLE_RATE) - len(out))), mode="edge")
        return out.astype(np.float32)

    def regions(self, wav: np.ndarray, speech: np.ndarray | None = None) -> np.ndarray:
        """Overlapped-speech regions (n, 2) in seconds, inside ``speech`` when given."""
        return probabilities_to_regions(self.probabilities(wav), self.config, speech)


def probabilities_to_regions(probs: np.ndarray, config: OverlapConfig = OverlapConfig(),
                             speech: np.ndarray | None = None) -> np.ndarray:
    """Runs of frames at or above the threshold → (n, 2) seconds; gaps under ``merge_gap_s`` bridged, regions under
    ``min_overlap_s`` dropped, and (with ``speech``) everything outside the speech regions cut away."""
    on = np.asarray(probs) >= config.threshold
    if speech is not None:
        mask = np.zeros_like(on)
        for s, e in np.asarray(speech, dtype=float).reshape(-1, 2):
            mask[int(s / FRAME_S): int(np.ceil(e / FRAME_S))] = True
        on &= mask
    edges = np.flatnonzero(np.diff(np.r_[0, on.astype(np.int8), 0]))
    runs = [[a * FRAME_S, b * FRAME_S] for a, b in zip(edges[::2], edges[1::2])]
    merged: list[list[float]] = []
    for s, e in runs:
        if merged and s - merged[-1][1] < config.merge_gap_s:
            merged[-1][1] = e
        else:
            merged.append([s, e])
    return np.asarray([r for r in merged if r[1] - r[0] >= config.min_overlap_s], dtype=float).reshape(-1, 2)
