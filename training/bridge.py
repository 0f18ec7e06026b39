"""Speech that follows the text through a packaged TTS voice (the *TTS bridge*): the reply text the speech LM wrote is
read by a neutral voice, the reading is tokenized into the series' units, and the character's decoder voice speaks
those units. The words come from the TTS, the voice from the character's own recordings.

This is the floor a learned text→units model must beat: the LM's own units come from ~20–60 s of speech per
character, far too little to learn how text sounds (its replies' Whisper CER was 0.87–0.93), whereas the TTS
learned that from a whole corpus. ``benchmarks/speech_paths.py`` measures both side by side with the real replies.

The voice is hibari-tts "heart" for English (Apache-2.0; an int8 ONNX voice with its own grapheme-to-phoneme model
and lexicons, so a word no lexicon has is still spoken). Only the voice inside the wheel is used: its other voices
download on first use and are never asked for. A series in another language is read by espeak-ng's voice for that
language (Debian ``espeak-ng``, ~130 languages with their own letter-to-sound rules; formant speech, less natural,
but it says the words as the language spells them): an English voice reading Czech would say the words as
English letters. In a one-off measurement (no project command) on 30 Fish Fillets lines (4+ words) with the packaged multilingual Whisper base: the
English voice's readings are heard as English (top language for 29 of 30, mean P(en) 0.86, P(cs) 0.02), espeak-ng's
as Czech as often as the series' real Czech lines are (top for 8, mean P(cs) 0.18, P(en) 0.05); that small model
transcribes both at a Czech CER of about 0.41 (0.416 and 0.405), so it does not tell their intelligibility apart.
``bridge_voice`` picks it from the series' declared language; each voice conversion records the
voice it converts from, so a reading in another voice is never put through it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from audiorole.audio import SAMPLE_RATE

BRIDGE_VOICE = "hibari:heart"  # English




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


@lru_cache(maxsize=1)
def espeak_languages() -> frozenset[str]:
    """The languages espeak-ng has a voice for (empty when it is not installed)."""
    import shutil
    import subprocess

    exe = shutil.which("espeak-ng")
    if exe is None:
        return frozenset()
    out = subprocess.run([exe, "--voices"], capture_output=True, text=True, check=False).stdout
    return frozenset(line.split()[1] for line in out.splitlines()[1:] if len(line.split()) > 1)


def bridge_voice(language: str | None) -> str:
    """The voice that reads a series' replies: hibari "heart" for English, espeak-ng's voice for another language."""
    from audiorole.segments.language import language_code

    lang = (language or "en").strip().lower().replace("_", "-")
    if language_code(lang) == "en":
        return BRIDGE_VOICE
    available = espeak_languages()
    for code in (lang, language_code(lang)):
        if code in available:
            return f"espeak:{code}"
    raise BridgeUnavailable(f"no packaged voice reads language {language!r}: espeak-ng "
                            + ("has no voice for it" if available else "is not installed (apt-get install espeak-ng)"))


def read_aloud(text: str, threads: int = 1, voice: str = BRIDGE_VOICE) -> np.ndarray:
    """``text`` read by a bridge voice (``bridge_voice``): 16 kHz float32 (empty for empty text); deterministic."""
    import soxr

    text = " ".join(text.split())
    if not text:
        return np.zeros(0, np.float32)
    if voice == BRIDGE_VOICE:
        from hibari import SAMPLE_RATE as TTS_RATE

        wav = np.asarray(_hibari(threads)(text, seed=0), np.float32)
        return soxr.resample(wav, TTS_RATE, SAMPLE_RATE).astype(np.float32)
    if not voice.startswith("espeak:"):
        raise BridgeUnavailable(f"unknown bridge voice {voice!r} ({BRIDGE_VOICE} or espeak:<language>)")
    from audiorole.demo.voices import SR, synthesize

    return soxr.resample(synthesize(voice, text), SR, SAMPLE_RATE).astype(np.float32)


class TTSBridge:
    """``units(text)``: the series' units of ``text`` as the bridge voice reads it."""

    def __init__(self, tokenizer, threads: int = 1, voice: str = BRIDGE_VOICE):
        self.tokenizer, self.threads, self.name = tokenizer, threads, voice

    def units(self, text: str) -> np.ndarray:
        wav = read_aloud(text, self.threads, self.name)
        if not len(wav):
            return np.zeros(0, np.int64)
        return np.asarray(self.tokenizer.units(wav), np.int64)
