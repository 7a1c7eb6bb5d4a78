"""Sort WordNet nouns into the entity categories of the templates.

Each lemma is judged by its most frequent sense only (WordNet lists senses in
frequency order): a lemma whose first sense lies outside our categories, or in
another one, is left out, so an imported word has one reading and one label.
A sense falls in a category through its lexicographer file (noun.person,
noun.group...) and the synsets above it (gesture.n.02, structure.n.01...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable

from .wordnet import NounNet, Synset

CATEGORIES = ("CHARACTER", "COLLECTIVE", "OBJECT", "LOCATION", "GESTURE", "SENSORY", "ABSTRACT")

# What decides a category: the first sense's lexname and the synsets above it.
# Rules are tried in order; the first that matches wins.


@dataclass(frozen=True)
class Rule:
    category: str
    lexnames: tuple[str, ...] = ()  # the sense's lexname is one of these (empty: any)
    under: tuple[str, ...] = ()  # ...and it sits under one of these synsets (empty: anywhere)
    not_under: tuple[str, ...] = ()  # ...and under none of these


RULES: tuple[Rule, ...] = (
    Rule("CHARACTER", ("noun.person",)),
    Rule(
        "COLLECTIVE",
        ("noun.group",),
        ("social_group.n.01", "people.n.01"),
        ("social_gathering.n.01", "party.n.02"),
    ),
    Rule("GESTURE", (), ("gesture.n.02", "facial_expression.n.01", "gesture.n.01")),
    Rule(
        "SENSORY",
        (),
        (
            "sound.n.04",
            "noise.n.01",
            "sensation.n.01",
            "smell.n.01",
            "sound.n.02",
            "light.n.01",
            "cry.n.02",
            "laugh.n.01",
            "sigh.n.01",
            "groan.n.01",
            "whisper.n.01",
            "sob.n.01",
            "coldness.n.03",
            "warmth.n.01",
        ),
    ),
    Rule(
        "LOCATION",
        ("noun.artifact",),
        ("structure.n.01", "facility.n.01", "way.n.06", "area.n.05", "establishment.n.04"),
        ("movable_barrier.n.01", "framework.n.03", "roof.n.01", "covering.n.02"),
    ),
    Rule(
        "LOCATION",
        ("noun.object",),
        (
            "geological_formation.n.01",
            "body_of_water.n.01",
            "land.n.04",
            "land.n.02",
            "celestial_body.n.01",
        ),
    ),
    Rule("LOCATION", ("noun.location",), (), ("direction.n.03", "point.n.02", "line.n.11")),
    Rule(
        "OBJECT",
        ("noun.artifact",),
        (
            "instrumentality.n.03",
            "covering.n.02",
            "commodity.n.01",
            "decoration.n.01",
            "creation.n.02",
            "article.n.02",
            "movable_barrier.n.01",
            "framework.n.03",
        ),
        ("structure.n.01",),
    ),
    Rule("OBJECT", ("noun.artifact",), ("movable_barrier.n.01", "framework.n.03", "roof.n.01")),
    Rule("OBJECT", ("noun.food", "noun.animal")),
    Rule(
        "ABSTRACT",
        (
            "noun.communication",
            "noun.cognition",
            "noun.feeling",
            "noun.possession",
            "noun.act",
            "noun.event",
            "noun.state",
        ),
        (
            "message.n.02",
            "speech_act.n.01",
            "secret.n.01",
            "plan.n.01",
            "idea.n.01",
            "belief.n.01",
            "emotion.n.01",
            "feeling.n.01",
            "obligation.n.02",
            "debt.n.01",
            "social_event.n.01",
            "ceremony.n.01",
            "crime.n.01",
            "narrative.n.01",
            "story.n.02",
            "prediction.n.01",
            "agreement.n.01",
            "due_process.n.01",
            "wrongdoing.n.02",
            "contest.n.01",
            "military_action.n.01",
            "trouble.n.01",
            "danger.n.01",
            "inheritance.n.01",
            "treasure.n.01",
            "sin.n.01",
            "mystery.n.01",
            "law.n.02",
            "punishment.n.01",
            "gift.n.01",
            "payment.n.01",
        ),
    ),
)

# Words whose first sense the rules read against our guideline (evalsets/GUIDELINES.md),
# or that read badly as a lone noun phrase in the templates.
OVERRIDES: dict[str, str | None] = {
    # Doors, windows, shutters, roofs are OBJECT; rooms, walls, stairs, gates LOCATION.
    "stair": "LOCATION",
    "stairs": "LOCATION",
    "staircase": "LOCATION",
    "stairway": "LOCATION",
    "gate": "LOCATION",
    "wall": "LOCATION",
    "yard": "LOCATION",
    "courtyard": "LOCATION",
    "door": "OBJECT",
    "window": "OBJECT",
    "shutter": "OBJECT",
}
# Too general, too technical, or a time/weather word (not an entity, see the guideline).
STOPWORDS = frozenset(
    """
