"""Data dirs built before the stage protocol stay current: each stage's fingerprint is the one the previous release
wrote (its formula, spelled out here as it was), or the stage takes the old one as current (``Stage.legacy``)."""

from __future__ import annotations


import pytest

from audiorole.dataset import stages as dataset
from audiorole.ingest import stages as ingest
from audiorole.segments import stages as segments
from audiorole.stage import STAGES
from audiorole.store import DataStore, fingerprint, write_stamp
from evaluation import stages as evaluation
from evaluation.config import BaselineConfig
from training import stages as training

EP, SERIES = "show/e1", "show"
UP = {name: f"fp-of-{name}" for name in STAGES}  # every upstream stamp, by stage name

#: (stage, partition key, inputs of today's declaration, the fingerprint the release before the protocol wrote)
CASES = [
    (ingest.PROBE, EP, [["/m/e1.mkv", 10, 1]], fingerprint("probe", "1", ["/m/e1.mkv", 10, 1])),
    (segments.SPEECH_ACTIVITY, EP, [{"v": 1}], fingerprint("speech", "1", UP["standardized_audio"], {"v": 1})),
    (segments.ENHANCED_AUDIO, EP, ["auto", 8.0, 2, 100.0, 18.0],
     fingerprint("enhance", "7", UP["speech_activity"], UP["parsed_subtitles"], "auto", 8.0, 2, 100.0, 18.0)),
    (segments.SPEAKER_TURNS, EP, ["id"], fingerprint("diarization", "3", UP["enhanced_audio"], UP["synced_subtitles"],
                                                     "id")),
    (segments.TRANSCRIPT, EP, ["asr"], fingerprint("transcript", "1", UP["speech_activity"], "asr")),
    (training.SPEECH_TOKENIZER, SERIES, [{"t": 1}], fingerprint("tokenizer", "1", UP["dialogues"], {"t": 1})),
    (training.ARP_MODEL, SERIES, [{"m": 1}], fingerprint("lm", "1", UP["speech_tokenizer"], UP["dialogues"], {"m": 1})),
    (evaluation.ANCHORS, SERIES, [], fingerprint("anchors", "1", UP["arp_test_set"])),
    (evaluation.ARP_BASELINES, SERIES, evaluation.baselines_inputs(BaselineConfig()),
     fingerprint("baselines", "1", UP["arp_test_set"], *evaluation.baselines_inputs(BaselineConfig()),
                 UP["speech_tokenizer"], UP["speech_decoder"])),
    (evaluation.ARP_MODEL_SYSTEM, SERIES, [{"walt": "r"}],
     fingerprint("arp_model_system", "2", UP["arp_test_set"], {"walt": "r"})),
    (evaluation.ARP_EVAL_REPORT, SERIES, [], fingerprint("report", "1", UP["arp_eval"])),
]


#: Stages whose output changed after the protocol landed: their version was bumped on purpose, so they re-run.
BUMPED = {"standardized_audio": "3: high-passed at 50 Hz (DC offset and rumble out)",
          "synced_subtitles": "3: text-to-words sync where cue starts miss the onsets (reads the transcript)",
          "arp_test_set": "2: a main character without train-split dialogues gets no test sample; 3: nor one with "
                         "less train-split speech than the ARP-Model needs; 4: a reply is a turn, all its segments named",
          "dialogues": "3: one character's consecutive utterances are one turn (a line split over cues answers nobody)",
          "characters": "5: subtitle tags constrain the voice clustering (4) and teach the series' discriminant space; "
                        "refinement within each episode's voices (5), and those its tags name (6); 7: a line whose "
                        "own cue names a voice is that voice's",
          "parsed_subtitles": "2: bracketed speaker IDs ([Fred] Hi.) are speaker tags, not sound descriptions",
          "dataset_card": "3: the share of each character's speech its own cues name",
          "character_shards": "2: each line's attribution (subtitle_tag or embedding)",
          "speech_decoder": "4: each voice also gets a conversion from the TTS bridge's voice; 5: with 40 coefficients "
                            "and the voice's global variance; 6: its frame pairs realigned through its first fit; 7: "
                            "speaking at the voice's rate; 8: every voice's conversion learned together, the series' "
                            "mapping each one's prior; 9: speaking with the voice's own recorded excitation; 10: the "
                            "envelope the mean of the mixture's and a context network's",
          "arp_replies": "4: the speech says the reply's text (a TTS reading converted into the character's voice); "
                         "5: no text token right after itself, no undecodable bytes in its text; 6: never empty (at "
                         "least MIN_REPLY_WORDS text tokens before its speech); 7: each sample's own seed",
          "arp_eval": "3: the anchors' AUCs with bootstrap intervals, and over every held-out reply; 5: AP adds the "
                      "cosine in the series' speaker space; 6: each reply's repetition of train lines and of replies",
          "aligned_segments": "7: the audio of segments whose language is in doubt is checked by the packaged "
                              "multilingual Whisper base (English series without a multilingual ASR model); 8: a "
                              "subtitle the ASR heard otherwise is weighed by the audio's evidence for its words"}


def test_every_stage_is_covered():
    assert {c[0].name for c in CASES} | set(BUMPED) == {n for n in STAGES if not n.startswith("t_") and n != "race"}


@pytest.mark.parametrize("stage,key,inputs,old", CASES, ids=[c[0].name for c in CASES])
def test_a_stamp_of_the_previous_release_is_current(tmp_path, stage, key, inputs, old):
    store = DataStore(tmp_path)
    for name in set(stage.upstream) - set(stage.fan_in):  # a fan-in's state is among the inputs
        up = STAGES[name]
        write_stamp(up.dir(store, key if up.scope == stage.scope else key.split("/")[0]), up.stamp, UP[name])
    folder = stage.dir(store, key)
    for out in stage.outputs:
        (folder / out).parent.mkdir(parents=True, exist_ok=True)
        (folder / out).write_bytes(b"x")
    write_stamp(folder, stage.stamp, old, n=1)
    assert stage.current(store, key, inputs) == {"fingerprint": old, "n": 1}
    assert stage.current(store, key, [*inputs, "changed"]) is None, "another input is another state"


def test_a_default_runs_vad_settings_are_the_previous_releases():
    """The opt-in decay tails enter the speech stamp only when on: data dirs built before them stay current."""
    from audiorole.segments.vad import VadConfig

    previous = {"threshold": 0.5, "min_speech_ms": 200, "min_silence_ms": 120, "speech_pad_ms": 30,
                "level_target_dbfs": -20.0, "level_span_s": 0.5, "level_max_gain_db": 40.0, "level_gate_dbfs": -40.0,
                "level_gate_relative_db": -18.0, "level_min_prob": 0.8}
    assert segments.speech_inputs(VadConfig()) == [previous]
    (on,) = segments.speech_inputs(VadConfig(tail_margin_db=3.0))
    assert on["tail_margin_db"] == 3.0 and {k: v for k, v in on.items() if not k.startswith("tail_")} == previous
