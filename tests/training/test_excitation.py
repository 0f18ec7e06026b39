"""The voice's recorded excitation (``training.decoder.excitation``) on the real recording shipped in
pyannote.audio."""

from __future__ import annotations

import numpy as np
import pytest

from audiorole.audio import cut, load_audio


@pytest.fixture(scope="module")
def bank_and_lines(pyannote_sample):
    """One speaker's lines, WORLD-analysed, and the bank made of them."""
    from training.decoder.convert import ConversionConfig, analyse
    from training.decoder.excitation import ExcitationBank

    wav = load_audio(pyannote_sample / "sample.wav")
    lines = []
    for raw in (pyannote_sample / "sample.stm").read_text().splitlines():
        _, _, who, a, b, _ = raw.split(maxsplit=5)
        if who == "Diane":
            clip = cut(wav, float(a), float(b))
            f0, cx, _ = analyse(clip, ConversionConfig(), aperiodicity=False)
            lines.append((clip, f0, cx))
    return ExcitationBank.from_lines(lines, 80), lines


def test_a_bank_asked_for_one_of_its_own_lines_plays_that_recording_back(bank_and_lines):
    """The search's target is one recorded line's own frames: it picks that line, frame after frame (no join), and
    the transplant (its own envelope divided out and put back in) overlap-adds the recording itself."""
    bank, lines = bank_and_lines
    assert len(bank.offsets) == len(lines) + 1
    assert bank.seconds == pytest.approx(sum(len(w) for w, _, _ in lines) / 16000)
    i = int(np.argmax([len(w) for w, _, _ in lines]))
    frames = np.flatnonzero(bank.line == i)
    chosen = bank.select(bank.env[frames], bank.lf0[frames])
    np.testing.assert_array_equal(chosen, frames)
    y = bank.transplant(chosen, bank.env[chosen])
    rec = lines[i][0]
    assert len(y) == len(frames) * bank.hop
    inner = slice(bank.window, len(y) - bank.window)  # the first and last windows overlap-add with nothing
    np.testing.assert_allclose(y[inner], rec[inner], atol=2e-4)


def test_the_transplant_puts_the_target_envelope_on_the_recorded_frames(bank_and_lines):
    """Every chosen frame given another envelope (the line's own, 12 dB louder: its first coefficient is the log
    power): the output is the recording 12 dB louder, so the envelope, not the recording, decides the spectrum."""
    bank, lines = bank_and_lines
    frames = np.flatnonzero(bank.line == 0)
    louder = bank.env[frames].copy()
    louder[:, 0] += np.log(10 ** (12 / 10))
    y = bank.transplant(frames, louder)
    base = bank.transplant(frames, bank.env[frames])
    inner = slice(bank.window, len(y) - bank.window)
    gain = np.sqrt(np.mean(y[inner] ** 2) / np.mean(base[inner] ** 2))
    assert gain == pytest.approx(10 ** (12 / 20), rel=0.05)


def test_a_bank_round_trips_through_its_arrays(bank_and_lines):
    from training.decoder.excitation import ExcitationBank

    bank, _ = bank_and_lines
    back = ExcitationBank.from_arrays(bank.arrays())
    for field in ExcitationBank.FIELDS:
        np.testing.assert_array_equal(getattr(back, field), getattr(bank, field))
    assert ExcitationBank.from_arrays({}) is None
    with pytest.raises(ValueError, match="no recorded line"):
        ExcitationBank.from_lines([(np.zeros(100, np.float32), np.zeros(1), np.zeros((1, 40)))], 80)
    assert ExcitationBank.stride(900.0, 300.0) == 3 and ExcitationBank.stride(20.0, 300.0) == 1


def test_a_blend_keeps_that_share_of_the_recorded_frames_own_envelope(bank_and_lines):
    """The coded envelope is log power: a quarter of the recorded frames' own envelope blended into a target 12 dB
    louder gives 9 dB, and a blend of 1 gives the recording back whatever the target."""
    bank, _ = bank_and_lines
    frames = np.flatnonzero(bank.line == 0)
    louder = bank.env[frames].copy()
    louder[:, 0] += np.log(10 ** (12 / 10))
    base = bank.transplant(frames, bank.env[frames])
    inner = slice(bank.window, len(base) - bank.window)

    def gain_db(y):
        return 10 * np.log10(np.mean(y[inner] ** 2) / np.mean(base[inner] ** 2))

    assert gain_db(bank.transplant(frames, louder, blend=0.25)) == pytest.approx(9.0, abs=0.5)
    np.testing.assert_allclose(bank.transplant(frames, louder + 1.0, blend=1.0), base, atol=1e-6)
