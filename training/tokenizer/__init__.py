"""Speech tokenizer: audio → discrete units, after GLM-4-Voice (a Whisper encoder + vector quantization at 12.5 Hz).

A *feature encoder* turns 16 kHz audio into frame vectors at 50 Hz; frames are mean-pooled to the unit rate
(``pool`` = 4 → 12.5 Hz, one unit per 80 ms, 1280 samples) and quantized against a k-means *codebook* learned on
the series' train split. Encoders:

- ``whisper`` (default): the encoder of a CTranslate2 Whisper model through faster-whisper — the packaged tiny.en
  (384-d) unless ``model_dir`` names another (e.g. large-v3, 1280-d, as GLM-4-Voice's tokenizer starts from).
- ``hf``: any local transformers speech encoder (HuBERT / WavLM / wav2vec 2.0 directory with a feature-extractor
  config), its hidden states at ``layer``.

A trained tokenizer is a directory: ``tokenizer.json`` (encoder kind, model dir, layer, pool, codebook size) and
``codebook.npz`` (centroids, feature mean and scale). ``load_tokenizer(dir)`` rebuilds it; nothing reaches a hub.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from audiorole.audio import SAMPLE_RATE
from audiorole.io import atomic_path, write_json_atomic

ENCODER_HOP = 320  # 16 kHz samples per 50 Hz encoder frame (Whisper after its stride-2 conv, HuBERT/WavLM)
TOKENIZER_FILE = "tokenizer.json"
CODEBOOK_FILE = "codebook.npz"


@dataclass(frozen=True)
class TokenizerConfig:
    encoder: str = "whisper"  # whisper | hf
    model_dir: str | None = None  # None: the packaged Whisper tiny.en
    layer: int | None = None  # hf encoders: hidden-state layer (None: the last)
    pool: int = 4  # 50 Hz frames per unit: 4 → 12.5 Hz (GLM-4-Voice's rate)
    codebook_size: int = 256
    seed: int = 0

    @property
    def unit_rate_hz(self) -> float:
        return SAMPLE_RATE / ENCODER_HOP / self.pool

    @property
    def samples_per_unit(self) -> int:
        return ENCODER_HOP * self.pool


def n_frames(n_samples: int) -> int:
    return max(1, math.ceil(n_samples / ENCODER_HOP))


class WhisperFeatureEncoder:
    """Encoder states of a CTranslate2 Whisper model, 50 Hz, in overlapping 30 s windows (each frame taken from
    the window where it lies farthest from an edge)."""

    window_s = 30.0
    hop_s = 20.0

    def __init__(self, model_dir: str | None = None, cpu_threads: int = 0):
        from audiorole.segments.asr import WhisperASR

        self.model = WhisperASR(model_dir, cpu_threads=cpu_threads).model  # same loading and checks as the ASR stage

    def _window(self, chunk: np.ndarray) -> np.ndarray:
        feats = self.model.feature_extractor(chunk)  # (n_mels, 100 Hz frames)
        feats = np.pad(feats, ((0, 0), (0, max(0, 3000 - feats.shape[1]))))[:, :3000]
        return np.asarray(self.model.encode(feats)).reshape(1500, -1).astype(np.float32)

    def encode(self, wav: np.ndarray) -> np.ndarray:
        wav = np.asarray(wav, np.float32)
        total = n_frames(len(wav))
        win, hop = int(self.window_s * SAMPLE_RATE), int(self.hop_s * SAMPLE_RATE)
        out: np.ndarray | None = None
        best = np.full(total, -1.0)
        for start in range(0, max(1, len(wav) - (win - hop)), hop):
            chunk = wav[start:start + win]
            states = self._window(chunk)
            valid = min(1500, n_frames(len(chunk)))
            f0 = start // ENCODER_HOP
            idx = np.arange(valid, dtype=float)
            last = start + win >= len(wav)
            # distance to the nearest edge that is a window edge, not the recording's own start or end
            left = idx if start > 0 else np.full(valid, np.inf)
            right = (valid - 1 - idx) if not last else np.full(valid, np.inf)
            dist = np.minimum(left, right)
            idx = idx.astype(int)
            frames = f0 + idx
            ok = frames < total
            frames, dist, idx = frames[ok], dist[ok], idx[ok]
            take = dist > best[frames]
            if out is None:
                out = np.zeros((total, states.shape[1]), np.float32)
            out[frames[take]] = states[idx[take]]
            best[frames[take]] = dist[take]
            if last:
                break
        return out


class HFFeatureEncoder:
    """Hidden states of a local transformers speech encoder (HuBERT, WavLM, wav2vec 2.0), 50 Hz."""

    def __init__(self, model_dir: str, layer: int | None = None):
        import torch
        from transformers import AutoConfig, AutoFeatureExtractor, AutoModel

        path = Path(model_dir)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path}: no config.json: not a transformers model directory")
        config = AutoConfig.from_pretrained(str(path), local_files_only=True)
        if getattr(config, "model_type", "") not in {"hubert", "wavlm", "wav2vec2", "data2vec-audio"}:
            raise ValueError(f"{path}: model type {config.model_type!r} is not a speech encoder "
                             "(hubert, wavlm, wav2vec2, data2vec-audio)")
        self.extractor = AutoFeatureExtractor.from_pretrained(str(path), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(path), local_files_only=True).eval()
        self.layer = layer
        self._torch = torch

    def encode(self, wav: np.ndarray) -> np.ndarray:
        torch = self._torch
        inputs = self.extractor(np.asarray(wav, np.float32), sampling_rate=SAMPLE_RATE, return_tensors="pt")
        with torch.inference_mode():
            out = self.model(**inputs, output_hidden_states=True)
        states = out.hidden_states[self.layer] if self.layer is not None else out.last_hidden_state
        states = states[0].numpy().astype(np.float32)
        total = n_frames(len(wav))
        if len(states) < total:  # the conv stack drops the last partial frame
            states = np.concatenate([states, np.repeat(states[-1:], total - len(states), 0)])
        return states[:total]


def build_encoder(config: TokenizerConfig):
    if config.encoder == "whisper":
        return WhisperFeatureEncoder(config.model_dir)
    if config.encoder == "hf":
        if not config.model_dir:
            raise ValueError("the 'hf' speech encoder needs model_dir (a local HuBERT/WavLM/wav2vec2 directory)")
        return HFFeatureEncoder(config.model_dir, config.layer)
    raise ValueError(f"unknown speech encoder {config.encoder!r} (use whisper or hf)")


def pool_frames(frames: np.ndarray, pool: int) -> np.ndarray:
    """Mean of every ``pool`` consecutive frames (the last group may be shorter)."""
    n = math.ceil(len(frames) / pool)
    padded = np.concatenate([frames, np.repeat(frames[-1:], n * pool - len(frames), 0)]) if n * pool > len(frames) else frames
    return padded.reshape(n, pool, -1).mean(axis=1)


def units_for_span(units: np.ndarray, start_s: float, end_s: float, rate_hz: float) -> np.ndarray:
    """The units of ``[start_s, end_s)`` out of a whole recording's unit sequence."""
    a = max(0, int(math.floor(start_s * rate_hz)))
    b = min(len(units), max(a + 1, int(math.ceil(end_s * rate_hz))))
    return units[a:b]


