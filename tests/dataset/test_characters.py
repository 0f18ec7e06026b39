"""Voices across episodes and their names: clustering, naming evidence, curator mapping, stable ids."""

from pathlib import Path

import numpy as np
import pytest

from audiorole.dataset.characters import (
    CharacterConfig, CuratorMapping, assign_characters, check_mapping, cluster_voices, load_mapping, match_enrollment,
    normalize,
)
from audiorole.discovery import CharacterSpec, SeriesSpec
from audiorole.errors import InputError


def voices(n_voices=5, dim=64, inter_cos=0.6, seed=0):
    """Unit-norm voice centroids with a given mean pairwise cosine (embeddings share a common direction)."""
    rng = np.random.default_rng(seed)
    common = rng.normal(size=dim)
    common /= np.linalg.norm(common)
    spread = np.sqrt((1 - inter_cos) / inter_cos)
    return normalize(common + spread * normalize(rng.normal(size=(n_voices, dim))))


def sample(centroids, counts, within_cos=0.85, seed=1):
    rng = np.random.default_rng(seed)
    dim = centroids.shape[1]
    noise = np.sqrt((1 - within_cos**2) / within_cos**2)
    labels = np.repeat(np.arange(len(counts)), counts)
    x = normalize(centroids[labels] + noise * normalize(rng.normal(size=(len(labels), dim))))
    return x, labels


def purity(pred, truth):
    return sum(np.bincount(truth[pred == c]).max() for c in np.unique(pred)) / len(truth)


def test_clustering_recovers_imbalanced_voices_from_micro_clusters():
    c = voices(6, inter_cos=0.6)
    x, truth = sample(c, [3000, 1500, 800, 400, 200, 100])
    res = cluster_voices(x, None, CharacterConfig(cluster_threshold=0.25, max_units=120))
    assert len(res.centroids) == 6
    assert purity(res.labels, truth) > 0.98 and purity(truth, res.labels) > 0.98


def test_clustering_from_episode_units_and_a_single_voice():
    c = voices(3, inter_cos=0.6)
    x, truth = sample(c, [120, 100, 80])
    units = truth * 10 + np.arange(len(truth)) % 4  # each voice seen in 4 "episodes"
    res = cluster_voices(x, units, CharacterConfig(cluster_threshold=0.12))
    assert len(res.centroids) == 3 and purity(res.labels, truth) > 0.98
    one = cluster_voices(x[truth == 0], units[truth == 0], CharacterConfig(cluster_threshold=0.12))
    assert len(one.centroids) == 1 and np.all(one.margin == 1.0)


# assign_characters on crafted segments -------------------------------------------------------------------
SPEC = SeriesSpec(key="show", folder=Path("/nowhere"), title="Show", characters=(
    CharacterSpec("Maggie Chen", aliases=("MAGGIE",)), CharacterSpec("Theo Park", aliases=("THEO",))))


def segments(x, truth, tags, episodes=3, dur=3.0):
    """SEGMENT_SCHEMA-like dicts: voice v speaks in every episode as local speaker SPK_v."""
    rows = []
    for i, (e, v) in enumerate(zip(x, truth)):
        ep = f"show/e{i % episodes}"
        rows.append({"episode_key": ep, "segment_id": f"{ep}#{i:04d}", "start_s": i * 5.0, "end_s": i * 5.0 + dur,
                     "speaker": f"SPK_{v}", "speaker_tag": tags.get(int(v)) if i % 3 == 0 else None, "keep": True,
                     "embedding": e.tolist()})
    return rows


@pytest.fixture
def series():
    c = voices(4, inter_cos=0.6, seed=3)
    x, truth = sample(c, [60, 50, 40, 4], seed=4)  # voice 3: 4 segments x 3 s = 12 s -> minor
    return c, x, truth


