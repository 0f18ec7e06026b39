"""ARP-Model assets, per series, downstream of the dataset: speech tokenizer → speech decoder and speech LM.

``arp_model`` trains out of the Dagster process: Dagster Pipes launches ``python -m training train`` under
``torchrun`` (``PipesSubprocessClient``), the trainer reports its logs and the materialization back; it takes a
slot of the ``training`` pool, so a backfill cannot start several trainings on one machine.
"""

import json
from dataclasses import asdict

import dagster as dg

from assets._common import GPU_STEP, TRAINING, TRAINING_POOL, config_class, is_forced, materialize_result, run_stage, stage_asset
from assets.dataset import _series
from assets.partitions import series_partitions
from resources import DataStoreResource, MediaRootResource
from resources.training import TrainingResource
from training import stages
from training.config import ModelConfig
from training.decoder import DecoderConfig
from training.tokenizer import TokenizerConfig


SpeechTokenizerConfig = config_class("SpeechTokenizerConfig", TokenizerConfig)
SpeechDecoderConfig = config_class("SpeechDecoderConfig", DecoderConfig)
ArpModelConfig = config_class("ArpModelConfig", ModelConfig)


_SERIES = dict(partitions_def=series_partitions, group_name=TRAINING,
               backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=1))


@stage_asset(stages.SPEECH_TOKENIZER, **_SERIES, kinds={"whisper"}, op_tags=GPU_STEP,
          description=("Speech tokenizer: Whisper encoder states pooled to 12.5 Hz, quantized by a codebook learned "
                       "on the train split; the units of every episode."))
def speech_tokenizer(context: dg.AssetExecutionContext, config: SpeechTokenizerConfig,
                     data_store: DataStoreResource) -> dg.MaterializeResult:
    r = run_stage(context, lambda: stages.run_speech_tokenizer(
        data_store.store, context.partition_key, config=TokenizerConfig(**config.model_dump()),
        force=is_forced(context)))
    return materialize_result(r, episodes=None)


@stage_asset(stages.SPEECH_DECODER, **_SERIES, kinds={"numpy"},
          description="Speech decoder: one unit inventory per main character from their train-split speech (unit selection).")
def speech_decoder(context: dg.AssetExecutionContext, config: SpeechDecoderConfig, media_root: MediaRootResource,
                   data_store: DataStoreResource) -> dg.MaterializeResult:
    spec, _ = _series(context, media_root)
    r = run_stage(context, lambda: stages.run_speech_decoder(
        data_store.store, context.partition_key, config=DecoderConfig(**config.model_dump()), language=spec.language,
        force=is_forced(context)))
    return materialize_result(r)


def _pipes_metadata(meta: dict) -> dict:
    """The trainer's Pipes metadata ({raw_value, type}) as Dagster metadata values (for a skipped, current model)."""
    out = {}
    for k, v in meta.items():
        if isinstance(v, dict) and "raw_value" in v:
            kind, raw = v["type"], v["raw_value"]
            out[k] = (dg.MetadataValue.md(raw) if kind == "md" else dg.MetadataValue.path(raw) if kind == "path"
                      else dg.MetadataValue.json(raw))
        elif v is not None:
            out[k] = v
    return out


@stage_asset(stages.ARP_MODEL, **_SERIES, pool=TRAINING_POOL, kinds={"deepspeed", "pytorch"}, op_tags=GPU_STEP,
          description=("ARP-Model speech LM of the series, conditioned on the character: the base causal LM with unit, "
                       "character and marker tokens, fine-tuned with DeepSpeed on context → reply (text, then units). "
                       "Trained out of process through Dagster Pipes; resumes from its last checkpoint."))
def arp_model(context: dg.AssetExecutionContext, config: ArpModelConfig, media_root: MediaRootResource,
              data_store: DataStoreResource, training: TrainingResource,
              pipes_subprocess_client: dg.PipesSubprocessClient) -> dg.MaterializeResult:
    spec, _ = _series(context, media_root)
    cfg = training.with_base(ModelConfig(**config.model_dump()))
    store = data_store.store
    stamp = None if is_forced(context) else stages.ARP_MODEL.current(store, spec.key, stages.lm_inputs(cfg))
    if stamp:
        context.log.info(f"the ARP-Model of {spec.key} is current (fingerprint {stamp['fingerprint']}); skipped")
        meta = _pipes_metadata(stages.lm_metadata(stamp))
        return dg.MaterializeResult(metadata={"skipped_current": True, **meta},
                                    data_version=dg.DataVersion(stamp["fingerprint"]))
    command = training.command(["train", "--data-dir", str(store.root), "--series", spec.key, "--title", spec.title,
                                "--config-json", json.dumps(asdict(cfg))] + (["--fresh"] if is_forced(context) else []))
    context.log.info("launching: " + " ".join(command))
    invocation = pipes_subprocess_client.run(command=command, context=context, env=training.env(),
                                             extras={"series_key": spec.key})
    data_store.refresh_catalog()
    return invocation.get_materialize_result()


series_training_assets = [speech_tokenizer, speech_decoder, arp_model]
