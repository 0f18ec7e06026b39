"""Speech that says its words: the TTS bridge's reading (``training.bridge``) and the voice conversion learned from
parallel speech (``training.decoder.convert``), on the real two-speaker recording shipped in pyannote.audio."""

from __future__ import annotations

import numpy as np
import pytest

from audiorole.audio import SAMPLE_RATE, cut, load_audio

NEW_LINE = "The library closes early on Thursday, so bring the books back tomorrow."


@pytest.fixture(scope="module")
def asr():
    from evaluation.metrics.intelligibility import Intelligibility

    return Intelligibility()


@pytest.fixture(scope="module")
def sample_lines(pyannote_sample):
    """speaker → [(text, 16 kHz clip)] from the recording's STM."""
    wav = load_audio(pyannote_sample / "sample.wav")
    lines: dict[str, list] = {}
    for raw in (pyannote_sample / "sample.stm").read_text().splitlines():
        _, _, who, a, b, text = raw.split(maxsplit=5)
        lines.setdefault(who, []).append((text, cut(wav, float(a), float(b))))
    return lines


def test_the_bridge_voice_says_the_words_and_speaks_words_no_lexicon_has(asr):
    from training.bridge import read_aloud

    wav = read_aloud(NEW_LINE)
    assert wav.dtype == np.float32 and 2.5 < len(wav) / SAMPLE_RATE < 8
    assert asr.score(wav, NEW_LINE)[0] <= 0.1
    np.testing.assert_array_equal(wav, read_aloud("  The library closes early on Thursday, so bring the books back "
                                                  "tomorrow.  "))  # deterministic, whitespace aside
    # invented words fall back to the voice's grapheme-to-phoneme model: spoken, not skipped
    plain, invented = read_aloud("Bring the books."), read_aloud("Bring the zorblax quintessoids.")
    assert len(invented) > len(plain) + 0.3 * SAMPLE_RATE
    assert len(read_aloud("  ")) == 0


def test_a_conversion_learned_on_a_speakers_lines_moves_new_speech_towards_that_speaker(sample_lines, asr, tmp_path):
    """Two real speakers (close voices: their centroids' cosine is 0.90), their converters learned together, each on
    that speaker's lines read by the bridge voice: a sentence neither said, converted into each, is identified as
    that speaker — nearer their centroid than the other's (speaker embedding the converter never saw), and nearer
    than the unconverted reading was — and is still heard as words of it. Ten seconds of telephone speech per speaker is
    little: Whisper's CER of the converted sentence ranges 0.13–0.68 over mixture sizes here (noise scores 1.0); the
    demo's characters have minutes, and ``benchmarks/speech_paths.py`` measures them."""
    from audiorole.embeddings import build_embedder
    from training.bridge import read_aloud
    from training.decoder.convert import ConversionConfig, fit_series_voices, load_converters, save_converters

    cfg = ConversionConfig(components=2, min_parallel_s=3.0)
    conv, refused = fit_series_voices(sample_lines, cfg, "hibari:heart")
    assert set(conv) == set(sample_lines) and refused == {}
    # ten seconds are too few for a bank of the voice's own excitation: WORLD's excitation speaks
    assert all(c.excitation is None for c in conv.values())
    emb = build_embedder("resemblyzer")
    centroid = {who: emb.embed_many([x for _, x in lines]).mean(0) for who, lines in sample_lines.items()}
    centroid = {k: v / np.linalg.norm(v) for k, v in centroid.items()}
    tts = read_aloud(NEW_LINE)
    out = {who: c.convert(tts, cfg) for who, c in conv.items()}
    e = {who: emb.embed_many([y])[0] for who, y in out.items()}
    e = {k: v / np.linalg.norm(v) for k, v in e.items()}
    reading = emb.embed_many([tts])[0]
    reading /= np.linalg.norm(reading)
    for who, other in (("Diane", "Sheila"), ("Sheila", "Diane")):
        assert len(out[who]) == pytest.approx(len(tts) * conv[who].tempo, abs=160)  # at the speaker's rate
        assert e[who] @ centroid[who] > e[who] @ centroid[other], who
        assert e[who] @ centroid[who] > reading @ centroid[who], who
        assert asr.score(out[who], NEW_LINE)[0] <= 0.7, who
    # saved and loaded, the same conversion
    save_converters(conv, tmp_path)
    back = load_converters(tmp_path)
    assert set(back) == set(conv) and back["Diane"].source == "hibari:heart"  # the voice it converts from
    np.testing.assert_allclose(back["Diane"].convert(tts, cfg), out["Diane"], atol=1e-6)
    assert load_converters(tmp_path / "nothing") == {}