def test_names_from_tags_minor_voice_grouped_as_other(series):
    _, x, truth = series
    res = assign_characters(segments(x, truth, {0: "MAGGIE", 1: "THEO"}), SPEC)
    by_voice = {v["suggested_name"]: v for v in res.voices}
    assert by_voice["Maggie Chen"]["name_source"] == "subtitle_tags" and by_voice["Maggie Chen"]["role"] == "main"
    assert by_voice["Theo Park"]["character"] == "Theo Park"
    unnamed = [v for v in res.voices if v["suggested_name"] is None]
    main = [v for v in unnamed if v["role"] == "main"]
    assert len(main) == 1 and main[0]["character"] == f"unnamed {main[0]['voice_id']}" and main[0]["n_segments"] == 40
    assert all(v["character"] == "other" for v in unnamed if v["role"] == "minor")  # the 12 s voice, maybe split
    seg_char = {s["segment_id"]: s["character"] for s in res.segments}
    rows = segments(x, truth, {})
    assert all(seg_char[r["segment_id"]] == "other" for r, t in zip(rows, truth) if t == 3)
    assert any("without a name" in w for w in res.warnings)


def test_a_small_voice_the_series_names_is_a_character_an_unnamed_one_is_other():
    c = voices(4, inter_cos=0.6, seed=3)
    x, truth = sample(c, [60, 50, 40, 5], within_cos=0.95, seed=4)  # voice 3: 5 x 3 s = 15 s, one voice
    spec = SeriesSpec(key="show", folder=Path("/nowhere"), title="Show", characters=SPEC.characters + (
        CharacterSpec("The Mailman", aliases=("MAILMAN",)),))
    rows = segments(x, truth, {0: "MAGGIE", 1: "THEO"})
    for r, t in zip(rows, truth):  # voice 3 carries its declared tag on every line
        if t == 3:
            r["speaker_tag"] = "MAILMAN"
    res = assign_characters(rows, spec)
    mailman = [v for v in res.voices if v["suggested_name"] == "The Mailman"]
    assert len(mailman) == 1 and mailman[0]["role"] == "main" and mailman[0]["speech_s"] < 30
    seg_char = {s["segment_id"]: s["character"] for s in res.segments}
    assert all(seg_char[r["segment_id"]] == "The Mailman" for r, t in zip(rows, truth) if t == 3)
    # below the named floor it is "other", name or not; and untagged it is "other" under the 30 s floor
    small = assign_characters(rows, spec, config=CharacterConfig(min_named_character_s=20.0))
    assert [v["character"] for v in small.voices if v["suggested_name"] == "The Mailman"] == ["other"]
    untagged = assign_characters(segments(x, truth, {0: "MAGGIE", 1: "THEO"}), spec)
    assert {v["role"] for v in untagged.voices if v["speech_s"] < 30} == {"minor"}  # one voice or fragments: other


def test_curator_mapping_renames_merges_and_sticks(series, tmp_path):
    _, x, truth = series
    rows = segments(x, truth, {0: "MAGGIE", 1: "THEO"})
    first = assign_characters(rows, SPEC)
    vid = {v["suggested_name"]: v["voice_id"] for v in first.voices}
    unnamed = next(v["voice_id"] for v in first.voices if v["suggested_name"] is None and v["role"] == "main")
    path = tmp_path / "characters.yaml"
    path.write_text(f"names:\n  {unnamed}: Theo Park\n  {vid['Maggie Chen']}: Margaret\n")
    mapping = load_mapping(path)
    previous = {v["voice_id"]: np.asarray(v["centroid"]) for v in first.voices}
    # re-materialized with one more episode: ids carry over, the curator's names stick, same name = merged
    more_x, more_t = sample(voices(4, inter_cos=0.6, seed=3), [10, 10, 10, 0], seed=9)
    rows2 = rows + [dict(r, episode_key="show/e9", segment_id=f"show/e9#{i:04d}")
                    for i, r in enumerate(segments(more_x, more_t, {}))]
    second = assign_characters(rows2, SPEC, mapping=mapping, previous=previous)
    assert {v["voice_id"] for v in second.voices} == set(vid.values()) | {unnamed} | {
        v["voice_id"] for v in first.voices}
    chars = {v["voice_id"]: (v["character"], v["name_source"]) for v in second.voices}
    assert chars[vid["Maggie Chen"]] == ("Margaret", "curator")
    assert chars[unnamed] == ("Theo Park", "curator") and chars[vid["Theo Park"]][0] == "Theo Park"
    assert any("merged" in w for w in second.warnings)


