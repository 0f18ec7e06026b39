"""Train the overlapped-speech detector on mixtures made from single-talker speech: the recipe of the weights that
ship with ``audiorole.segments.overlap`` (``detector.pt``).

    .venv/bin/python -m audiorole.demo.train_overlap --out audiorole/segments/overlap/detector.pt [--clips 2400]

It lives with the demo because it is made of the demo's parts (its TTS voices, script lines, pink noise and music
bed): the demo may import the segments stage, never the reverse.

Talkers are packaged TTS voices the demo series does not use (espeak-ng variants, flite kal16); five others are
held out for validation. Each 8 s training clip is a conversation of two or three talkers: turns with gaps,
interruptions (a turn starts before the previous one ends) and backchannels said over a longer turn, each talker
at its own level (−10…+4 dB) through its own synthetic room response (exponential-decay noise tail, RT60
0.15–0.9 s), over pink noise (10–40 dB SNR) and, in a third of the clips, a music bed like the TV demo's, so
music under speech is not taken for a second voice. Labels: how many talkers' turns cover each 10 ms frame.
Deterministic for a seed (torch's CPU kernels permitting).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from audiorole.audio import SAMPLE_RATE
from audiorole.segments.overlap import FRAME_S, WEIGHTS, build_model, log_mel

VERSION = "1"
#: voices the demo series never uses (its voices: flite slt/awb/rms, piper joe, espeak en+f2/en-us+m3/en-us+klatt2)
TRAIN_VOICES = (
    "espeak:en+m1", "espeak:en+m2", "espeak:en+m4", "espeak:en+m5", "espeak:en+m7", "espeak:en+f1", "espeak:en+f3",
    "espeak:en+f4", "espeak:en+f5", "espeak:en+Andy", "espeak:en+Annie", "espeak:en+belinda", "espeak:en+Denis",
    "espeak:en+edward", "espeak:en+Gene", "espeak:en+Jacky", "espeak:en+linda", "espeak:en+Michael",
    "espeak:en+paul", "espeak:en+steph", "espeak:en-us+klatt4", "espeak:en+grandpa", "espeak:en+Alicia",
    "espeak:en+john", "espeak:en+Hugo", "flite:kal16",
)
VAL_VOICES = ("espeak:en+Mike", "espeak:en+rob", "espeak:en+klatt3", "espeak:en+Lee", "espeak:en+aunty")
BACKCHANNELS = ("Yeah.", "Right.", "Mm-hm.", "Okay.", "Sure.", "Really?", "No way.", "Uh-huh.")
CLIP_S = 8.0


def _texts() -> list[str]:
    from audiorole.demo import script

    return sorted({t for c in script.CHARACTERS for t in c.lines})


def synthesize_voices(voices: tuple[str, ...], n_lines: int, rng: np.random.Generator) -> dict[str, dict]:
    """{voice: {"lines": [16 kHz audio], "short": [backchannels]}}."""
    import soxr

    from audiorole.demo.voices import SR, synthesize

    texts = _texts()
    out = {}
    for v in voices:
        picks = rng.choice(len(texts), size=min(n_lines, len(texts)), replace=False)
        res = lambda t: soxr.resample(synthesize(v, t), SR, SAMPLE_RATE).astype(np.float32)  # noqa: E731
        out[v] = {"lines": [res(texts[i]) for i in picks], "short": [res(t) for t in BACKCHANNELS]}
    return out


def room_response(rng: np.random.Generator) -> np.ndarray:
    """A synthetic impulse response: the direct sound, then exponentially decaying noise (RT60 0.15–0.9 s) at a
    random direct-to-reverberant ratio."""
    rt60 = float(rng.uniform(0.15, 0.9))
    n = int(rt60 * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    tail[: int(0.002 * SAMPLE_RATE)] = 0.0
    drr_db = float(rng.uniform(-6, 12))
    tail *= 10 ** (-drr_db / 20) / (np.sqrt(np.sum(tail**2)) or 1.0)
    tail[0] = 1.0
    return tail.astype(np.float32)


def pink(n: int, rng: np.random.Generator) -> np.ndarray:
    from audiorole.demo.mix import pink_noise

    return pink_noise(n, rng)


def make_clip(bank: dict[str, dict], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One training clip: (audio, per-frame talker count clipped to 2)."""
    from scipy.signal import fftconvolve

    n = int(CLIP_S * SAMPLE_RATE)
    talkers = list(rng.choice(sorted(bank), size=min(len(bank), int(rng.integers(2, 4))), replace=False))
    gains = {v: 10 ** (float(rng.uniform(-10, 4)) / 20) for v in talkers}
    rirs = {v: room_response(rng) for v in talkers}
    mix = np.zeros(n, dtype=np.float32)
    count = np.zeros(int(CLIP_S / FRAME_S), dtype=np.int64)
    t, prev, prev_span = float(rng.uniform(-1.0, 1.0)), None, None
    while t < CLIP_S:
        v = talkers[int(rng.integers(len(talkers)))] if prev is None else \
            [x for x in talkers if x != prev][int(rng.integers(len(talkers) - 1))]
        r = rng.random()
        if prev_span and r < 0.15 and prev_span[1] - prev_span[0] > 1.2:  # a backchannel over the current turn
            audio = bank[v]["short"][int(rng.integers(len(bank[v]["short"])))]
            start = float(rng.uniform(prev_span[0] + 0.2, prev_span[1] - 0.4))
            nxt = prev_span[1] + float(rng.uniform(0.1, 0.6))
        else:
            audio = bank[v]["lines"][int(rng.integers(len(bank[v]["lines"])))]
            if prev_span and r < 0.5:  # an interruption
                start = prev_span[1] - float(rng.uniform(0.2, min(1.5, 0.8 * (prev_span[1] - prev_span[0]))))
            else:
                start = (prev_span[1] if prev_span else t) + float(rng.uniform(0.05, 1.0))
            nxt = None
        wet = fftconvolve(audio, rirs[v])[: len(audio) + int(0.3 * SAMPLE_RATE)] * gains[v]
        a = int(start * SAMPLE_RATE)
        lo, hi = max(0, a), min(n, a + len(wet))
        if hi > lo:
            mix[lo:hi] += wet[lo - a: hi - a]
        f0, f1 = max(0, int(start / FRAME_S)), min(len(count), int((start + len(audio) / SAMPLE_RATE) / FRAME_S))
        count[f0:f1] += 1
        if nxt is None:
            prev, prev_span = v, (start, start + len(audio) / SAMPLE_RATE)
            t = prev_span[1]
        else:
            t = nxt
    level = float(np.sqrt(np.mean(mix**2))) or 1e-3
    mix += pink(n, rng) * level * 10 ** (-float(rng.uniform(10, 40)) / 20)
    if rng.random() < 0.33:
        import soxr

        from audiorole.demo.mix import SR as MUSIC_SR, music_bed

        bed = soxr.resample(music_bed(CLIP_S, rng), MUSIC_SR, SAMPLE_RATE)[:n]
        mix[: len(bed)] += bed * level * 10 ** (-float(rng.uniform(8, 20)) / 20)
    mix *= 10 ** (float(rng.uniform(-30, -10)) / 20) / (float(np.sqrt(np.mean(mix**2))) or 1.0)
    return mix.astype(np.float32), np.minimum(count, 2)