def test_the_voices_recorded_excitation_sounds_more_like_the_voice_than_worlds(sample_lines, asr, tmp_path):
    """The same two voices' conversions, each with a bank of its own recorded frames (allowed from 3 s here): three
    new sentences in each voice sound more like that voice (mean cosine to its centroid, measured 0.762 with WORLD's
    excitation and 0.772 with the voice's own) and stay nearer it than the other voice's; they are heard as their
    words about as well (Whisper's CER here 0.07-0.39 with WORLD's, 0.14-0.36 with the voice's own;
    ``benchmarks/speech_paths.py`` measures minutes of speech). The bank is saved with the conversion and speaks the
    same after loading."""
    from dataclasses import replace

    from audiorole.embeddings import build_embedder
    from training.bridge import read_aloud
    from training.decoder.convert import ConversionConfig, fit_series_voices, load_converters, save_converters

    cfg = ConversionConfig(components=2, min_parallel_s=3.0, excitation_min_s=3.0)
    conv, _ = fit_series_voices(sample_lines, cfg, "hibari:heart")
    assert all(c.excitation is not None and c.excitation.seconds > 9 for c in conv.values())
    emb = build_embedder("resemblyzer")
    centroid = {who: emb.embed_many([x for _, x in lines]).mean(0) for who, lines in sample_lines.items()}
    centroid = {k: v / np.linalg.norm(v) for k, v in centroid.items()}
    texts = [NEW_LINE, "My brother painted the kitchen green while we were away on holiday.",
             "Please remember to water the plants before you leave for the airport."]
    own = {"world": [], "recorded": []}
    for text in texts:
        tts = read_aloud(text)
        for who, other in (("Diane", "Sheila"), ("Sheila", "Diane")):
            for excitation in own:
                y = conv[who].convert(tts, replace(cfg, excitation=excitation))
                e = emb.embed_many([y])[0]
                e /= np.linalg.norm(e)
                own[excitation].append(e @ centroid[who])
                if excitation == "recorded":
                    assert e @ centroid[who] > e @ centroid[other], (who, text)
                    assert asr.score(y, text)[0] <= 0.6, (who, text)
    assert np.mean(own["recorded"]) > np.mean(own["world"]) + 0.005, own
    save_converters(conv, tmp_path)
    back = load_converters(tmp_path)
    tts = read_aloud(NEW_LINE)
    np.testing.assert_allclose(back["Sheila"].convert(tts, cfg), conv["Sheila"].convert(tts, cfg), atol=1e-6)


def test_the_series_mapping_as_prior_keeps_a_voice_with_seconds_of_speech_intelligible(sample_lines, asr):
    """Ten seconds per speaker is too little to fit 8 components' 40 x 41 regression coefficients alone: three new
    sentences converted into each speaker are heard at a CER of about 0.68 when each voice is fitted on its own lines
    only (``relevance`` 0), about 0.35 with the pooled voices' mapping as each one's prior (the default). Each
    conversion is still nearer its own speaker's centroid than the other's."""
    from audiorole.embeddings import build_embedder
    from training.bridge import read_aloud
    from training.decoder.convert import ConversionConfig, fit_series_voices

    emb = build_embedder("resemblyzer")
    centroid = {who: emb.embed_many([x for _, x in lines]).mean(0) for who, lines in sample_lines.items()}
    texts = [NEW_LINE, "My brother painted the kitchen green while we were away on holiday.",
             "Please remember to water the plants before you leave for the airport."]
    readings = [read_aloud(t) for t in texts]
    cer = {}
    for relevance in (0.0, ConversionConfig().relevance):
        cfg = ConversionConfig(min_parallel_s=3.0, relevance=relevance, excitation="world")
        conv, _ = fit_series_voices(sample_lines, cfg, "hibari:heart")
        scores = []
        for text, tts in zip(texts, readings):
            for who, other in (("Diane", "Sheila"), ("Sheila", "Diane")):
                y = conv[who].convert(tts, cfg)
                scores.append(asr.score(y, text)[0])
                e = emb.embed_many([y])[0]
                if relevance:
                    assert e @ centroid[who] / np.linalg.norm(centroid[who]) > \
                        e @ centroid[other] / np.linalg.norm(centroid[other]), (who, text)
        cer[relevance] = float(np.mean(scores))
    assert cer[ConversionConfig().relevance] < cer[0.0] - 0.15, cer


