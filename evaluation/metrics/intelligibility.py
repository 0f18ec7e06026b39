"""Intelligibility: Whisper's transcript of the reply's audio against the reply's own text (CER), in the series'
language: the packaged tiny.en for English, the packaged multilingual base for any other (or a configured model).

Replies are short, and Whisper's decoding of one short clip keeps a single core busy whatever its thread count (on the
2-core machine, in a one-off timing, 30 demo replies took 16.3 s with 1, 2 or the default threads):
:meth:`Intelligibility.score_many` scores clips in parallel, one single-threaded Whisper worker per core (9.0 s for
the same 30, the same transcripts; the demo's whole scoring stage 132.5 s -> 74.6 s).
Each clip is still decoded alone, in its own window, so a score never depends on which clips it was scored with.
The same audio is transcribed once per scorer: the anchors' real replies recur across samples and systems, and
greedy baselines repeat lines (a one-off count on a trained demo, the stage forced twice: Whisper's 225 decodes fall
to 144, the stage 131 s -> 97 s, every sample's score the same; the stage's time is in its stamp, ``seconds``)."""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from audiorole.segments.asr import cer


class Intelligibility:
    def __init__(self, model_dir: str | None = None, beam_size: int = 5, *, language: str = "en",
                 workers: int | None = None):
        """``workers``: clips :meth:`score_many` decodes at once (default: one per core, at most 4)."""
        from audiorole.segments.asr import WhisperASR, default_model_dir, is_english
        from audiorole.segments.language import language_code

        self.workers = max(1, workers or min(4, os.cpu_count() or 1))
        asr = WhisperASR(model_dir or default_model_dir(language), cpu_threads=1 if self.workers > 1 else 0,
                         num_workers=self.workers)
        if not is_english(language) and not asr.multilingual:
            raise ValueError(f"{asr.model_dir}: an English-only Whisper model cannot score replies in "
                             f"{language_code(language)!r}; configure a multilingual one (asr_model_dir)")
        self.model = asr.model
        # a multilingual model is told the language: left to detect it, it may hear a short reply as another
        self.language = language_code(language) if asr.multilingual else None
        self.beam_size = beam_size
        self._heard: dict[bytes, str] = {}  # the audio's digest → its transcript

    def transcribe(self, wav: np.ndarray) -> str:
        # temperature 0 only, so a clip scores the same on every run: Whisper's default fallback decodes by random
        # sampling when greedy decoding loops, and ctranslate2's seed does not reach it (a system's mean CER moved
        # by ±0.05 between identical runs)
        segments, _ = self.model.transcribe(np.asarray(wav, np.float32), beam_size=self.beam_size, temperature=0.0,
                                            language=self.language, condition_on_previous_text=False,
                                            vad_filter=False, without_timestamps=True)
        return " ".join(s.text.strip() for s in segments).strip()

    def score(self, wav: np.ndarray, text: str) -> tuple[float | None, str]:
        """(CER capped at 1, or None when the text is empty; transcript). Capped: without the fallback Whisper
        may loop on an unintelligible clip, and how long it loops says nothing more than "all wrong"."""
        return self._against(text, self.transcribe(wav))

    @staticmethod
    def _against(text: str, hyp: str) -> tuple[float | None, str]:
        c = cer(text, hyp)
        return (None if c is None else min(c, 1.0)), hyp

    def score_many(self, clips: list[tuple[np.ndarray, str]]) -> list[tuple[float | None, str]]:
        """:meth:`score` of each (wav, text), in order, ``workers`` at a time; audio this scorer has already
        heard (the same samples, whatever the text) is not transcribed again."""
        keys = [hashlib.blake2b(np.ascontiguousarray(wav, np.float32).tobytes(), digest_size=16).digest()
                for wav, _ in clips]
        todo = {k: wav for k, (wav, _) in zip(keys, clips) if k not in self._heard}
        if self.workers == 1 or len(todo) < 2:
            heard = [self.transcribe(wav) for wav in todo.values()]
        else:
            with ThreadPoolExecutor(self.workers) as pool:
                heard = list(pool.map(self.transcribe, todo.values()))
        self._heard.update(zip(todo, heard))
        return [self._against(text, self._heard[k]) for k, (_, text) in zip(keys, clips)]
