"""Speech that follows the text through a packaged TTS voice (the *TTS bridge*): the reply text the speech LM wrote is
read by a neutral voice, the reading is tokenized into the series' units, and the character's decoder voice speaks
those units. The words come from the TTS, the voice from the character's own recordings.

This is the floor a learned text→units model must beat: the LM's own units come from ~20–60 s of speech per
character, far too little to learn how text sounds (its replies' Whisper CER was 0.87–0.93), whereas the TTS
learned that from a whole corpus. ``benchmarks/speech_paths.py`` measures both side by side with the real replies.

The voice is hibari-tts "heart" (Apache-2.0; an int8 ONNX voice with its own grapheme-to-phoneme model and lexicons,
so a word no lexicon has is still spoken). Only the voice inside the wheel is used: its other voices download on
first use and are never asked for.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from audiorole.audio import SAMPLE_RATE

BRIDGE_VOICE = "hibari:heart"


class BridgeUnavailable(RuntimeError):
    pass


@lru_cache(maxsize=1)
def _hibari(threads: int):
    try:
        import hibari
        from hibari import Hibari
    except ImportError as err:  # pragma: no cover - the lock installs it
        raise BridgeUnavailable("the TTS bridge needs the hibari-tts package (pip install hibari-tts==0.2.1)") from err
    model = Path(hibari.__file__).parent / "assets" / "hibari.onnx"
    if not model.is_file():
        raise BridgeUnavailable(f"{model}: the hibari-tts wheel has no packaged voice; reinstall hibari-tts==0.2.1")
    return Hibari(voice="heart", model=str(model), threads=threads)


def read_aloud(text: str, threads: int = 1) -> np.ndarray:
    """``text`` read by the bridge voice: 16 kHz float32 (empty for empty text); deterministic."""
    import soxr
    from hibari import SAMPLE_RATE as TTS_RATE

    text = " ".join(text.split())
    if not text:
        return np.zeros(0, np.float32)
    wav = np.asarray(_hibari(threads)(text, seed=0), np.float32)
    return soxr.resample(wav, TTS_RATE, SAMPLE_RATE).astype(np.float32)


class TTSBridge:
    """``units(text)``: the series' units of ``text`` as the bridge voice reads it."""

    name = BRIDGE_VOICE

    def __init__(self, tokenizer, threads: int = 1):
        self.tokenizer, self.threads = tokenizer, threads

    def units(self, text: str) -> np.ndarray:
        wav = read_aloud(text, self.threads)
        if not len(wav):
            return np.zeros(0, np.int64)
        return np.asarray(self.tokenizer.units(wav), np.int64)