def test_the_voices_learned_on_two_threads_are_the_voices_learned_on_one(sample_lines):
    from training.decoder.convert import ConversionConfig, fit_series_voices

    cfg = ConversionConfig(components=2, min_parallel_s=3.0, excitation_min_s=3.0)
    one, _ = fit_series_voices(sample_lines, cfg, "hibari:heart", threads=1)
    two, _ = fit_series_voices(sample_lines, cfg, "hibari:heart", threads=2)
    assert list(one) == list(two) == sorted(sample_lines)
    for who in one:
        for field in ("mean_x", "mean_y", "regress", "log_f0", "gv", "bank_env"):
            np.testing.assert_array_equal(getattr(one[who], field), getattr(two[who], field), err_msg=field)
        for field, value in {**one[who].excitation.arrays(), **one[who].mlp.arrays()}.items():
            np.testing.assert_array_equal(value, {**two[who].excitation.arrays(), **two[who].mlp.arrays()}[field],
                                          err_msg=field)
        assert one[who].tempo == two[who].tempo


def test_a_voices_own_regression_wins_where_it_has_the_frames_and_the_pooled_one_where_it_has_not():
    """``adapted_regressions`` on exact linear data: a voice with 4,000 frames of its mapping gets its mapping at
    any prior weight; a voice with 12 noisy frames (fewer than the 6 coefficients per output it would fit) gets a
    wild fit of its own, and the pooled one with a prior worth 400 frames."""
    from training.decoder.convert import _regression_stats, adapted_regressions

    rng = np.random.default_rng(0)
    d = 5
    w_a = rng.normal(size=(d, d + 1))
    w_b = w_a + 0.1 * rng.normal(size=(d, d + 1))  # a voice near the other, as a series' voices are

    def stats(w, n, noise):
        x = rng.normal(size=(n, d))
        y = w[:, 0] + x @ w[:, 1:].T + noise * rng.normal(size=(n, d))
        return _regression_stats(np.ones((1, n)), x, y, np.zeros((1, d)))

    data = {"a": stats(w_a, 4000, 0.0), "b": stats(w_b, 12, 1.0)}
    alone, pooled = adapted_regressions(data, 0.0), adapted_regressions(data, 400.0)
    np.testing.assert_allclose(alone["a"][0], w_a, atol=0.01)  # (a ridge of 1e-3 keeps every solve invertible)
    np.testing.assert_allclose(pooled["a"][0], w_a, atol=0.01)
    assert np.abs(alone["b"][0] - w_b).max() > 0.5  # twelve noisy frames: no mapping to speak of
    assert np.abs(pooled["b"][0] - w_b).max() < 0.5  # the series' mapping, near the voice's own


def test_realignment_pairs_each_source_frame_with_the_target_frame_its_conversion_is_nearest_in_order():
    """The first alignment compares the two voices' own envelopes; a realignment compares the source frames *as the
    fitted conversion maps them* with the target, and pairs the source frames themselves (what the next mixture
    learns from). Here the source frames look nothing like the target's, their mapping is the target's frames in
    a known monotonic order, and the pairs follow that order."""
    from training.decoder.convert import aligned_frames

    rng = np.random.default_rng(0)
    target = rng.normal(size=(6, 5)) * 3
    order = np.array([0, 0, 1, 2, 2, 2, 3, 4, 5, 5])  # source frame i maps to target frame order[i]
    source = rng.normal(size=(len(order), 5))
    x, y, path = aligned_frames(source, target, via=target[order])
    np.testing.assert_array_equal(path[:, 1], order)  # the path, row by row, is that order
    assert {(tuple(a), tuple(b)) for a, b in zip(x, y)} == {(tuple(source[i]), tuple(target[j]))
                                                         for i, j in enumerate(order)}
    assert not np.array_equal(aligned_frames(source, target)[1], y)  # on the raw frames, another path


