"""The optional model backends load from local directories, offline: a pyannote.audio diarization pipeline
(:class:`audiorole.segments.diarization.PyannoteDiarizer`) and a SpeechBrain ECAPA-TDNN embedder
(:class:`audiorole.embeddings.EcapaEmbedder`).

No pretrained weights can be downloaded here, so the directories are built by :mod:`tests.model_dirs` with the
published layouts and random weights: these tests check the loading and calling code, not model quality.
Every test runs with the Hugging Face hub download functions replaced by a stub that fails the test: "loads
offline" means the loaders never even ask the hub, whatever HF_HUB_OFFLINE says.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from audiorole.audio import SAMPLE_RATE
from tests.model_dirs import ECAPA_EMBEDDING_DIM, build_ecapa_dir, build_pyannote_pipeline_dir


# random weights: pyannote's statistics pooling and VBx see empty or one-frame speaker masks
pytestmark = [
    pytest.mark.filterwarnings("ignore:std\\(\\). degrees of freedom is <= 0:UserWarning"),
    pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning"),
]


class HubAccess(AssertionError):
    """Raised by the stub that replaces the Hugging Face hub downloads during these tests."""


def _no_hub(*args, **kwargs):
    raise HubAccess(f"a local model directory was looked up on the Hugging Face hub: {args} {kwargs}")


@pytest.fixture(scope="module", autouse=True)
def offline():
    """No hub, no telemetry for the whole module (module-scoped, so the module-scoped models load under it)."""
    import huggingface_hub
    import pyannote.audio.pipelines.speaker_verification as pyannote_verification
    import pyannote.audio.utils.hf_hub as pyannote_hf_hub

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("PYANNOTE_METRICS_ENABLED", "false")  # pyannote 4 sends OpenTelemetry spans by default
        mp.setattr(huggingface_hub, "hf_hub_download", _no_hub)  # speechbrain calls huggingface_hub.hf_hub_download
        mp.setattr(huggingface_hub, "snapshot_download", _no_hub)
        mp.setattr(pyannote_hf_hub, "hf_hub_download", _no_hub)
        mp.setattr(pyannote_verification, "hf_hub_download", _no_hub)
        yield


@pytest.fixture(scope="module")
def sample_wav() -> np.ndarray:
    """The first 10 s of the two-speaker recording shipped with pyannote.audio (16 kHz mono)."""
    import pyannote.audio
    import soundfile as sf

    wav, sr = sf.read(Path(pyannote.audio.__file__).parent / "sample" / "sample.wav", dtype="float32")
    assert sr == SAMPLE_RATE and wav.ndim == 1
    return wav[: 10 * SAMPLE_RATE]


# pyannote -----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pyannote_dir(tmp_path_factory) -> Path:
    return build_pyannote_pipeline_dir(tmp_path_factory.mktemp("pyannote-community-1"))


@pytest.fixture(scope="module")
def diarizer(pyannote_dir):
    from audiorole.segments.diarization import PyannoteDiarizer

    return PyannoteDiarizer(pyannote_dir)


def test_pyannote_pipeline_dir_has_the_published_layout(pyannote_dir):
    import yaml

    files = sorted(str(p.relative_to(pyannote_dir)) for p in pyannote_dir.rglob("*") if p.is_file())
    assert files == ["config.yaml", "embedding/pytorch_model.bin", "plda/plda.npz", "plda/xvec_transform.npz",
                     "segmentation/pytorch_model.bin"]
    config = yaml.safe_load((pyannote_dir / "config.yaml").read_text())
    assert config["pipeline"]["name"] == "pyannote.audio.pipelines.SpeakerDiarization"
    params = config["pipeline"]["params"]
    assert (params["segmentation"], params["embedding"], params["plda"]) == (
        "$model/segmentation", "$model/embedding", "$model/plda")
    assert set(config["params"]) == {"clustering", "segmentation"}


def test_pyannote_diarizer_loads_the_local_models(diarizer):
    from pyannote.audio.models.embedding import WeSpeakerResNet34
    from pyannote.audio.models.segmentation import PyanNet

    pipeline = diarizer.pipeline
    segmentation = pipeline._segmentation.model
    assert isinstance(segmentation, PyanNet)
    assert segmentation.specifications.powerset and segmentation.specifications.duration == 10.0
    assert isinstance(pipeline._embedding.model_, WeSpeakerResNet34)
    assert pipeline._embedding.dimension == 256
    assert pipeline.klustering == "VBxClustering"
    # the params: block of config.yaml was applied
    assert pipeline.segmentation.min_duration_off == 0.0
    assert pipeline.clustering.threshold == pytest.approx(0.6)


def test_pyannote_diarizer_returns_turns_within_the_audio(diarizer, sample_wav):
    from audiorole.segments.diarization import Turn

    turns = diarizer(sample_wav)
    duration = len(sample_wav) / SAMPLE_RATE
    assert isinstance(turns, list) and turns  # random weights: some speech, no claim about who speaks when
    for t in turns:
        assert isinstance(t, Turn)
        assert 0.0 <= t.start < t.end <= duration + 1e-6
        assert isinstance(t.speaker, str) and t.speaker
    assert [t.start for t in turns] == sorted(t.start for t in turns)
    # overlap is flagged exactly where turns of two different speakers intersect
    for a in turns:
        crossed = any(b is not a and b.speaker != a.speaker and b.start < a.end and a.start < b.end for b in turns)
        assert a.overlap == crossed


def test_pyannote_diarizer_passes_num_speakers(diarizer, sample_wav):
    turns = diarizer(sample_wav, num_speakers=1)
    assert turns and len({t.speaker for t in turns}) == 1
    assert not any(t.overlap for t in turns)


def test_pyannote_diarizer_needs_config_yaml(tmp_path):
    from audiorole.segments.diarization import PyannoteDiarizer

    empty = tmp_path / "not-a-pipeline"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=re.escape(str(empty.resolve()))):
        PyannoteDiarizer(empty)


def test_pyannote_diarizer_loads_a_3_1_style_dir_offline(pyannote_dir, tmp_path):
    from audiorole.segments.diarization import PyannoteDiarizer

    # speaker-diarization-3.1's config.yaml, its hub model ids replaced by the local checkpoints (absolute paths:
    # pyannote resolves plain relative paths against the working directory, not against config.yaml)
    (tmp_path / "config.yaml").write_text(f"""\