def test_unknown_voice_in_mapping_is_a_clear_error(series, tmp_path):
    _, x, truth = series
    path = tmp_path / "characters.yaml"
    path.write_text("names:\n  vdeadbe: Somebody\n")
    with pytest.raises(InputError) as err:
        assign_characters(segments(x, truth, {}), SPEC, mapping=load_mapping(path))
    assert str(path) in str(err.value) and "unknown voice id 'vdeadbe'" in str(err.value)
    path.write_text("names: [a, b]\n")
    with pytest.raises(InputError, match="must map voice ids"):
        load_mapping(path)
    check_mapping(CuratorMapping(), [])  # an empty mapping is always valid


def test_enrollment_names_voices_one_to_one(series):
    c, x, truth = series
    named = match_enrollment({"A": c[1], "B": c[0], "far": -c[2]}, normalize(c[:3]), 0.75)
    assert named == {1: "A", 0: "B"}
    res = assign_characters(segments(x, truth, {1: "MAGGIE"}), SPEC, enrolled={"Theo Park": c[1]})
    theo = next(v for v in res.voices if v["character"] == "Theo Park")
    assert theo["name_source"] == "enrollment"
    assert any("enrollment says Theo Park, subtitle tags say Maggie Chen" in w for w in res.warnings)


def test_single_voice_series(series):
    _, x, truth = series
    only = truth == 0
    res = assign_characters(segments(x[only], truth[only], {0: "MAGGIE"}), SPEC)
    assert [(v["character"], v["role"]) for v in res.voices] == [("Maggie Chen", "main")]
    assert all(s["character_margin"] == 1.0 for s in res.segments)


def test_rejected_segments_inherit_their_episode_speakers_voice(series):
    _, x, truth = series
    rows = segments(x, truth, {0: "MAGGIE"})
    rows.append({"episode_key": "show/e0", "segment_id": "show/e0#9999", "start_s": 0.0, "end_s": 1.0,
                 "speaker": "SPK_0", "speaker_tag": None, "keep": False, "embedding": None})
    res = assign_characters(rows, SPEC)
    rejected = next(s for s in res.segments if s["segment_id"] == "show/e0#9999")
    assert rejected["character"] == "Maggie Chen" and rejected["attribution"] == "diarization"


def test_series_without_kept_speech_has_no_voices():
    rows = [{"episode_key": "show/e0", "segment_id": "show/e0#0000", "start_s": 0.0, "end_s": 1.0, "speaker": None,
             "speaker_tag": None, "keep": False, "embedding": None}]
    res = assign_characters(rows, SPEC)
    assert res.voices == [] and res.segments[0]["character"] is None and "no voices" in res.warnings[0]


# names as constraints, and a cautious refinement (real actors: similar timbres, scattered segment embeddings) ------
def test_units_named_differently_never_merge_and_units_named_alike_always_do():
    from audiorole.dataset.characters import constrained_agglomerate

    a, b = voices(2, inter_cos=0.3)
    twin = normalize(a + 0.02 * b)  # another actor of nearly the same timbre
    far = normalize(a - 0.9 * b)  # the same character recorded far from its usual sound
    cents = np.stack([a, twin, a, far, normalize(a + 0.05 * b)])
    names = ["Bud", "Joe", None, "Bud", None]
    labels = constrained_agglomerate(cents, names, threshold=0.12)
    assert labels[0] != labels[1], "two names are two characters, however alike their voices"
    assert labels[0] == labels[3], "one name is one voice, however far apart its units"
    assert labels[2] in (labels[0], labels[1]) and labels[4] in (labels[0], labels[1])
    plain = constrained_agglomerate(cents, [None] * 5, threshold=0.12)
    assert plain[0] == plain[1], "without names the two timbres merge (the distance alone cannot tell them apart)"