def test_a_voice_that_speaks_slower_than_the_reading_is_given_its_own_rate(tmp_path):
    """The "voice" here is the bridge's own reading slowed to 0.8 of its rate by a phase vocoder (librosa, not the
    converter's own stretch): the conversion learns a tempo of 1/0.8 from the parallel lines, speaks a new line that
    much longer, still as its words (the silence around the recordings is not counted); with ``tempo`` off it keeps the
    reading's timing. A voice faster than the reading is measured as such but keeps the reading's timing."""
    from dataclasses import replace

    import librosa

    from evaluation.metrics.intelligibility import Intelligibility
    from training.bridge import read_aloud
    from training.decoder.convert import ConversionConfig, VoiceConverter

    texts = ["The kettle is on the stove, and the tea is getting cold.",
             "We walked along the river until the sun went down.",
             "Nobody told me the meeting had moved to Friday afternoon."]
    readings = [read_aloud(t) for t in texts]
    rng = np.random.default_rng(0)
    # each recording with 0.4 s of a quiet noise floor before and after it, as a segment cut from an episode has
    pad = [(0.003 * rng.standard_normal(int(0.4 * SAMPLE_RATE))).astype(np.float32) for _ in range(2)]
    pairs = [(r, np.concatenate([pad[0], librosa.effects.time_stretch(r, rate=0.8), pad[1]])) for r in readings]
    cfg = ConversionConfig(components=2, min_parallel_s=3.0, realign=0)
    conv = VoiceConverter.fit(pairs, cfg)
    assert conv.tempo == pytest.approx(1.25, abs=0.08)  # the padding is not counted as speaking time
    tts = read_aloud(NEW_LINE)
    slow, kept = conv.convert(tts, cfg), conv.convert(tts, ConversionConfig(components=2, tempo=False))
    assert len(slow) == pytest.approx(len(tts) * conv.tempo, abs=160)
    assert len(kept) == pytest.approx(len(tts), abs=160)
    assert Intelligibility().score(slow, NEW_LINE)[0] <= 0.2
    # bounded: a voice measured at three times the reading's length is not stretched past the upper bound, and a
    # voice faster than the reading keeps the reading's timing (a compressed reading loses words)
    pairs = [(r, librosa.effects.time_stretch(r, rate=1 / 3)) for r in readings]
    assert VoiceConverter.fit(pairs, cfg).tempo == cfg.tempo_bounds[1] == 1.4
    pairs = [(r, librosa.effects.time_stretch(r, rate=1.25)) for r in readings]
    faster = VoiceConverter.fit(pairs, cfg)
    assert faster.tempo == 1.0 and len(faster.convert(tts, cfg)) == pytest.approx(len(tts), abs=160)
    # its rate as measured is kept beside the applied one (and saved); the bounds allowing it, it is applied
    assert faster.measured_tempo == pytest.approx(0.8, abs=0.06)
    faster.save(tmp_path / "faster.npz")
    assert VoiceConverter.load(tmp_path / "faster.npz").measured_tempo == faster.measured_tempo
    assert VoiceConverter.fit(pairs, replace(cfg, tempo_bounds=(0.5, 2.0))).tempo == faster.measured_tempo


def test_stretching_never_blends_voiced_and_unvoiced_frames():
    from training.decoder.convert import stretch

    f0 = np.array([0.0, 100.0, 200.0, 0.0])
    env, ap = np.arange(8.0).reshape(4, 2), np.zeros((4, 3))
    f0_s, env_s, ap_s = stretch(f0, env, ap, 2.0)
    assert len(f0_s) == len(env_s) == len(ap_s) == 8
    # voiced between two voiced frames: log-interpolated; next to an unvoiced one: the nearer frame's, as it is
    np.testing.assert_allclose(f0_s, [0, 100, 100, np.sqrt(100 * 200), 200, 0, 0, 0])
    np.testing.assert_allclose(env_s[:, 0], [0, 1, 2, 3, 4, 5, 6, 6])  # halfway frames interpolated, the end held
    f0_s, env_s, _ = stretch(f0, env, ap, 1.0)
    np.testing.assert_allclose(f0_s, f0)
    np.testing.assert_array_equal(env_s, env)


def test_too_little_parallel_speech_is_refused_with_the_amount(sample_lines):
    from training.bridge import read_aloud
    from training.decoder.convert import ConversionConfig, VoiceConverter

    text, clip = sample_lines["Sheila"][0]  # "Hello?": half a second
    with pytest.raises(ValueError, match=r"0\.5 s of parallel speech .* 5 s with voiced speech needed"):
        VoiceConverter.fit([(read_aloud(text), clip)], ConversionConfig())