def make_set(bank: dict[str, dict], n_clips: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    feats, labels = [], []
    frames = int(CLIP_S / FRAME_S)
    for _ in range(n_clips):
        audio, lab = make_clip(bank, rng)
        f = log_mel(audio)[:frames]
        f = np.pad(f, ((0, frames - len(f)), (0, 0)))
        feats.append(f)
        labels.append(lab)
    return np.stack(feats), np.stack(labels)


def frame_scores(probs: np.ndarray, labels: np.ndarray, threshold: float = 0.5) -> dict:
    """Frame-level precision / recall of 'two or more talkers'."""
    hyp, ref = probs >= threshold, labels == 2
    tp = float((hyp & ref).sum())
    return {"precision": round(tp / max(1.0, float(hyp.sum())), 4), "recall": round(tp / max(1.0, float(ref.sum())), 4),
            "overlap_share": round(float(ref.mean()), 4)}


def train(out: Path, *, clips: int = 2400, val_clips: int = 200, epochs: int = 12, seed: int = 0,
          threads: int = 2, lines_per_voice: int = 30, log=print) -> dict:
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    train_bank = synthesize_voices(TRAIN_VOICES, lines_per_voice, rng)
    val_bank = synthesize_voices(VAL_VOICES, lines_per_voice, rng)
    x, y = make_set(train_bank, clips, rng)
    vx, vy = make_set(val_bank, val_clips, rng)
    log(f"data: {clips} + {val_clips} clips of {CLIP_S:.0f} s in {time.perf_counter() - t0:.0f} s; "
        f"overlap share {float((y == 2).mean()):.3f}")
    model = build_model()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    steps = epochs * (clips // 32)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    loss_fn = torch.nn.CrossEntropyLoss(weight=torch.tensor([1.0, 1.0, 2.0]))
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    best, history = None, []
    for epoch in range(epochs):
        model.train()
        order = torch.from_numpy(rng.permutation(clips))
        for k in range(0, clips - 31, 32):
            idx = order[k:k + 32]
            logits = model(xt[idx])
            loss = loss_fn(logits.reshape(-1, 3), yt[idx].reshape(-1))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            sched.step()
        model.eval()
        with torch.no_grad():
            vp = torch.softmax(model(torch.from_numpy(vx)), dim=-1)[..., 2].numpy()
        s = frame_scores(vp, vy)
        f1 = 2 * s["precision"] * s["recall"] / max(1e-9, s["precision"] + s["recall"])
        history.append({"epoch": epoch + 1, "loss": round(loss.item(), 4), **s, "f1": round(f1, 4)})
        log(f"epoch {epoch + 1}: loss {loss.item():.3f}, held-out voices: {s}")
        if best is None or f1 > best[0]:
            best = (f1, {k: v.clone() for k, v in model.state_dict().items()}, history[-1])
    meta = {"version": VERSION, "seed": seed, "clips": clips, "epochs": epochs, "train_voices": list(TRAIN_VOICES),
            "val_voices": list(VAL_VOICES), "best": best[2], "seconds": round(time.perf_counter() - t0, 1)}
    out.parent.mkdir(parents=True, exist_ok=True)
    from audiorole.io import atomic_path

    with atomic_path(out, suffix=".pt") as tmp:
        torch.save({"state_dict": best[1], **meta}, tmp)
    log(f"wrote {out}: best epoch {best[2]['epoch']} ({best[2]}) in {meta['seconds']:.0f} s")
    return meta


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=WEIGHTS)
    ap.add_argument("--clips", type=int, default=2400)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    train(args.out, clips=args.clips, epochs=args.epochs, seed=args.seed, threads=args.threads)


if __name__ == "__main__":
    main()
