"""The overlap detector's training recipe: clips, labels and a short training run that writes loadable weights."""

from __future__ import annotations

import numpy as np

from audiorole.demo import train_overlap as T
from audiorole.segments.overlap import FRAME_S, OverlapDetector


def _tone_bank(rng: np.random.Generator) -> dict:
    """Two fake 'voices' (harmonic tones at different pitches), so the recipe is tested without TTS."""
    def tone(f0: float, s: float) -> np.ndarray:
        t = np.arange(int(s * 16000)) / 16000
        return (0.1 * sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))).astype(np.float32)

    return {v: {"lines": [tone(f0, float(rng.uniform(1.5, 3.0))) for _ in range(4)], "short": [tone(f0, 0.4)]}
            for v, f0 in (("low", 110.0), ("high", 220.0))}


def test_clip_labels_count_the_talkers():
    rng = np.random.default_rng(0)
    bank = _tone_bank(rng)
    shares = []
    for _ in range(6):
        audio, labels = T.make_clip(bank, rng)
        assert len(audio) == int(T.CLIP_S * 16000) and len(labels) == int(T.CLIP_S / FRAME_S)
        assert set(np.unique(labels)) <= {0, 1, 2}
        shares.append(float((labels == 2).mean()))
        # silence between turns is labelled 0 and is quieter than speech
        rms = np.sqrt(np.mean(audio[: len(labels) * 160].reshape(len(labels), 160) ** 2, axis=1))
        if (labels == 0).any() and (labels == 1).any():
            assert np.median(rms[labels == 0]) < np.median(rms[labels == 1])
    assert 0.03 < np.mean(shares) < 0.4  # interruptions and backchannels make overlap, not the whole clip


def test_short_training_run_writes_loadable_weights(tmp_path, monkeypatch):
    monkeypatch.setattr(T, "synthesize_voices", lambda voices, n, rng: _tone_bank(rng))
    meta = T.train(tmp_path / "det.pt", clips=32, val_clips=4, epochs=1, threads=1, log=lambda *_: None)
    assert meta["epochs"] == 1 and meta["best"]["epoch"] == 1
    det = OverlapDetector(tmp_path / "det.pt")
    probs = det.probabilities(np.zeros(16000 * 3, dtype=np.float32))
    assert probs.shape == (300,) and np.all((probs >= 0) & (probs <= 1))
