"""Subtitle parsing: formats, encodings, cleaning, speaker tags, dash cues, broken files."""

from __future__ import annotations

import pytest

from audiorole.errors import SubtitleError
from audiorole.schema import CUE_SCHEMA
from audiorole.ingest.subtitles import decode_subtitle_bytes, parse_subtitle_file, split_cue_text

SRT = """1
00:00:01,000 --> 00:00:02,500
<i>JOEY: How you doin'?</i>

2
00:00:03,000 --> 00:00:04,000
[door slams]

3
00:00:04,200 --> 00:00:06,000
- Hi.
- ROSS: Hello there.

4
00:00:06,500 --> 00:00:08,000
We met at the café, “naïve” as we were.
"""

ASS = r"""[Script Info]
ScriptType: v4.00+

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
Style: Default,Arial,20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,2,2,10,10,10,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Dialogue: 0,0:00:01.00,0:00:02.00,Default,,0,0,0,,{\i1}Hello{\i0} (laughs)
Dialogue: 0,0:00:03.00,0:00:04.50,Default,,0,0,0,,- Where?\N- MAGGIE: Over there.
Dialogue: 0,0:00:05.00,0:00:06.00,Default,,0,0,0,,♪ la la la ♪
"""

VTT = """WEBVTT

00:00:01.000 --> 00:00:02.000
<v Joey>Hi there</v>

00:00:03.000 --> 00:00:04.000
Plain line.
"""


def _write(tmp_path, name, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_srt_cleaning_tags_and_dash_cues(tmp_path):
    parsed = parse_subtitle_file(_write(tmp_path, "e.srt", SRT.encode("utf-8")))
    rows = [(c.cue_index, c.part, c.n_parts, c.speaker_tag, c.text) for c in parsed.cues]
    assert rows == [
        (0, 0, 1, "JOEY", "How you doin'?"),
        (1, 0, 2, None, "Hi."),
        (1, 1, 2, "ROSS", "Hello there."),
        (2, 0, 1, None, "We met at the café, “naïve” as we were."),
    ]
    assert parsed.n_dropped == 1  # the SDH-only cue
    assert parsed.cues[1].start_s == 4.2 and parsed.cues[2].end_s == 6.0, "dash parts keep the cue's times"


def test_ass_markup_sdh_and_dash(tmp_path):
    parsed = parse_subtitle_file(_write(tmp_path, "e.ass", ASS.encode("utf-16")))
    assert parsed.encoding == "utf-16-le" and parsed.format == "ass"
    assert [(c.text, c.speaker_tag, c.part) for c in parsed.cues] == [
        ("Hello", None, 0), ("Where?", None, 0), ("Over there.", "MAGGIE", 1)]


def test_vtt_voice_tag_becomes_speaker_tag(tmp_path):
    parsed = parse_subtitle_file(_write(tmp_path, "e.vtt", VTT.encode("utf-8")))
    assert [(c.speaker_tag, c.text) for c in parsed.cues] == [("Joey", "Hi there"), (None, "Plain line.")]


@pytest.mark.parametrize(
    "encoding, expected",
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("utf-16", "utf-16-le"), ("utf-16-be", "utf-16-be"),
     ("utf-16-le", "utf-16-le"), ("cp1252", "cp1252")],
)
def test_encodings_decode_to_the_same_text(encoding, expected):
    text, enc = decode_subtitle_bytes(SRT.encode(encoding))
    assert enc == expected
    assert "café" in text and "“naïve”" in text


@pytest.mark.parametrize("n_cues", [2, 40])
def test_cp1252_with_curly_apostrophes_and_crlf_is_not_taken_for_another_code_page(n_cues):
    # found on the demo: such a file was guessed as cp1250 / mac_latin2 / cp852 ("Donĺt", "cafÚ")
    blocks = [f"{i + 1}\r\n00:00:{i:02d},000 --> 00:00:{i:02d},900\r\nDon’t go to the café, it’s señor Núñez’s.\r\n"
              for i in range(n_cues)]
    text, enc = decode_subtitle_bytes("\r\n".join(blocks).encode("cp1252"))
    assert enc == "cp1252" and "Don’t go to the café, it’s señor Núñez’s." in text


def test_cyrillic_code_page_is_not_forced_to_cp1252():
    srt = "1\n00:00:01,000 --> 00:00:02,000\nПривет, как у тебя дела сегодня вечером?\n\n" \
          "2\n00:00:03,000 --> 00:00:04,000\nВсё хорошо, спасибо, а у тебя?\n"
    text, enc = decode_subtitle_bytes(srt.encode("cp1251"))
    assert enc != "cp1252" and "Привет" in text


