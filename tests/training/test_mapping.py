"""The context network's envelope mapping (``training.decoder.mapping``), on frames whose target depends on their
neighbours: what a frame-by-frame mapping cannot learn."""

import numpy as np

from training.decoder.mapping import ContextMLP, MLPConfig, fit_context_mlp


def _voice(rng, offset: float, lines: int = 12, frames: int = 120, d: int = 4):
    """Lines of (reading frames, recording frames, path): the recording of frame t is a function of how the
    reading moves from frame t-1 to t+1 (which frame t alone does not show), plus the voice's offset; the path pairs
    frame t with recorded frame t."""
    out = []
    for _ in range(lines):
        x = np.cumsum(rng.normal(0, 0.3, (frames, d)), axis=0).astype(np.float32)
        prev, nxt = np.vstack([x[:1], x[:-1]]), np.vstack([x[1:], x[-1:]])
        y = np.tanh(2.0 * (nxt - prev)) + offset
        path = np.stack([np.arange(frames), np.arange(frames)], 1)
        out.append((x, y.astype(np.float32), path))
    return out


CONFIG = MLPConfig(hidden=64, epochs=30, batch=128, learning_rate=3e-3)


def test_the_network_learns_a_mapping_of_the_neighbours_and_each_voices_own_offset():
    rng = np.random.default_rng(0)
    nets = fit_context_mlp({"a": _voice(rng, 0.0), "b": _voice(rng, 2.0)}, CONFIG)
    assert sorted(nets) == ["a", "b"]
    for who, offset in (("a", 0.0), ("b", 2.0)):
        for x, y, _ in _voice(np.random.default_rng(1), offset, lines=3):  # lines it never saw
            err = np.mean((nets[who].predict(x) - y) ** 2)
            # the frame alone explains next to nothing of it: its best linear fit leaves the variance
            own = np.linalg.lstsq(np.c_[x, np.ones(len(x))], y, rcond=None)[1].sum() / y.size
            assert err < 0.25 * y.var() and err < 0.5 * own, (who, err, y.var(), own)
    x = _voice(np.random.default_rng(2), 0.0, lines=1)[0][0]
    assert abs(np.mean(nets["b"].predict(x) - nets["a"].predict(x)) - 2.0) < 0.3  # each voice its own offset


def test_the_same_pairs_and_seed_give_the_same_network_and_it_is_saved_whole():
    pairs = {"a": _voice(np.random.default_rng(0), 0.0, lines=4), "b": _voice(np.random.default_rng(1), 1.0, lines=4)}
    config = MLPConfig(hidden=32, epochs=3, batch=64)
    one, two = fit_context_mlp(pairs, config), fit_context_mlp(pairs, config)
    other = fit_context_mlp(pairs, MLPConfig(hidden=32, epochs=3, batch=64, seed=1))
    x = pairs["a"][0][0]
    np.testing.assert_array_equal(one["a"].predict(x), two["a"].predict(x))
    assert not np.allclose(one["a"].predict(x), other["a"].predict(x))
    back = ContextMLP.from_arrays(one["b"].arrays())
    np.testing.assert_array_equal(back.predict(x), one["b"].predict(x))
    assert ContextMLP.from_arrays({}) is None


def test_a_voice_without_lines_gets_no_network():
    pairs = {"a": _voice(np.random.default_rng(0), 0.0, lines=2), "b": []}
    nets = fit_context_mlp(pairs, MLPConfig(hidden=16, epochs=1, max_pairs=50))
    assert list(nets) == ["a"]
    assert fit_context_mlp({"b": []}) == {}