def test_two_characters_of_one_timbre_tagged_in_the_subtitles_stay_two():
    rng = np.random.default_rng(3)
    a, b = voices(2, inter_cos=0.3)
    voice = {"Maggie Chen": a, "Theo Park": normalize(a + 0.03 * b)}
    segs = []
    for e in range(4):
        for who, tag in (("Maggie Chen", "MAGGIE"), ("Theo Park", "THEO")):
            for i in range(12):
                emb = normalize(voice[who] + 0.15 * normalize(rng.normal(size=a.shape)))
                segs.append({"segment_id": f"e{e}#{who[0]}{i:02d}", "episode_key": f"show/e{e}", "speaker": who[0],
                             "keep": True, "start_s": 10.0 * i, "end_s": 10.0 * i + 4, "embedding": emb.tolist(),
                             "speaker_tag": tag if i % 3 == 0 else None})
    def characters(cfg):
        res = assign_characters(segs, SPEC, config=cfg)
        return {v["character"] for v in res.voices}, {r["segment_id"]: r["character"] for r in res.segments}

    before, _ = characters(CharacterConfig(tag_constraints=False, tag_projection=False))
    assert len(before) == 1, "without the tags as constraints one timbre is one voice, one name"
    voices_now, _ = characters(CharacterConfig(tag_projection=False))
    assert voices_now == {"Maggie Chen", "Theo Park"}, "with them, two voices under their own names"
    _, by_unit = characters(CharacterConfig(tag_projection=False, refine_min_gain=0.15))  # segments stay with their episode speaker
    assert all(by_unit[s["segment_id"]] == ("Maggie Chen" if s["speaker"] == "M" else "Theo Park") for s in segs)


def test_refinement_moves_a_segment_only_to_a_clearly_nearer_voice():
    c = voices(2, inter_cos=0.3)
    x, truth = sample(c, [60, 60], within_cos=0.9)
    units = truth.copy()
    units[0] = 1  # diarization put one of voice 0's segments with voice 1
    moved = cluster_voices(x, units, CharacterConfig(refine_min_gain=0.15))
    assert moved.labels[0] == moved.labels[1], "clearly nearer its own voice: moved back"
    near = normalize(0.55 * c[1] + 0.45 * c[0])  # a segment between the voices, a little nearer voice 1
    y = np.vstack([x, near])
    u = np.append(units, 0)  # ...that diarization put with voice 0
    kept = cluster_voices(y, u, CharacterConfig(refine_min_gain=0.15))
    assert kept.labels[-1] == kept.labels[1] and kept.margin[-1] < 0.15, "only a little nearer: stays with its unit"
    free = cluster_voices(y, u, CharacterConfig(refine_min_gain=0.0))
    assert free.labels[-1] == free.labels[-2], "free reassignment moves it"


def test_the_tags_discriminant_space_separates_voices_that_the_rooms_move_more_than_the_actors_differ():
    """Two actors whose lines differ less by actor than by the room they were recorded in (the case of real series:
    within-character variation along a few directions). Raw distances group the lines by room; the projection the
    subtitle tags teach (a third of the lines tagged) scales the room away and groups them by actor."""
    from audiorole.dataset.characters import line_tag_names, tag_names, tag_projection

    rng = np.random.default_rng(7)
    dim = 32
    base, actor, room = normalize(rng.normal(size=(3, dim)))
    room = normalize(room - (room @ actor) * actor)
    segs = []
    for e in range(6):
        for i in range(30):
            who = i % 2
            emb = base + (0.12 if who else -0.12) * actor + rng.choice([-0.5, 0.5]) * room \
                + 0.04 * rng.normal(size=dim)
            segs.append({"segment_id": f"e{e}#{i:02d}", "episode_key": f"show/e{e}", "speaker": None, "keep": True,
                         "start_s": 5.0 * i, "end_s": 5.0 * i + 3, "embedding": normalize(emb).tolist(),
                         "speaker_tag": ("THEO" if who else "MAGGIE") if i % 3 == 0 else None})
    truth = {s["segment_id"]: "Theo Park" if int(s["segment_id"][-2:]) % 2 else "Maggie Chen" for s in segs}

    def share_right(cfg):
        res = assign_characters(segs, SPEC, config=cfg)
        return np.mean([r["character"] == truth[r["segment_id"]] for r in res.segments])

    # no diarization (one unit per episode) and nothing but the distances: the projection alone
    only = dict(tag_constraints=False, refine_within_episode=False)
    raw = share_right(CharacterConfig(**only, tag_projection=False))
    projected = share_right(CharacterConfig(**only))
    assert raw < 0.75, f"raw distances follow the rooms: {raw:.2f}"
    assert projected >= 0.95, f"the projection follows the actors: {projected:.2f}"
    kept = [s for s in segs if s["keep"]]
    proj = tag_projection(np.array([s["embedding"] for s in kept]), line_tag_names(kept, tag_names(SPEC)),
                          CharacterConfig())
    assert proj.classes == ("Maggie Chen", "Theo Park") and proj.n_lines == 60
    untagged = [dict(s, speaker_tag=None) for s in segs]
    assert tag_projection(np.array([s["embedding"] for s in untagged]), line_tag_names(untagged, tag_names(SPEC)),
                          CharacterConfig()) is None, "no tags, no projection: the raw space"


