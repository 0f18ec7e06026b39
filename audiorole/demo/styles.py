"""How each main character of the demo series talks: sentence frames in their phrasing, filled from their own
vocabulary and topics. A style enumerates thousands of distinct lines, so every line of the series is said once
and a test episode's lines are new to a model trained on the others — as in a real series, where a character comes
back to their topics and turns of phrase, not to their sentences.

Pure data and a deterministic enumeration (``Style.line(n)``: distinct for distinct ``n`` below ``Style.capacity``).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from functools import cached_property
from itertools import product

import numpy as np

_SLOT = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Style:
    frames: tuple[str, ...]  # "The {thing} is broken {when}." — each {slot} is filled from ``words[slot]``
    words: tuple[tuple[str, tuple[str, ...]], ...]  # (slot, options): the character's vocabulary and topics
    seed_name: str = ""  # fixes the enumeration order (the character's name)

    def __post_init__(self):
        slots = dict(self.words)
        for f in self.frames:
            for s in _SLOT.findall(f):
                if s not in slots:
                    raise ValueError(f"frame {f!r}: no words for slot {{{s}}}")
        for s, options in self.words:
            if len(set(options)) != len(options):
                raise ValueError(f"slot {s!r}: repeated options")

    @cached_property
    def _order(self) -> tuple[list[tuple[int, tuple[str, ...]]], np.ndarray]:
        slots = dict(self.words)
        combos = []
        for j, f in enumerate(self.frames):
            names = _SLOT.findall(f)
            combos += [(j, c) for c in product(*(slots[s] for s in names))]
        rng = np.random.default_rng(zlib.crc32(self.seed_name.encode()))
        return combos, rng.permutation(len(combos))

    @property
    def capacity(self) -> int:
        """How many distinct lines the style can say."""
        return len(self._order[0])

    def line(self, n: int) -> str:
        """The ``n``-th line of the enumeration (it wraps around past ``capacity``)."""
        combos, order = self._order
        j, fill = combos[int(order[n % len(order)])]
        it = iter(fill)
        text = _SLOT.sub(lambda _: next(it), self.frames[j])
        return text[0].upper() + text[1:]


def _s(*options: str) -> tuple[str, ...]:
    return tuple(options)


#: character name → style. Vocabulary overlaps a little across characters (everyone has a kitchen), as real
#: characters' does; the frames and most of the words are their own.
STYLES: dict[str, Style] = {
    "Maggie Chen": Style(
        frames=(
            "Can somebody explain why the {thing} is {state} {when}?",
            "I have a {appointment} at {hour}, so {request}.",
            "The {official} called about the {thing} {when}, {sigh}.",
            "Please tell me you {chore} before my {appointment}.",
            "That is the third time {when} that the {thing} is {state}.",
            "Honestly, I just want {wish}, and the {thing} is {state}.",
            "You promised to {chore_inf} {when}, {sigh}.",
            "My {relative} is coming over at {hour}, so {request}.",
        ),
        words=(
            ("thing", _s("fridge", "hallway", "dishwasher", "front door", "electricity bill", "balcony",
                         "laundry basket", "spare key", "recycling bin")),
            ("state", _s("empty", "broken again", "a complete mess", "wide open", "leaking", "covered in crumbs",
                         "making that noise")),
            ("sigh", _s("I am not doing this again", "unbelievable", "I give up", "seriously",
                        "this household, I swear", "I need a holiday")),
            ("when", _s("this morning", "this week", "since Monday", "again today", "every single night",
                        "before lunch")),
            ("appointment", _s("meeting", "dentist appointment", "job interview", "video call",
                               "budget review", "parent evening")),
            ("hour", _s("nine", "half past eight", "ten sharp", "noon", "four o'clock", "seven")),
            ("request", _s("keep it quiet", "nobody touch my desk", "please clean the kitchen",
                           "someone let the plumber in", "do not use all the hot water",
                           "water the plants on the balcony")),
            ("official", _s("landlord", "building manager", "bank", "insurance company", "gas company",
                            "parking office")),
            ("chore", _s("paid the rent", "took out the trash", "fixed the door", "called the plumber",
                         "bought groceries", "returned the library books")),
            ("chore_inf", _s("fix the door", "paint the bathroom", "clean the oven", "sort the mail",
                             "call the plumber", "change the light bulb")),
            ("wish", _s("one quiet evening", "a clean kitchen", "eight hours of sleep", "a bill paid on time",
                        "five minutes of peace", "a hot shower")),
            ("relative", _s("sister", "mother", "aunt", "grandmother", "brother-in-law", "cousin")),
        ), seed_name="Maggie Chen"),
    "Theo Park": Style(
        frames=(
            "Dude, I found a {gadget} in the {place}, and {hype}.",
            "We could start {project}, just saying, {hype}.",
            "I already ate the last {food}, {excuse}.",
            "So I signed us up for {event} on {day}, {hype}.",
            "Have you seen my {clothing}? I think I left it in the {place}, {excuse}.",
            "My boss wants the {task} by {day}, {excuse}.",
            "I borrowed your {gadget} for the {event}, I hope that is fine.",
            "Okay, new idea: {project} in the {place} on {day}.",
        ),
        words=(
            ("gadget", _s("guitar", "skateboard", "camera", "old amplifier", "karaoke machine", "drone",
                          "video game console", "keyboard synth")),
            ("place", _s("basement", "garage", "skate park", "record shop", "attic", "arcade",
                         "van", "back yard")),
            ("project", _s("a band", "a podcast", "a food truck", "a gaming channel", "a comic book",
                           "a rooftop cinema", "a dance crew")),
            ("hype", _s("it would be epic", "it is going to be legendary", "no pressure", "how cool is that",
                        "people would love it", "think about it")),
            ("food", _s("slice of pizza", "burrito", "bag of chips", "donut", "spring roll", "cold noodles",
                        "cheeseburger")),
            ("excuse", _s("but I was starving", "my bad", "in my defence it was calling me",
                          "I will buy more tomorrow", "totally worth it", "do not judge me")),
            ("event", _s("the quiz night", "the open mic", "the charity run", "the battle of the bands",
                         "the street festival", "the escape room")),
            ("clothing", _s("blue jacket", "lucky hoodie", "band shirt", "red sneakers", "beanie",
                            "sunglasses")),
            ("task", _s("report", "sales slides", "inventory list", "client summary", "monthly numbers")),
            ("day", _s("Friday", "Monday morning", "Saturday night", "Sunday", "Wednesday",
                       "Thursday evening")),
        ), seed_name="Theo Park"),
    "Walt Brennan": Style(
        frames=(
            "When I was a lad, we {old_habit}, {tail}.",
            "I have been {craft} for {years}, and I know a {judgement} when I see one.",
            "The {weather} is turning, my {body} can feel it, {tail}.",
            "Nobody {lost_habit} anymore, {tail}.",
            "I told the council about the {nuisance} {ago}, {tail}.",
            "My {garden} is the best on the street, {tail}.",
            "Put the kettle on, would you, before the {weather} comes in, {tail}.",
            "In my day, a {object} lasted {years}, {tail}.",
        ),
        words=(
            ("old_habit", _s("walked five miles to school", "had one telephone for the whole street",
                             "fixed our own shoes", "listened to the wireless every evening",
                             "grew our own potatoes", "wrote letters every Sunday")),
            ("craft", _s("fixing radios", "sailing boats along the coast", "mending clocks", "keeping bees",
                         "growing roses", "repairing bicycles")),
            ("years", _s("forty years", "half a century", "thirty odd years", "longer than you have been alive",
                         "donkey's years", "twenty winters")),
            ("ago", _s("last spring", "ten years ago", "before the war memorial was cleaned", "twice last winter",
                       "back in the seventies", "every year since")),
            ("judgement", _s("bad job", "proper craftsman", "storm brewing", "rotten deal", "fine piece of work")),
            ("weather", _s("weather", "wind", "frost", "rain", "fog", "autumn")),
            ("body", _s("knees", "old shoulder", "back", "bones", "left hip")),
            ("lost_habit", _s("writes letters", "mends their socks", "says good morning", "reads a proper map",
                              "keeps a garden", "tips their hat")),
            ("nuisance", _s("potholes", "dog next door", "broken street lamp", "noisy motorbikes",
                            "overflowing drains", "pigeons on the roof")),
            ("garden", _s("garden", "rose bed", "vegetable patch", "apple tree", "greenhouse")),
            ("tail", _s("rain or shine", "and we were grateful", "mark my words", "ask anyone at the market",
                        "and that is a fact", "and it is a crying shame", "you young people")),
            ("object", _s("television", "pair of boots", "wireless set", "bicycle", "kettle", "wristwatch")),
        ), seed_name="Walt Brennan"),
    "Rosa Alvarez": Style(
        frames=(
            "Guess what, I got the {opportunity} at the {venue}, {feeling}!",
            "The {artwork} for the {venue} arrive on {day}, {feeling}.",
            "My flight to {city} leaves at {hour} on {day}, so I need a ride.",
            "I ran {distance} on {day}, {feeling}.",
            "The new {restaurant} in {city} is amazing, {feeling}.",
            "I booked tickets for the {show} in {city}, you have to come.",
            "I am learning to {skill}, and honestly {feeling}.",
            "Who wants to come to the {show} at the {venue} with me on {day}?",
        ),
        words=(
            ("opportunity", _s("job", "internship", "exhibition slot", "residency", "scholarship",
                               "curator role")),
            ("venue", _s("gallery", "museum", "art fair", "studio downtown", "sculpture park", "theatre")),
            ("artwork", _s("paintings", "sculptures", "photographs", "new canvases", "ceramics",
                           "giant mural panels")),
            ("day", _s("Thursday morning", "Saturday", "the first of the month", "Tuesday afternoon",
                       "Friday night", "Sunday")),
            ("city", _s("Madrid", "Lisbon", "Mexico City", "Barcelona", "Buenos Aires", "Seville")),
            ("hour", _s("six", "five in the morning", "midnight", "seven thirty", "dawn")),
            ("distance", _s("five kilometres", "ten kilometres", "up the hill twice", "around the lake",
                            "a half marathon")),
            ("feeling", _s("I feel amazing", "it was incredible", "I am obsessed", "it is so inspiring",
                           "I could cry", "I love it so much")),
            ("restaurant", _s("tapas bar", "taco place", "vegan bistro", "paella kitchen", "rooftop cafe",
                              "empanada stand")),
            ("show", _s("flamenco show", "concert", "opera", "salsa festival", "art film premiere",
                        "jazz night")),
            ("skill", _s("play the piano", "paint with oils", "speak Portuguese", "throw pottery",
                         "dance tango", "sing in a choir")),
        ), seed_name="Rosa Alvarez"),
    "Dev Sharma": Style(
        frames=(
            "Technically, the {device} has a {percent} chance of {failure}.",
            "I wrote a {program} that {automates}, {hedge}.",
            "According to my calculations on the {mystery}, {conclusion}.",
            "I measured the {room}, and {conclusion}.",
            "The {device} needs a {fix}, {hedge}.",
            "I have a theory about the {mystery}: {conclusion}.",
            "Let me run the numbers on the {mystery} and the {device} first, {hedge}.",
            "My {program} found a bug in the {device}, {hedge}.",
        ),
        words=(
            ("device", _s("wireless router", "thermostat", "elevator", "satellite dish", "microwave",
                          "smart fridge", "laptop battery", "printer driver")),
            ("percent", _s("forty percent", "ninety two percent", "one in three", "one in a thousand",
                           "sixty seven percent", "negligible")),
            ("failure", _s("overheating", "crashing on Mondays", "losing the signal", "corrupting the data",
                           "rebooting at random", "draining the power")),
            ("program", _s("script", "spreadsheet macro", "neural network", "sorting algorithm",
                           "little robot", "database query")),
            ("automates", _s("sorts the recycling", "splits the bills fairly", "predicts the bus delays",
                             "tracks the missing socks", "schedules the laundry", "counts our snacks")),
            ("conclusion", _s("the couch will not fit", "we are eleven minutes late",
                              "we spend too much on snacks", "the socks are in the dryer filter",
                              "the data does not lie", "the error is in the firmware",
                              "the probability is basically zero")),
            ("hedge", _s("statistically speaking", "technically", "in theory", "give or take",
                         "with ninety five percent confidence", "if my model is right")),
            ("room", _s("apartment", "hallway", "kitchen", "storage unit", "elevator shaft", "garage")),
            ("fix", _s("firmware update", "restart", "new capacitor", "clean install", "software patch",
                       "voltage check")),
            ("mystery", _s("missing socks", "electricity bill", "slow internet", "disappearing milk",
                           "flickering lights", "noisy pipes")),
        ), seed_name="Dev Sharma"),
    "Sam Okafor": Style(
        frames=(
            "No stress, I brought {food} for everyone {time}, {easy}.",
            "The {court} is free {time}, who is in?",
            "My {relative} is {family_event} in {month}, {easy}.",
            "I have to work a double shift {time}, {easy}.",
            "I found {money} in my old {clothing}, {easy}.",
            "Let us {plan} after dinner, {easy}.",
            "I promised to help my {relative} {errand} on {weekday}.",
            "This {food_single} needs a little more {seasoning}, trust me.",
        ),
        words=(
            ("food", _s("bagels", "jollof rice", "fried plantains", "doughnuts", "a big pot of stew",
                        "spicy wings", "meat pies")),
            ("court", _s("basketball court", "football pitch", "tennis court", "gym", "swimming pool",
                         "bowling alley")),
            ("time", _s("this afternoon", "tomorrow", "on Saturday", "tonight", "all weekend",
                        "after lunch")),
            ("relative", _s("cousin", "uncle", "little brother", "grandma", "auntie", "best friend")),
            ("family_event", _s("getting married", "moving house", "turning fifty", "graduating",
                                "having a baby", "opening a barbershop")),
            ("month", _s("June", "August", "December", "the spring", "October", "May")),
            ("easy", _s("easy does it", "no problem", "all good", "we got this", "nice and easy",
                        "no worries at all")),
            ("money", _s("twenty dollars", "a concert ticket", "a gift card", "ten dollars and a receipt",
                         "a lucky coin")),
            ("clothing", _s("coat", "jeans", "gym bag", "leather jacket", "work trousers")),
            ("plan", _s("watch a movie", "play cards", "grill some chicken", "go for a walk",
                        "shoot some hoops", "order some food")),
            ("errand", _s("move a sofa", "paint the fence", "fix the car", "carry boxes",
                          "set up the barbecue", "clean the garage")),
            ("weekday", _s("Sunday", "Friday evening", "Saturday morning", "Monday")),
            ("food_single", _s("soup", "stew", "rice", "sauce", "chicken", "salad")),
            ("seasoning", _s("salt", "pepper", "ginger", "chilli", "garlic", "lemon")),
        ), seed_name="Sam Okafor"),
}
