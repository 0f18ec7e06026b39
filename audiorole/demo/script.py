"""The demo series' script: characters, their voices, ways of talking and catch-phrases, and the scenes of each
episode. Pure and deterministic for a seed — no audio here.

Two kinds of dialogue (``lines``):
- ``"style"`` (the default): each main character speaks in their own style (``audiorole.demo.styles``) and every
  line is said once in the series — a model is judged on lines it never saw, as on a real series;
- ``"pool"``: the first demo's 14 lines and 3 catch-phrases per character, reused in every episode (kept as a
  profile: memorization is easy on it, so it measures the pipeline's labels, not a model's generalization).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from audiorole.demo.styles import STYLES

LINE_KINDS = ("style", "pool")

@dataclass(frozen=True)
class Character:
    name: str
    tag: str  # the subtitle speaker tag (alias)
    voice: str  # "piper:joe", "flite:slt", "espeak:en+f2" ...
    catchphrases: tuple[str, ...]
    lines: tuple[str, ...]
    main: bool = True


#: Voices were chosen for distinctness: measured with resemblyzer under a 15 dB music bed, the six main voices'
#: centroids are at least 0.26 cosine distance apart (a voice's own lines spread up to ~0.1 from its centroid).
CHARACTERS: tuple[Character, ...] = (
    Character("Maggie Chen", "MAGGIE", "flite:slt",
              ("Oh, for crying out loud.", "Not on my watch!", "Let's make it happen."),
              ("I left the keys on the counter again.", "Can somebody explain why the fridge is empty?",
               "The landlord called twice this morning.", "We are not painting the hallway orange.",
               "I have a meeting at nine, so keep it quiet.", "Did anyone water the plants on the balcony?",
               "That is the third time this week.", "I made coffee, but it is terrible.",
               "The bakery on the corner closes early on Sundays.", "You promised to fix the door last month.",
               "Please tell me you paid the electricity bill.", "My sister is coming over for dinner tonight.",
               "I think the neighbours can hear everything.", "Honestly, I just want one quiet evening.")),
    Character("Theo Park", "THEO", "piper:joe",
              ("Trust me, I have a plan.", "Well, that escalated quickly.", "Worst idea ever."),
              ("I found a guitar in the basement, and it still works.", "We could start a band, just saying.",
               "The bus was late again, so I walked.", "I already ate the last slice of pizza.",
               "Have you seen my blue jacket anywhere?", "My boss wants the report by Friday.",
               "There is a strange noise coming from the heater.", "I signed us up for the quiz night.",
               "The game starts in ten minutes, hurry up.", "I borrowed your bike, I hope that is fine.",
               "Somebody parked in front of the garage again.", "I learned to cook pasta properly this week.",
               "We should throw a party on Saturday.", "I am pretty sure the cat hates me.")),
    Character("Walt Brennan", "WALT", "flite:awb",
              ("Back in my day, we walked everywhere.", "Mark my words.", "Now that is a proper cup of tea."),
              ("The weather is turning, you can feel it in your bones.", "I have been fixing radios for forty years.",
               "Young people never put anything back where it belongs.", "My garden is the best on the street.",
               "I used to sail boats along the coast.", "The market had fresh fish this morning.",
               "Nobody writes letters anymore, it is a shame.", "I told the council about the potholes.",
               "That dog next door barks at every leaf.", "My knees are telling me it will rain.",
               "I still have the receipt for that television.", "When I was a lad, we had one telephone.",
               "The old cinema is closing down next month.", "Put the kettle on, would you?")),
    Character("Rosa Alvarez", "ROSA", "espeak:en+f2",
              ("Absolutely not, no way.", "I called it, I totally called it.", "Here we go again."),
              ("I got the job at the gallery!", "The paintings arrive on Thursday morning.",
               "My flight leaves at six, so I need a ride.", "I cannot find my phone charger anywhere.",
               "The new restaurant downtown is amazing.", "I ran five kilometres before breakfast.",
               "Who used all the hot water?", "My mother wants to visit for a whole week.",
               "The printer is jammed again, of course.", "I booked tickets for the concert.",
               "We need a bigger table for the living room.", "I am learning to play the piano.",
               "The train was packed this morning.", "Can we please order something tonight?")),
    Character("Dev Sharma", "DEV", "espeak:en-us+m3",
              ("Technically, I am right.", "Let me run the numbers.", "That is statistically unlikely."),
              ("I wrote a program that sorts the recycling.", "The wireless router needs a restart.",
               "I measured the apartment, the couch will not fit.", "My laptop battery lasts nine hours now.",
               "I have a theory about the missing socks.", "The spreadsheet says we spent too much on snacks.",
               "I fixed the leaking tap with a paper clip.", "According to my calculations, we are late.",
               "The elevator has been broken since Monday.", "I ordered a new keyboard, it is very loud.",
               "We should split the bills more fairly.", "I found a bug in the thermostat software.",
               "The satellite dish is pointing the wrong way.", "My code finally works, do not touch anything.")),
    Character("Sam Okafor", "SAM", "espeak:en-us+klatt2",
              ("No problem, I got this.", "Smooth like butter.", "Easy does it, everybody."),
              ("I brought bagels for everyone.", "The basketball court is free this afternoon.",
               "My cousin is getting married in June.", "I have to work a double shift tomorrow.",
               "The delivery guy left the box next door.", "I found twenty dollars in my old coat.",
               "Let us watch a movie after dinner.", "The bathroom light keeps flickering.",
               "I promised to help my uncle move on Sunday.", "This soup needs a little more salt.",
               "I signed up for salsa lessons, do not laugh.", "The parking ticket was not my fault.",
               "We are out of milk again.", "I am taking the dog for a walk.")),
    Character("The Mailman", "MAILMAN", "flite:rms",
              ("Package for apartment four.",),
              ("Sign here, please.", "This one is too big for the mailbox.", "Have a good day, folks."),
              main=False),
)

#: Extra lines spoken only in the enrollment clips (never in an episode).
ENROLLMENT_LINES = {
    "Maggie Chen": "Hello, this is Maggie. I am recording a short message for the new tenants upstairs.",
    "Theo Park": "Hey, Theo here. I am testing the microphone for the podcast we are starting.",
    "Walt Brennan": "This is Walt speaking. Please leave the gate closed so the dog stays in the garden.",
}

#: CP1252-only flourishes for the drifted episode's .srt (non-ASCII text a curator's files really contain).
CP1252_LINES = ("We met at the café on Fifth Street.", "He said “maybe” and left.", "That’s a naïve plan.")

BACKCHANNELS = ("Yeah.", "What?", "Okay.", "Mm-hmm.", "Really?", "Sure.", "No way.")


@dataclass
class Line:
    line_id: int
    scene: int
    character: str
    text: str
    is_backchannel: bool = False
    overlaps_previous: bool = False


@dataclass
class EpisodeScript:
    number: int
    lines: list[Line] = field(default_factory=list)

    @property
    def scenes(self) -> int:
        return len({ln.scene for ln in self.lines})


def main_characters() -> list[Character]:
    return [c for c in CHARACTERS if c.main]


class _StyleLines:
    """Each main character's next line in an episode: line ``(number - 1) * n_lines + k`` of their style for their
    ``k``-th line, so no line comes back in another episode (up to the style's capacity)."""

    def __init__(self, number: int, n_lines: int):
        self.base = (number - 1) * n_lines
        self.said: dict[str, int] = {}

    def next(self, name: str) -> str:
        k = self.said.get(name, 0)
        self.said[name] = k + 1
        return STYLES[name].line(self.base + k)


def write_episode_script(number: int, rng: np.random.Generator, *, n_lines: int,
                         cp1252_flourishes: bool = False, lines: str = "style") -> EpisodeScript:
    """Scenes of 2–4 characters with 6–14 turns each, until ``n_lines`` lines; every main character speaks
    in every episode and says at least one catch-phrase (``"style"``: said before a new line of theirs)."""
    if lines not in LINE_KINDS:
        raise ValueError(f"unknown kind of demo lines {lines!r} (one of {', '.join(LINE_KINDS)})")
    styled = _StyleLines(number, n_lines) if lines == "style" else None
    mains = main_characters()
    script = EpisodeScript(number)
    used: set[str] = set()
    scene = 0
    pending = [c.name for c in mains]  # characters who still have to appear in this episode
    flourishes = list(CP1252_LINES) if cp1252_flourishes else []
    while len(script.lines) < n_lines:
        k = int(rng.integers(2, 5))
        cast = [c for c in mains if c.name in pending][:k]
        others = [c for c in mains if c not in cast]
        if styled and len(cast) < k:  # who has said least so far joins: every character gets their share
            score = [styled.said.get(c.name, 0) + 2 * rng.random() for c in others]
            cast += [others[i] for i in np.argsort(score, kind="stable")[: k - len(cast)]]
        elif len(cast) < k:
            cast += list(rng.choice(others, size=k - len(cast), replace=False))
        if rng.random() < 0.25:
            cast.append(CHARACTERS[-1])  # the minor character drops by now and then
        n_turns = int(rng.integers(6, 15))
        prev = None
        for _ in range(n_turns):
            if len(script.lines) >= n_lines:
                break
            choices = [c for c in cast if c is not prev] or cast
            speaker = choices[int(rng.integers(len(choices)))]
            backchannel = prev is not None and rng.random() < 0.12
            if backchannel:
                text = BACKCHANNELS[int(rng.integers(len(BACKCHANNELS)))]
            elif rng.random() < (0.1 if styled else 0.2) or speaker.name in pending and rng.random() < 0.5:
                text = speaker.catchphrases[int(rng.integers(len(speaker.catchphrases)))]
                if styled and speaker.main:
                    text = f"{text} {styled.next(speaker.name)}"
            elif flourishes and rng.random() < 0.15:
                text = flourishes.pop()
            elif styled and speaker.main:
                text = styled.next(speaker.name)
            else:
                fresh = [t for t in speaker.lines if t not in used] or list(speaker.lines)
                text = fresh[int(rng.integers(len(fresh)))]
                used.add(text)
            if speaker.name in pending and not backchannel:
                pending.remove(speaker.name)
            overlap = (prev is not None and not backchannel and rng.random() < 0.07
                       and not script.lines[-1].is_backchannel)
            script.lines.append(Line(len(script.lines), scene, speaker.name, text, backchannel, overlap))
            prev = speaker
        scene += 1
    _ensure_catchphrases(script, rng, styled)
    return script


def says_catchphrase(character: Character, text: str) -> bool:
    return any(text == p or text.startswith(p + " ") for p in character.catchphrases)


def _ensure_catchphrases(script: EpisodeScript, rng: np.random.Generator, styled: _StyleLines | None) -> None:
    """Make sure each main character says one of their catch-phrases in the episode (on a plain line: before it
    in ``style``, instead of it in ``pool``)."""
    for c in main_characters():
        said = [ln for ln in script.lines if ln.character == c.name]
        if said and not any(says_catchphrase(c, ln.text) for ln in said):
            plain = [ln for ln in said if not ln.is_backchannel] or said
            phrase = c.catchphrases[int(rng.integers(len(c.catchphrases)))]
            if styled is None:
                plain[0].text = phrase
            elif plain[0].is_backchannel:
                plain[0].text = f"{phrase} {styled.next(c.name)}"
            else:
                plain[0].text = f"{phrase} {plain[0].text}"
            plain[0].is_backchannel = False