def test_refinement_moves_a_line_only_among_the_voices_of_its_episode():
    """Two actors of one timbre (Sparky and Skip in the Amazon Queen recipe) never share an episode: a line of one
    may look nearer the other's voice, but that voice is not in its episode, so the line stays."""
    a, b = voices(2, inter_cos=0.3)
    twin = normalize(a + 0.05 * b)
    rng = np.random.default_rng(5)
    segs = []
    for e, (who, center, tag) in enumerate([("M", a, "MAGGIE"), ("T", twin, "THEO")] * 2):
        for i in range(20):
            emb = normalize(center + 0.1 * normalize(rng.normal(size=a.shape)))
            segs.append({"segment_id": f"e{e}#{i:02d}", "episode_key": f"show/e{e}", "speaker": who, "keep": True,
                         "start_s": 5.0 * i, "end_s": 5.0 * i + 3, "embedding": emb.tolist(),
                         "speaker_tag": tag if i % 2 == 0 else None})

    def wrong(cfg):
        res = {r["segment_id"]: r["character"] for r in assign_characters(segs, SPEC, config=cfg).segments}
        return sum(res[s["segment_id"]] != ("Maggie Chen" if s["speaker"] == "M" else "Theo Park") for s in segs)

    assert wrong(CharacterConfig(tag_projection=False, refine_within_episode=False)) > 0, \
        "free refinement trades lines between the twins"
    assert wrong(CharacterConfig(tag_projection=False)) == 0


def test_an_episode_whose_tags_name_a_character_lets_their_voice_in():
    """Diarization folded Maggie into Theo's speaker in the third episode (one unit, tagged THEO twice and MAGGIE
    once): Maggie's voice has no unit there, yet the episode's own tags say she speaks in it, so her lines may move
    to her voice; Theo's lines stay (his name already stands for a voice of the episode)."""
    from audiorole.dataset.characters import cluster_voices

    a, b = voices(2, inter_cos=0.3)
    rng = np.random.default_rng(7)
    x, units, episode, names, who = [], [], [], [], []
    for e in range(3):
        for i in range(16):
            m = i % 2 == 0
            x.append(normalize((a if m else b) + 0.1 * normalize(rng.normal(size=a.shape))))
            units.append(2 * e + (0 if m or e == 2 else 1))  # episode 2: one unit for both
            episode.append(e)
            who.append("M" if m else "T")
            tag = (i in (1, 3)) if e == 2 else (i < 4)  # episode 2: THEO twice...
            names.append(("Maggie Chen" if m else "Theo Park") if tag or (e == 2 and i == 0) else None)  # ...MAGGIE once
    x, units, episode = np.array(x), np.array(units), np.array(episode)
    unit_names = ["Maggie Chen", "Theo Park", "Maggie Chen", "Theo Park", "Theo Park"]
    cfg = CharacterConfig(merge_threshold=0.0)
    kw = dict(units=units, config=cfg, unit_names=unit_names, episode_of=episode)
    maggie_voice = cluster_voices(x, **kw).labels[0]
    without = cluster_voices(x, **kw).labels
    with_tags = cluster_voices(x, **kw, line_names=names).labels
    in_ep2 = episode == 2
    m2, t2 = in_ep2 & (np.array(who) == "M"), in_ep2 & (np.array(who) == "T")
    assert not np.any(without[m2] == maggie_voice), "within the episode's voices only, her lines stay folded"
    assert np.all(with_tags[m2] == with_tags[0]), "the episode's tags let her voice in"
    assert np.all(with_tags[t2] == with_tags[t2][0]) and with_tags[t2][0] != with_tags[0]