thing stuff object item entity part piece whole unit kind sort type way means use
person people individual someone somebody anybody everybody man woman men women boy girl
child kid baby guy lady gentleman adult human being self user member friend
group company party side team class population public
area place region spot space site location point line position zone level
time moment period day night morning evening week year
weather wind rain snow fog mist storm cloud sky dark darkness air
feeling sense idea thought information knowledge case matter fact issue problem
question answer reason result example detail note term name word number system program
data internet web website computer software online email phone video radio television
media network server file files app page link blog post
yes hello thanks congratulations list running eyes film movie version model subject details
feature reference theme element component label format aspect values value definition complex
description summary advertising reporting accounting cant rap yoga canon curriculum roster
lineup filing subscription premium policy rule strategy concept possibility scheme regulation
principle formula genre notion compound provision accordance preference assumption thesis
pro private chosen nobody soul spirit character romantic ordinary racist colonial tackle hack
hood counsel babe blonde freak idiot punk junior socialist ward virgin monster dragon tiger
amateur maker developer controller consumer player host executive specialist expert
school business country court university college industry culture grade cream battery
minority elite wounded disabled utility manufacturer processor profession publisher
kindergarten alignment doomed majors nationality cautious combo slain retreated baffled
pedigree ancestry lineage highschool brokerage bastion denomination clientele manpower
underworld seminary symposium subcommittee reserves deaf outfit collective civilization
generation conference convention meeting hive swarm flock
round picture female male fan queen mike arms classic transport assembly spoke giant orange
facing diet counter output virus innovation footage export transit bacteria vintage chuck
spirits portfolio brad provisions setup import compact hardware circuit cricket cap tie auto
kit filter product products equipment photo art bug pet receiver holder
john works front star middle parts ways base scene structure seat setting links facility
transportation tip empire architecture rail tube globe pipe barrel dive outline prop coil
turf tee apex tract heavens destination interior exterior bottom top end state ground
housing commonwealth territory province planet sun cab outlet locker drawer grill midst
reservation habitat landscape terrain vicinity premises boundary border frontier edge
ray corona fluorescence chorus clash popping tick cracking motion
beck smiley emoticon mudra brandish cool twitter tweet rolling dub ding bong pong whack peep
ting harmonic coo plump fireball streamer savor savour moonshine salinity chug gobble squish
yip zing vroom splat angelus vibrato sunburst pat tap gaslight mew baa moo
cape bank bar pitch cattle generator
""".split()
)

# Gestures and percepts are rarer words in running text than people and things.
MIN_ZIPF = {"GESTURE": 2.0, "SENSORY": 2.5}

WORD_RE = re.compile(r"^[a-z]+$")


def category_of(
    net: NounNet, synset: Synset, rules: Iterable[Rule] = RULES, _cache: dict | None = None
) -> str | None:
    """The category of a sense by the first rule that matches it, or None."""
    ancestors = net.ancestors(synset)
    for rule in rules:
        if rule.lexnames and synset.lexname not in rule.lexnames:
            continue
        if rule.under and not any(net.offset_of(name) in ancestors for name in rule.under):
            continue
        if any(net.offset_of(name) in ancestors for name in rule.not_under):
            continue
        return rule.category
    return None


def classify_nouns(
    net: NounNet,
    zipf: Callable[[str], float],
    min_zipf: float = 3.0,
    overrides: dict[str, str | None] = OVERRIDES,
    stopwords: frozenset[str] = STOPWORDS,
) -> dict[str, list[tuple[str, float]]]:
    """category -> [(lemma, zipf)] for every single-word lemma frequent enough in English,
    categorised by its most frequent sense."""
    out: dict[str, list[tuple[str, float]]] = {c: [] for c in CATEGORIES}
    for lemma in sorted(net.senses):
        if not WORD_RE.match(lemma) or lemma in stopwords or len(lemma) < 3:
            continue
        freq = zipf(lemma)
        if freq < min(min_zipf, *MIN_ZIPF.values()):
            continue
        first = net.first_sense(lemma)
        if lemma in overrides:
            category = overrides[lemma]
        elif first is None or _verb_form(lemma):
            continue
        else:
            category = category_of(net, first)
            # Gestures and sounds are often verbs first ("nod", "creak"): their noun sense
            # is enough. Every other word must be mostly a common noun.
            if category in ("GESTURE", "SENSORY"):
                if not _lowercase(first, lemma) or (
                    category == "GESTURE" and lemma.endswith("ing")
                ):
                    continue
            elif not is_common_noun(net, lemma, first):
                continue
        if category is not None and freq >= MIN_ZIPF.get(category, min_zipf):
            out[category].append((lemma, freq))
    return out


def _verb_form(word: str) -> bool:
    """A past form used as a noun ("the wounded", "retreated"): never a good entry."""
    if not word.endswith("ed"):
        return False
    from lemminflect import getLemma

    return any(lemma != word for lemma in getLemma(word, upos="VERB"))


def is_common_noun(net: NounNet, lemma: str, first: Synset | None) -> bool:
    """Mostly a common noun: its noun senses were seen in the semantic concordance at least as
    often as its verb, adjective and adverb senses together, and its first sense is not spelled
    with a capital (a proper name: London, David)."""
    if first is None or net.tagged.get(lemma, 0) == 0:
        return False
    if net.tagged.get(lemma, 0) < net.tagged_other.get(lemma, 0):
        return False
    return _lowercase(first, lemma)


def _lowercase(first: Synset, lemma: str) -> bool:
    spelled = next((w for w in first.lemmas if w.lower() == lemma), lemma)
    return spelled == spelled.lower()


def article(category: str, lemma: str) -> str:
    """The entry for a lemma: 'a nod' for gestures (countable acts), 'the X' otherwise."""
    if category == "GESTURE":
        return f"{'an' if lemma[0] in 'aeio' else 'a'} {lemma}"
    return f"the {lemma}"


def select(candidates: list[tuple[str, float]], n: int, exclude: set[str]) -> list[str]:
    """The n most frequent candidates not excluded, by frequency then alphabetically."""
    kept = [(lemma, f) for lemma, f in candidates if lemma not in exclude]
    kept.sort(key=lambda x: (-x[1], x[0]))
    return [lemma for lemma, _ in kept[:n]]
