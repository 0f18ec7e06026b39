"""Intelligibility: Whisper's transcript of the reply's audio against the reply's own text (CER)."""

from __future__ import annotations

import numpy as np

from audiorole.segments.asr import cer


class Intelligibility:
    def __init__(self, model_dir: str | None = None, beam_size: int = 5):
        from audiorole.segments.asr import WhisperASR

        self.model = WhisperASR(model_dir or None).model
        self.beam_size = beam_size

    def transcribe(self, wav: np.ndarray) -> str:
        # temperature 0 only, so a clip scores the same on every run: Whisper's default fallback decodes by random
        # sampling when greedy decoding loops, and ctranslate2's seed does not reach it (a system's mean CER moved
        # by ±0.05 between identical runs)
        segments, _ = self.model.transcribe(np.asarray(wav, np.float32), beam_size=self.beam_size, temperature=0.0,
                                            condition_on_previous_text=False, vad_filter=False, without_timestamps=True)
        return " ".join(s.text.strip() for s in segments).strip()

    def score(self, wav: np.ndarray, text: str) -> tuple[float | None, str]:
        """(CER capped at 1, or None when the text is empty; transcript). Capped: without the fallback Whisper
        may loop on an unintelligible clip, and how long it loops says nothing more than "all wrong"."""
        hyp = self.transcribe(wav)
        c = cer(text, hyp)
        return (None if c is None else min(c, 1.0)), hyp