def test_the_global_variance_post_filter_gives_the_voices_spread_back():
    """A mixture's conditional mean flattens each coefficient's spread; the post-filter scales it, around the
    utterance's own mean over its voiced frames, to the spread the voice has in its recordings. Energy (coefficient
    0) is left alone, and an utterance with too few voiced frames to measure a spread is returned as it is."""
    from training.decoder.convert import VoiceConverter

    rng = np.random.default_rng(0)
    d = 6
    target = np.array([4.0, 1.0, 0.25, 2.0, 0.5])
    conv = VoiceConverter(weights=np.ones(1), mean_x=np.zeros((1, d)), mean_y=np.zeros((1, d)),
                          prec_x=np.eye(d)[None], logdet_x=np.zeros(1), regress=np.zeros((1, d, d)),
                          log_f0=np.array([5.0, 0.1]), parallel_s=10.0, gv=target)
    env = rng.normal(0.0, 0.3, size=(400, d)) + np.arange(d)
    voiced = np.arange(400) % 4 != 0
    out = conv.restore_variance(env, voiced)
    np.testing.assert_allclose(out[voiced, 1:].var(0), target, rtol=1e-6)
    np.testing.assert_allclose(out[voiced, 1:].mean(0), env[voiced, 1:].mean(0), atol=1e-9)
    np.testing.assert_array_equal(out[:, 0], env[:, 0])
    np.testing.assert_array_equal(conv.restore_variance(env, np.arange(400) < 5), env)
    conv.gv = None  # a conversion saved before it measured its voice's spread
    np.testing.assert_array_equal(conv.restore_variance(env, voiced), env)


def test_a_series_in_another_language_is_read_by_a_voice_of_that_language(monkeypatch):
    """An English voice reading Czech would say Czech words as English letters; Czech gets Festival's recorded voice
    (installed by ``make``), a language without one espeak-ng's voice for it (so does Czech without Festival's), a
    language no packaged voice reads is refused by name, and a conversion remembers the voice it was learned from
    (saved and loaded)."""
    from dataclasses import asdict

    from audiorole.demo import voices
    from training import stages
    from training.bridge import BRIDGE_VOICE, BridgeUnavailable, bridge_voice, read_aloud
    from training.decoder import DecoderConfig

    assert bridge_voice("en") == bridge_voice("en-GB") == BRIDGE_VOICE
    assert bridge_voice("cs") == bridge_voice("cs-CZ") == "festival:czech_dita"
    assert bridge_voice("pl") == "espeak:pl"
    with pytest.raises(BridgeUnavailable, match="'tlh'"):
        bridge_voice("tlh")
    line = "Dobrý den, tohle je naše ryba."
    for voice in ("festival:czech_dita", "espeak:cs"):
        czech = read_aloud(line, voice=voice)
        assert czech.dtype == np.float32 and 1.0 < len(czech) / SAMPLE_RATE < 5, voice
        np.testing.assert_array_equal(czech, read_aloud(line, voice=voice))
        assert len(czech) != len(read_aloud(line))
    with pytest.raises(BridgeUnavailable, match="unknown bridge voice"):
        read_aloud(line, voice="say:cs")
    # the decoder's conversions depend on the voice: without Festival's, Czech falls back and the decoder is stale
    with_festival = stages.decoder_inputs(DecoderConfig(), "cs")
    monkeypatch.setattr(voices, "festival_voices", lambda: frozenset())
    assert bridge_voice("cs") == "espeak:cs"
    assert stages.decoder_inputs(DecoderConfig(), "cs") != with_festival
    assert stages.decoder_inputs(DecoderConfig(), "en") == [asdict(DecoderConfig())]


def test_the_czech_reading_is_heard_as_its_words():
    """Festival's Czech voice (real recorded diphones) says Czech words so that the multilingual Whisper base hears
    them (``benchmarks/bridge_voices.py``: CER 0.19 on 30 Fish Fillets lines, espeak-ng's formant voice 0.39); here
    five sentences, each voice's mean."""
    from evaluation.metrics.intelligibility import Intelligibility
    from training.bridge import read_aloud

    lines = ["Dobrý den, tohle je naše ryba.", "Počkej na mě, jdu s tebou!",
             "Každá distribuce má určité rozhraní mezi Unixem a uživatelem.",
             "Ta malá rybka se v širém moři ztratí.", "Vždycky jsem si myslel, že jsem byl rybářský člun."]
    asr = Intelligibility(language="cs")
    mean = {v: np.mean([c for c, _ in asr.score_many([(read_aloud(t, voice=v), t) for t in lines])])
            for v in ("festival:czech_dita", "espeak:cs")}
    assert mean["festival:czech_dita"] <= 0.25
    assert mean["festival:czech_dita"] < mean["espeak:cs"] - 0.1