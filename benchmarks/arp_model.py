"""ARP-Model figures on a built series (after `audiorole run`): the decoder's resynthesis of held-out real
utterances from their own units (Whisper CER against the true text, next to the CER of the real audio; speaker
similarity to the real utterance), and the speech LM's training record (tokens/s, loss per character).

    .venv/bin/python benchmarks/arp_model.py --data-dir demo_data/data --series maple-street [--split validation]

Speaker similarity uses resemblyzer, which the decoder never uses (it selects frames by unit only).
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default="demo_data/data")
    ap.add_argument("--series", default="maple-street")
    ap.add_argument("--split", default="validation")
    args = ap.parse_args()

    from resemblyzer import VoiceEncoder, preprocess_wav

    from audiorole.alignment import analysis_audio_path
    from audiorole.asr import WhisperASR, cer
    from audiorole.audio import SAMPLE_RATE, cut, load_audio
    from audiorole.store import DataStore
    from training import stages
    from training.tokenizer import load_tokenizer, units_for_span

    store = DataStore(args.data_dir)
    tok = load_tokenizer(stages.stage_dir(store, args.series, "tokenizer"))
    dec = stages.decoder_for(store, args.series)
    splits, segs, _ = stages.series_data(store, args.series)
    asr, ve = WhisperASR(), VoiceEncoder("cpu", verbose=False)
    rate = tok.config.unit_rate_hz
    held = [s for s in segs if splits.get(s["episode_key"]) == args.split and s["character_key"] in dec.voices]
    per_char: dict[str, dict[str, list]] = {}
    audio = {}
    t0 = time.perf_counter()
    for s in held:
        ep = s["episode_key"]
        if ep not in audio:
            audio[ep] = (load_audio(analysis_audio_path(store, ep)), stages.episode_units(store, args.series, ep))
        wav, units = audio[ep]
        u = units_for_span(units, s["start_s"], s["end_s"], rate)
        y = dec.synthesize(u, s["character_key"])
        real = cut(wav, s["start_s"], s["end_s"])

        def text(x):
            return " ".join(w.text for w in asr.transcribe(x, np.array([[0.0, len(x) / SAMPLE_RATE]])))

        d = per_char.setdefault(s["character"], {"cer": [], "real_cer": [], "sim": []})
        if s["text"]:
            d["cer"].append(cer(s["text"], text(y)))
            d["real_cer"].append(cer(s["text"], text(real)))
        e1 = ve.embed_utterance(preprocess_wav(y, source_sr=SAMPLE_RATE))
        e2 = ve.embed_utterance(preprocess_wav(real, source_sr=SAMPLE_RATE))
        d["sim"].append(float(e1 @ e2))
    print(f"decoder resynthesis of {len(held)} {args.split} utterances ({time.perf_counter() - t0:.1f} s)")
    print(f"{'character':16} {'n':>3} {'resyn CER':>10} {'real CER':>9} {'similarity':>10}")
    for c, d in sorted(per_char.items()):
        m = lambda v: np.mean([x for x in v if x is not None]) if v else float("nan")  # noqa: E731
        print(f"{c:16} {len(d['sim']):3d} {m(d['cer']):10.3f} {m(d['real_cer']):9.3f} {m(d['sim']):10.3f}")
    allv = {k: [x for d in per_char.values() for x in d[k] if x is not None] for k in ("cer", "real_cer", "sim")}
    print(f"{'all':16} {len(allv['sim']):3d} {np.mean(allv['cer']):10.3f} {np.mean(allv['real_cer']):9.3f} "
          f"{np.mean(allv['sim']):10.3f}")
    result = stages.stage_dir(store, args.series, "lm") / "result.json"
    if result.exists():
        r = json.loads(result.read_text())
        print(f"\nspeech LM: {r['n_parameters'] / 1e6:.1f}M parameters, vocab {r['vocab_size']}, {r['steps']} steps, "
              f"{r['tokens']} tokens, {r['tokens_per_s_this_run']} tokens/s, best step {r['best_step']}, "
              f"best validation loss {r['best_val_loss']:.3f} (text {r['val_text_loss']:.3f}, units {r['val_unit_loss']:.3f})")
        for k, v in (r.get("val_by_character") or {}).items():
            print(f"  {k:16} validation loss {v:.3f}")


if __name__ == "__main__":
    main()