def test_a_line_whose_own_tag_names_a_voice_goes_to_that_voice_whatever_its_embedding():
    """A THEO-tagged line that sounds like Maggie (a shout, one actor's two voices) is Theo's: the subtitle names
    him. A tag that names no voice (one BOSS line) leaves its line where the voices put it."""
    a, b = voices(2, inter_cos=0.3, seed=11)
    rng = np.random.default_rng(12)
    segs = []
    for e in range(3):
        for i in range(20):
            m = i % 2 == 0
            emb = normalize((a if m else b) + 0.1 * normalize(rng.normal(size=a.shape)))
            segs.append({"segment_id": f"e{e}#{i:02d}", "episode_key": f"show/e{e}", "speaker": "M" if m else "T",
                         "keep": True, "start_s": 5.0 * i, "end_s": 5.0 * i + 3, "embedding": emb.tolist(),
                         "speaker_tag": ("MAGGIE" if m else "THEO") if i < 6 else None})
    shout, boss = segs[20 + 8], segs[40 + 10]  # Maggie's voice and unit, untagged by the helper's rule
    shout["speaker_tag"], boss["speaker_tag"] = "THEO", "BOSS"

    def rows(**cfg):
        return {r["segment_id"]: r for r in assign_characters(segs, SPEC, config=CharacterConfig(**cfg)).segments}

    pinned, free = rows(), rows(pin_tagged_lines=False)
    assert free[shout["segment_id"]]["character"] == "Maggie Chen", "its voice alone says Maggie"
    assert pinned[shout["segment_id"]]["character"] == "Theo Park"
    assert pinned[shout["segment_id"]]["attribution"] == "subtitle_tag"
    assert pinned[shout["segment_id"]]["character_margin"] < 0, "the voice evidence against it stays visible"
    assert pinned[boss["segment_id"]]["character"] == "Maggie Chen"
    assert pinned[boss["segment_id"]]["attribution"] == "embedding"
    tagged = [s["segment_id"] for s in segs if s["speaker_tag"] in ("MAGGIE", "THEO")]
    assert all(pinned[k]["attribution"] == "subtitle_tag" for k in tagged)
    assert all(pinned[k]["character"] == free[k]["character"] for k in pinned if k != shout["segment_id"])


def test_voices_whose_pooled_centroids_meet_merge_unless_two_names_keep_them_apart():
    from audiorole.dataset.characters import merge_close_voices

    a, b = voices(2, inter_cos=0.3)
    rng = np.random.default_rng(2)
    x = normalize(np.vstack([a + 0.02 * rng.normal(size=(10, len(a))), a + 0.02 * rng.normal(size=(10, len(a))),
                             b + 0.02 * rng.normal(size=(10, len(a)))]))
    labels = np.repeat([0, 1, 2], 10)  # voice 1 is voice 0's character in another episode
    merged = merge_close_voices(x, labels, ["Maggie Chen", None, None], threshold=0.15)
    assert merged[0] == merged[10] != merged[20], "one character's two voices merge, another character's does not"
    kept = merge_close_voices(x, labels, ["Maggie Chen", "Theo Park", None], threshold=0.15)
    assert kept[0] != kept[10], "two names are two characters, however close"
    assert len(np.unique(merge_close_voices(x, labels, [None] * 3, threshold=0.0))) == 3