def test_gb18030_chinese_subtitles(tmp_path):
    srt = "1\n00:00:01,000 --> 00:00:02,000\n你好，我们今天去哪里吃饭？\n\n2\n00:00:03,000 --> 00:00:04,000\n我不知道，你决定吧。\n"
    parsed = parse_subtitle_file(_write(tmp_path, "zh.srt", srt.encode("gb18030")))
    assert parsed.encoding == "gb18030"
    assert parsed.cues[0].text == "你好，我们今天去哪里吃饭？"


@pytest.mark.parametrize(
    "line, tag, text",
    [("JOEY: How you doin'?", "JOEY", "How you doin'?"), ("MRS. GELLER: Ross!", "MRS. GELLER", "Ross!"),
     ("Meet me at 10:30.", None, "Meet me at 10:30."), ("Note: this is it", "Note", "this is it"),
     ("GUARD 2: Halt!", "GUARD 2", "Halt!"), ("(sighs) Fine.", None, "Fine."),
     # speaker IDs in brackets (Netflix-style SDH), told from capitalized sound descriptions; ">>" speaker changes
     ("[Fred] Are you coming?", "Fred", "Are you coming?"), ("[Officer Smith]: Stop!", "Officer Smith", "Stop!"),
     ("(JOE) Wait.", "JOE", "Wait."), ("[Laughs] Okay.", None, "Okay."), ("(SIGHS) Fine.", None, "Fine."),
     ("[Phone Ringing] Hello?", None, "Hello?"), ("[man] Who's there?", None, "Who's there?"),
     ("[Engine Starting] Go!", None, "Go!"), ("[Laughing] Stop it.", None, "Stop it."),
     ("[Viking 1] Ahoy!", "Viking 1", "Ahoy!"),
     (">> JOE: We're live.", "JOE", "We're live."), (">> [Joe] Hi.", "Joe", "Hi."),
     ("Meet me at [the bar] tonight.", None, "Meet me at tonight.")],
)
def test_speaker_tags(line, tag, text):
    assert split_cue_text(line) == [(tag, text)]


def test_bracketed_speaker_ids_on_a_dash_cue():
    assert split_cue_text("-[Fred] Hi.\n-[Maggie Chen] Hello.") == [("Fred", "Hi."), ("Maggie Chen", "Hello.")]
    assert split_cue_text("[door closes]\n[Fred] Who's there?") == [("Fred", "Who's there?")]
    assert split_cue_text("[Mary-Lou] Hi.\n[Viking 1] Ahoy!") == [("Mary-Lou", "Hi."), ("Viking 1", "Ahoy!")]


def test_single_dash_line_and_multiline_without_dashes():
    assert split_cue_text("- Hi, how are\nyou doing?") == [(None, "Hi, how are you doing?")]
    assert split_cue_text("I was going\nto say that.") == [(None, "I was going to say that.")]
    assert split_cue_text("Hi.\n- Hello.") == [(None, "Hi."), (None, "Hello.")]


def test_broken_timestamps_keep_good_cues_and_warn(tmp_path):
    bad = SRT + "\n5\n00:00:10,000 --> 00:00:09,000\nbackwards\n\n6\n99:xx --> nonsense\ngarbage block\n"
    parsed = parse_subtitle_file(_write(tmp_path, "bad.srt", bad.encode("utf-8")))
    assert len({c.cue_index for c in parsed.cues}) == 3
    assert any("end before start" in w for w in parsed.warnings)
    assert not any("garbage" in c.text for c in parsed.cues), "a malformed block is never glued onto a cue"


def test_cues_beyond_the_media_are_dropped(tmp_path):
    parsed = parse_subtitle_file(_write(tmp_path, "e.srt", SRT.encode()), max_time_s=5.0)
    assert max(c.start_s for c in parsed.cues) <= 5.0 and any("beyond" in w for w in parsed.warnings)


@pytest.mark.parametrize(
    "name, data, problem",
    [("empty.srt", b"", "empty subtitle file"),
     ("binary.srt", bytes(range(256)) * 8, "unknown text encoding"),
     ("allbad.srt", b"1\n00:00:05,000 --> 00:00:01,000\nx\n", "no valid cue"),
     ("junk.srt", b"this is not a subtitle file at all", "no srt cue found"),
     ("e.txt", b"1\n00:00:01,000 --> 00:00:02,000\nhi\n", "unknown subtitle format")],
)
def test_bad_files_raise_with_path_and_problem(tmp_path, name, data, problem):
    path = _write(tmp_path, name, data)
    with pytest.raises(SubtitleError) as exc:
        parse_subtitle_file(path)
    assert str(path) in str(exc.value) and problem in str(exc.value)


def test_to_table_conforms_to_cue_schema(tmp_path):
    table = parse_subtitle_file(_write(tmp_path, "e.srt", SRT.encode())).to_table("show/e1")
    assert table.schema.equals(CUE_SCHEMA) and table.num_rows == 4
    assert set(table.column("episode_key").to_pylist()) == {"show/e1"}
