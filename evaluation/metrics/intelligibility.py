"""Intelligibility: Whisper's transcript of the reply's audio against the reply's own text (CER)."""

from __future__ import annotations

import numpy as np

from audiorole.asr import cer


class Intelligibility:
    def __init__(self, model_dir: str | None = None, beam_size: int = 5):
        from audiorole.asr import WhisperASR

        self.model = WhisperASR(model_dir or None).model
        self.beam_size = beam_size

    def transcribe(self, wav: np.ndarray) -> str:
        segments, _ = self.model.transcribe(np.asarray(wav, np.float32), beam_size=self.beam_size,
                                            condition_on_previous_text=False, vad_filter=False, without_timestamps=True)
        return " ".join(s.text.strip() for s in segments).strip()

    def score(self, wav: np.ndarray, text: str) -> tuple[float | None, str]:
        """(CER or None when the text is empty, transcript)."""
        hyp = self.transcribe(wav)
        return cer(text, hyp), hyp