version: 3.1.0

pipeline:
  name: pyannote.audio.pipelines.SpeakerDiarization
  params:
    clustering: AgglomerativeClustering
    embedding: {pyannote_dir / "embedding" / "pytorch_model.bin"}
    embedding_batch_size: 32
    embedding_exclude_overlap: true
    segmentation: {pyannote_dir / "segmentation" / "pytorch_model.bin"}
    segmentation_batch_size: 32

params:
  clustering:
    method: centroid
    min_cluster_size: 12
    threshold: 0.7045654963945799
  segmentation:
    min_duration_off: 0.0
""")
    assert PyannoteDiarizer(tmp_path).pipeline.klustering == "AgglomerativeClustering"


# SpeechBrain ECAPA ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ecapa_dir(tmp_path_factory) -> Path:
    return build_ecapa_dir(tmp_path_factory.mktemp("spkrec-ecapa"))


@pytest.fixture(scope="module")
def ecapa(ecapa_dir):
    from audiorole.embeddings import EcapaEmbedder

    return EcapaEmbedder(ecapa_dir)


def test_ecapa_dir_has_the_published_layout(ecapa_dir):
    names = {p.name for p in ecapa_dir.iterdir()}
    assert {"hyperparams.yaml", "embedding_model.ckpt", "mean_var_norm_emb.ckpt", "classifier.ckpt",
            "label_encoder.txt"} <= names


def test_ecapa_embedder_loads_offline_with_192_dims(ecapa):
    from speechbrain.inference.speaker import EncoderClassifier

    assert isinstance(ecapa.model, EncoderClassifier)
    assert ecapa.name == "ecapa" and ecapa.dim == ECAPA_EMBEDDING_DIM == 192


def test_ecapa_embedding_is_unit_norm_and_deterministic(ecapa, sample_wav):
    clip = sample_wav[: 3 * SAMPLE_RATE]
    a = ecapa.embed(clip)
    assert a.shape == (192,) and a.dtype == np.float32 and np.all(np.isfinite(a))
    assert np.linalg.norm(a) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(ecapa.embed(clip.copy()), a, rtol=0, atol=1e-6)


def test_ecapa_embeddings_differ_for_different_audio(ecapa, sample_wav):
    a = ecapa.embed(sample_wav[: 3 * SAMPLE_RATE])
    b = ecapa.embed(sample_wav[6 * SAMPLE_RATE : 9 * SAMPLE_RATE])
    noise = ecapa.embed(np.random.default_rng(0).normal(0, 0.1, 3 * SAMPLE_RATE).astype(np.float32))
    assert not np.allclose(a, b, atol=1e-4)
    assert not np.allclose(a, noise, atol=1e-4)
    many = ecapa.embed_many([sample_wav[: 3 * SAMPLE_RATE], sample_wav[6 * SAMPLE_RATE : 9 * SAMPLE_RATE]])
    assert many.shape == (2, 192)
    np.testing.assert_allclose(many, np.stack([a, b]), atol=1e-6)


def test_ecapa_embedder_needs_hyperparams_yaml(tmp_path):
    from audiorole.embeddings import EcapaEmbedder

    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path.resolve()))):
        EcapaEmbedder(tmp_path)


def test_build_embedder_ecapa(ecapa_dir):
    from audiorole.embeddings import EcapaEmbedder, build_embedder

    emb = build_embedder("ecapa", model_dir=str(ecapa_dir))
    assert isinstance(emb, EcapaEmbedder) and emb.dim == 192


@pytest.mark.parametrize("model_dir", [None, ""])
def test_build_embedder_ecapa_needs_model_dir(model_dir):
    from audiorole.embeddings import build_embedder

    with pytest.raises(ValueError, match="model_dir"):
        build_embedder("ecapa", model_dir=model_dir)


def test_build_embedder_rejects_unknown_backend():
    from audiorole.embeddings import build_embedder

    with pytest.raises(ValueError, match="unknown speaker embedding backend 'xvector'"):
        build_embedder("xvector")


def test_ecapa_embedder_loads_a_verbatim_published_copy_offline(tmp_path):
    from audiorole.embeddings import EcapaEmbedder

    model_dir = build_ecapa_dir(tmp_path / "spkrec-ecapa-voxceleb", hub_pretrained_path=True)
    assert EcapaEmbedder(model_dir).dim == 192