class UnitTokenizer:
    """Feature encoder + pooling + codebook. ``units(wav)`` → int array, one unit per ``samples_per_unit``."""

    def __init__(self, config: TokenizerConfig, encoder=None, centroids: np.ndarray | None = None,
                 mean: np.ndarray | None = None, scale: np.ndarray | None = None):
        self.config = config
        self._encoder = encoder
        self.centroids, self.mean, self.scale = centroids, mean, scale

    @property
    def encoder(self):
        if self._encoder is None:
            self._encoder = build_encoder(self.config)
        return self._encoder

    @property
    def trained(self) -> bool:
        return self.centroids is not None

    def features(self, wav: np.ndarray) -> np.ndarray:
        """Pooled encoder features at the unit rate, (n_units, dim)."""
        return pool_frames(self.encoder.encode(wav), self.config.pool)

    def fit(self, features: list[np.ndarray], max_frames: int = 200_000) -> dict:
        """Learn the codebook (k-means on standardized features). Returns fit facts."""
        from sklearn.cluster import KMeans, MiniBatchKMeans

        x = np.concatenate(features).astype(np.float32)
        k = self.config.codebook_size
        if len(x) < k:
            raise ValueError(f"{len(x)} feature frames cannot train a {k}-unit codebook (need at least {k}); "
                             "more speech in the train split, or a smaller codebook_size")
        rng = np.random.default_rng(self.config.seed)
        if len(x) > max_frames:
            x = x[rng.choice(len(x), max_frames, replace=False)]
        self.mean, self.scale = x.mean(0), x.std(0) + 1e-5
        z = (x - self.mean) / self.scale
        km = (KMeans(k, n_init=1, random_state=self.config.seed) if len(z) <= 20_000 else
              MiniBatchKMeans(k, batch_size=4096, n_init=3, random_state=self.config.seed))
        km.fit(z)
        self.centroids = km.cluster_centers_.astype(np.float32)
        used = len(np.unique(km.labels_))
        return {"frames": int(len(x)), "codebook_size": k, "used_units": int(used),
                "inertia_per_frame": float(km.inertia_ / len(z))}

    def quantize(self, features: np.ndarray) -> np.ndarray:
        if not self.trained:
            raise RuntimeError("the speech tokenizer has no codebook yet (fit it, or load a trained one)")
        z = (np.asarray(features, np.float32) - self.mean) / self.scale
        d = (z ** 2).sum(1, keepdims=True) - 2 * z @ self.centroids.T + (self.centroids ** 2).sum(1)[None]
        return d.argmin(1).astype(np.int32)

    def units(self, wav: np.ndarray) -> np.ndarray:
        return self.quantize(self.features(wav))

    def unit_distances(self) -> np.ndarray:
        """Euclidean distances between codewords (k, k): how far apart two units sound to the encoder."""
        c = self.centroids
        d2 = (c ** 2).sum(1)[:, None] - 2 * c @ c.T + (c ** 2).sum(1)[None]
        return np.sqrt(np.maximum(d2, 0)).astype(np.float32)

    # persistence ---------------------------------------------------------------------------------------------------
    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / CODEBOOK_FILE) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, centroids=self.centroids, mean=self.mean, scale=self.scale)
        write_json_atomic(folder / TOKENIZER_FILE, asdict(self.config))


def load_tokenizer(folder: str | Path, encoder=None) -> UnitTokenizer:
    folder = Path(folder)
    try:
        config = TokenizerConfig(**json.loads((folder / TOKENIZER_FILE).read_text()))
        with np.load(folder / CODEBOOK_FILE) as z:
            centroids, mean, scale = z["centroids"], z["mean"], z["scale"]
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{folder}: not a trained speech tokenizer ({Path(err.filename).name} missing)") from err
    except (ValueError, KeyError, OSError, TypeError) as err:
        raise ValueError(f"{folder}: corrupt speech tokenizer: {err}") from err
    if centroids.shape[0] != config.codebook_size:
        raise ValueError(f"{folder}: codebook has {centroids.shape[0]} units, tokenizer.json says {config.codebook_size}")
    return UnitTokenizer(config, encoder, centroids, mean, scale)
