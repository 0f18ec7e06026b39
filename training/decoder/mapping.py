"""A second mapping of a reading's envelope to a voice's: a small network that sees each frame with its neighbours.

The mixture's mapping (``training.decoder.convert``) reads one frame at a time and is linear within a class of
sound, so a frame between two sounds, or one whose class the reading's envelope alone leaves open, gets an average of
the classes' answers. ``ContextMLP`` reads ``context`` frames on each side as well (a multilayer perceptron: the
stacked frames, standardized, through two ReLU layers to the voice's coded envelope), learned by least squares on
the same aligned frame pairs as the mixture's regressions (the last realignment's), every voice of the series in one
network with the voice as a one-hot input: a voice with seconds of speech shares what the others' minutes taught it,
as the mixture's series prior does. The conversion speaks the mean of the two mappings (``ConversionConfig.
mlp_weight``): each alone is a different trade between the words and the voice, and their mean kept the mixture's
words with more of the voice on every series measured (``convert``'s notes).

Trained with torch on the CPU (Adam, ``epochs`` passes over at most ``max_pairs`` pairs, a seeded generator: the same
pairs and seed give the same weights), applied with numpy: the voice's one-hot is folded into the first layer's bias,
so a voice's network is plain arrays saved beside its conversion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MLPConfig:
    context: int = 2  # frames on each side of the one mapped
    hidden: int = 512
    epochs: int = 8
    batch: int = 512
    learning_rate: float = 1e-3
    max_pairs: int = 1_000_000  # at most this many aligned frame pairs (every n-th of the series') train it
    seed: int = 0


def padded(cx: np.ndarray, context: int) -> np.ndarray:
    """A reading's frames with ``context`` copies of its first and last frame added at either end."""
    return np.pad(np.asarray(cx, np.float32), ((context, context), (0, 0)), mode="edge")


def windows(frames: np.ndarray, first: np.ndarray, context: int) -> np.ndarray:
    """Rows of ``padded`` frames: per index in ``first``, the ``2 context + 1`` frames from it on, one after another
    ((N, (2 context + 1) D)); frame t of a padded reading is centred in the window that starts at t."""
    width = 2 * context + 1
    return frames[first[:, None] + np.arange(width)[None]].reshape(len(first), width * frames.shape[1])


@dataclass
class ContextMLP:
    """One voice's network: standardize the stacked frames, two ReLU layers, un-standardize."""

    context: int
    in_stats: np.ndarray  # (2, (2 context + 1) D): the stacked frames' mean and standard deviation
    out_stats: np.ndarray  # (2, D): the voices' envelopes' mean and standard deviation
    w0: np.ndarray
    b0: np.ndarray  # the voice's one-hot folded in
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray

    def predict(self, cx: np.ndarray) -> np.ndarray:
        """(T, D) reading frames → (T, D) the voice's coded envelope."""
        h = (windows(padded(cx, self.context), np.arange(len(cx)), self.context) - self.in_stats[0]) / self.in_stats[1]
        h = np.maximum(h @ self.w0 + self.b0, 0.0)
        h = np.maximum(h @ self.w1 + self.b1, 0.0)
        return (h @ self.w2 + self.b2) * self.out_stats[1] + self.out_stats[0]

    FIELDS = ("in_stats", "out_stats", "w0", "b0", "w1", "b1", "w2", "b2")

    def arrays(self, prefix: str = "mlp_") -> dict[str, np.ndarray]:
        return {f"{prefix}context": np.array(self.context), **{prefix + k: getattr(self, k) for k in self.FIELDS}}

    @classmethod
    def from_arrays(cls, arrays: dict, prefix: str = "mlp_") -> ContextMLP | None:
        if f"{prefix}w0" not in arrays:
            return None
        return cls(context=int(arrays[f"{prefix}context"]), **{k: arrays[prefix + k] for k in cls.FIELDS})


def fit_context_mlp(pairs: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]], config: MLPConfig = MLPConfig(),
                    *, threads: int = 1) -> dict[str, ContextMLP]:
    """Per voice its network, all learned together. ``pairs``: voice → per line (the reading's frames (T, D), the
    recording's frames (U, D), the alignment path (rows of (reading frame, recording frame))). Each path row is one
    training pair: the reading frame's context → the recording frame."""
    import torch

    voices = sorted(v for v, p in pairs.items() if p)
    if not voices:
        return {}
    total = sum(len(path) for v in voices for _, _, path in pairs[v])
    stride = -(-total // config.max_pairs)  # every stride-th pair over the series', at most max_pairs
    sources, targets, rows, onehot = [], [], [], []
    offset = seen = 0
    for i, v in enumerate(voices):
        for cx, cy, path in pairs[v]:
            kept = path[(seen + np.arange(len(path))) % stride == 0]
            seen += len(path)
            sources.append(padded(cx, config.context))
            targets.append(np.asarray(cy, np.float32)[kept[:, 1]])
            rows.append(kept[:, 0] + offset)  # the frame's first context row in the padded sources
            onehot.append(np.full(len(kept), i))
            offset += len(sources[-1])
    src, y = np.concatenate(sources), np.concatenate(targets)
    first, voice = np.concatenate(rows), np.concatenate(onehot)
    width, d = 2 * config.context + 1, src.shape[1]

    def inputs(idx: np.ndarray) -> np.ndarray:
        return windows(src, first[idx], config.context)

    sample = inputs(np.arange(0, len(y), max(1, len(y) // 20_000)))
    in_stats = np.stack([sample.mean(0), sample.std(0) + 1e-6]).astype(np.float32)
    out_stats = np.stack([y.mean(0), y.std(0) + 1e-6]).astype(np.float32)
    yz = torch.from_numpy((y - out_stats[0]) / out_stats[1])

    torch_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, threads))
    try:
        gen = torch.Generator().manual_seed(config.seed)
        n_in = width * d + len(voices)
        layers = [torch.nn.Linear(n_in, config.hidden), torch.nn.Linear(config.hidden, config.hidden),
                  torch.nn.Linear(config.hidden, d)]
        for layer in layers:  # seeded initialization, independent of torch's global generator
            bound = 1.0 / np.sqrt(layer.in_features)
            with torch.no_grad():
                layer.weight.uniform_(-bound, bound, generator=gen)
                layer.bias.uniform_(-bound, bound, generator=gen)
        net = torch.nn.Sequential(layers[0], torch.nn.ReLU(), layers[1], torch.nn.ReLU(), layers[2])
        opt = torch.optim.Adam(net.parameters(), lr=config.learning_rate)
        eye = torch.eye(len(voices))
        for _ in range(config.epochs):
            for batch in torch.split(torch.randperm(len(y), generator=gen), config.batch):
                idx = batch.numpy()
                x = torch.from_numpy((inputs(idx) - in_stats[0]) / in_stats[1])
                loss = ((net(torch.cat([x, eye[voice[idx]]], 1)) - yz[batch]) ** 2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
    finally:
        torch.set_num_threads(torch_threads)
    w = [(layer.weight.detach().numpy().T.copy(), layer.bias.detach().numpy().copy()) for layer in layers]
    return {v: ContextMLP(context=config.context, in_stats=in_stats, out_stats=out_stats,
                          w0=np.ascontiguousarray(w[0][0][:width * d]), b0=w[0][1] + w[0][0][width * d + i],
                          w1=w[1][0], b1=w[1][1], w2=w[2][0], b2=w[2][1])
            for i, v in enumerate(voices)}
