"""ARP-Model figures on a built series (after `audiorole run`): the decoder's resynthesis of held-out real
utterances from their own units (Whisper CER against the true text, scored as ARP-Eval scores it, next to the CER of
the real audio; speaker
similarity to the real utterance; share of frames taken from the character's own recordings), and the speech LM's
training record (tokens/s, loss per character).

    .venv/bin/python benchmarks/arp_model.py --data-dir demo_data/data --series maple-street [--split validation]
    # decoder settings side by side (each --decoder is one variant; the saved decoder's config is the first):
    .venv/bin/python benchmarks/arp_model.py --decoder context_weight=0 --decoder other_voice_cost=0.5

Speaker similarity uses resemblyzer, which the decoder never uses (it selects frames by unit only).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import fields, replace

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np


def parse_overrides(text: str, config) -> dict:
    """``k=v,k=v`` → typed DecoderConfig overrides (``none`` for None)."""
    types = {f.name: f.type for f in fields(config)}
    out = {}
    for item in filter(None, text.split(",")):
        k, v = item.split("=", 1)
        if k not in types:
            raise SystemExit(f"unknown decoder setting {k!r} (one of {', '.join(types)})")
        out[k] = None if v.lower() == "none" else (int(v) if "int" in str(types[k]) and "float" not in str(types[k])
                                                   else float(v))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default="demo_data/data")
    ap.add_argument("--series", default="maple-street")
    ap.add_argument("--split", default="validation")
    ap.add_argument("--decoder", action="append", default=[], metavar="K=V[,K=V]",
                    help="a decoder variant to measure besides the saved one")
    args = ap.parse_args()

    from resemblyzer import VoiceEncoder, preprocess_wav

    from audiorole.segments.stages import analysis_audio_path
    from evaluation.metrics.intelligibility import Intelligibility
    from audiorole.audio import SAMPLE_RATE, cut, load_audio
    from audiorole.store import DataStore
    from training import stages
    from training.decoder import UnitSelectionDecoder
    from training.tokenizer import load_tokenizer, units_for_span

    store = DataStore(args.data_dir)
    tok = load_tokenizer(store.model_dir(args.series, "tokenizer"))
    saved = stages.decoder_for(store, args.series)
    variants = {"saved": saved}
    for text in args.decoder:
        cfg = replace(saved.config, **parse_overrides(text, saved.config))
        variants[text] = UnitSelectionDecoder(saved.unit_distances, saved.samples_per_unit, cfg, saved.voices)
    splits, segs, _ = stages.series_data(store, args.series)
    asr, ve = Intelligibility(), VoiceEncoder("cpu", verbose=False)
    rate = tok.config.unit_rate_hz
    held = [s for s in segs if splits.get(s["episode_key"]) == args.split and s["character_key"] in saved.voices]

    def cer(reference: str, x: np.ndarray) -> float | None:
        return asr.score(x, reference)[0]

    def embed(x):
        return ve.embed_utterance(preprocess_wav(x, source_sr=SAMPLE_RATE))

    audio, real = {}, {}
    for s in held:
        ep = s["episode_key"]
        if ep not in audio:
            audio[ep] = (load_audio(analysis_audio_path(store, ep)), stages.episode_units(store, args.series, ep))
        wav, units = audio[ep]
        x = cut(wav, s["start_s"], s["end_s"])
        real[s["segment_id"]] = (units_for_span(units, s["start_s"], s["end_s"], rate), embed(x),
                                 cer(s["text"], x) if s["text"] else None)
    for name, dec in variants.items():
        per_char: dict[str, dict[str, list]] = {}
        t0, synth_s = time.perf_counter(), 0.0
        for s in held:
            u, e_real, real_cer = real[s["segment_id"]]
            t1 = time.perf_counter()
            path = dec.select(u, s["character_key"])
            y = dec.synthesize(u, s["character_key"])
            synth_s += time.perf_counter() - t1
            d = per_char.setdefault(s["character"], {"cer": [], "real_cer": [], "sim": [], "own": []})
            if s["text"]:
                d["cer"].append(cer(s["text"], y))
                d["real_cer"].append(real_cer)
            d["sim"].append(float(embed(y) @ e_real))
            d["own"].append(dec.own_share(path, s["character_key"]))
        print(f"\n== decoder {name}: {dec.config}")
        print(f"resynthesis of {len(held)} {args.split} utterances ({time.perf_counter() - t0:.1f} s, "
              f"decoding {synth_s:.1f} s)")
        print(f"{'character':16} {'n':>3} {'resyn CER':>10} {'real CER':>9} {'similarity':>10} {'own frames':>10}")
        for c, d in sorted(per_char.items()):
            print(f"{c:16} {len(d['sim']):3d} {np.mean(d['cer']):10.3f} {np.mean(d['real_cer']):9.3f} "
                  f"{np.mean(d['sim']):10.3f} {np.mean(d['own']):10.3f}")
        allv = {k: [x for d in per_char.values() for x in d[k]] for k in ("cer", "real_cer", "sim", "own")}
        print(f"{'all':16} {len(allv['sim']):3d} {np.mean(allv['cer']):10.3f} {np.mean(allv['real_cer']):9.3f} "
              f"{np.mean(allv['sim']):10.3f} {np.mean(allv['own']):10.3f}")
    result = store.model_dir(args.series, "lm") / "result.json"
    if result.exists():
        r = json.loads(result.read_text())
        print(f"\nspeech LM: {r['n_parameters'] / 1e6:.1f}M parameters, vocab {r['vocab_size']}, {r['steps']} steps, "
              f"{r['tokens']} tokens, {r['tokens_per_s_this_run']} tokens/s, best step {r['best_step']}, "
              f"best validation loss {r['best_val_loss']:.3f} (text {r['val_text_loss']:.3f}, units {r['val_unit_loss']:.3f})")
        for k, v in (r.get("val_by_character") or {}).items():
            print(f"  {k:16} validation loss {v:.3f}")


if __name__ == "__main__":
    main()
