"""Sort WordNet verbs into the verb lists the templates draw from.

Real prose uses far more verbs than the hand-written lists hold, and a classifier that has
seen only those learns them rather than what they mean. Each rule below takes verbs whose
most frequent sense lies in a lexicographer file or under given synsets, in a sentence frame
the list's templates use ("Somebody ----s something" for a verb with an object), and that are
mostly verbs in running text: their verb senses were tagged in the semantic concordance at
least as often as their noun senses, and their past form is common in English (wordfreq), so
"post", "blood" or "japan" stay out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import AbstractSet, Callable, Mapping

from .wordnet import VerbNet, VerbSynset

# Sentence frames (wninput(5WN)) the rules read.
SOMEBODY_VERBS = 2  # "Somebody ----s"
SOMEBODY_VERBS_SOMETHING = 8  # "Somebody ----s something"
SOMEBODY_VERBS_THAT = 26  # "Somebody ----s that CLAUSE"
SOMEBODY_VERBS_PP = 22  # "Somebody ----s PP"


@dataclass(frozen=True)
class VerbRule:
    """Verbs for one list: first sense in `lexnames` (empty: any) and under one of `under`
    (empty: anywhere), fitting one of `frames`, fitting none of `not_frames`."""

    list_name: str
    doc: str
    lexnames: tuple[str, ...] = ()
    under: tuple[str, ...] = ()
    frames: tuple[int, ...] = ()
    not_frames: tuple[int, ...] = ()
    suffix: str = ""  # what follows the verb in the list's entries (" toward": a destination next)
    most: int = 100  # the most frequent this many
    min_zipf: float = 3.0


VERB_RULES: tuple[VerbRule, ...] = (
    VerbRule(
        "lexicon_perform_verbs",
        "Handling something (WordNet verb.contact, with an object).",
        lexnames=("verb.contact",),
        frames=(SOMEBODY_VERBS_SOMETHING,),
        most=100,
    ),
    VerbRule(
        "lexicon_move_verbs",
        "Ways of going, followed by 'toward' (WordNet verbs under travel.v.01 without an object).",
        under=("travel.v.01",),
        frames=(SOMEBODY_VERBS, SOMEBODY_VERBS_PP),
        not_frames=(SOMEBODY_VERBS_SOMETHING,),
        suffix=" toward",
        most=60,
    ),
    VerbRule(
        "lexicon_emotion_verbs",
        "Feeling shown without words (WordNet verbs under express_emotion.v.01 and grimace.v.01).",
        under=("express_emotion.v.01", "grimace.v.01"),
        frames=(SOMEBODY_VERBS, SOMEBODY_VERBS_PP),
        min_zipf=2.0,
    ),
    VerbRule(
        "lexicon_speech_verbs",
        "Ways of voicing words (WordNet verb.communication under shout, "
        "whisper, murmur, utter, growl).",
        lexnames=("verb.communication",),
        under=("shout.v.02", "whisper.v.01", "murmur.v.01", "utter.v.02", "growl.v.01"),
        frames=(SOMEBODY_VERBS, SOMEBODY_VERBS_THAT, SOMEBODY_VERBS_SOMETHING),
        min_zipf=2.0,
    ),
)

# First senses the rules read wrongly for a story sentence, or verbs that need more than the
# list's frame gives them ("ready the lantern", "spell, 'Run!'").
STOPWORDS = frozenset(
    """
post ready saw fell fancy rally debut panel bare coin dam chuck bat map frame fake kill shoulder
rough finger mount tag sand dust smooth connect hook coat fan plant institute spread draw cast
strike perform pack kiss pound seal pin filter trigger shed generate fence attract crop plug
install publish breed hack bust harvest anchor extract arrange manufacture construct dull wax
paste prompt fulfill fulfil lace evolve remake parody notch mold ping activate initiate
undertake renew feather drown harness dent veil reproduce motivate duplicate induce recess
penetrate intercept invent reap dunk snatch darn prick squash smack riddle muster funnel implant
unleash plaster sling
spell echo whoop snort
go come pass wind rise bound thread rear ghost settle loop jam shy freeze dock cluster lag
tilt sway lapse intersect deviate sift stop turn fall leave return move twist sink lean stamp
trip dance speed crash wheel push advance fly journey travel navigate evacuate descend reel
cringe flop barge
""".split()
)

WORD_RE = re.compile(r"^[a-z]+$")


def past_form(lemma: str) -> str:
    from lemminflect import getInflection

    forms = getInflection(lemma, "VBD")
    return forms[0] if forms else lemma + "ed"


def mostly_a_verb(
    net: VerbNet, noun_tagged: Mapping[str, int], lemma: str, zipf: Callable[[str], float]
) -> bool:
    """Tagged as a verb at least as often as as a noun, and its past form common in English."""
    tagged = net.tagged.get(lemma, 0)
    return tagged > 0 and tagged >= noun_tagged.get(lemma, 0) and zipf(past_form(lemma)) >= 2.5


def fits(net: VerbNet, synset: VerbSynset, rule: VerbRule) -> bool:
    if rule.lexnames and synset.lexname not in rule.lexnames:
        return False
    if rule.under:
        ancestors = net.ancestors(synset)
        if not any(net.offset_of(name) in ancestors for name in rule.under):
            return False
    if rule.frames and not synset.frames & set(rule.frames):
        return False
    return not synset.frames & set(rule.not_frames)


def classify_verbs(
    net: VerbNet,
    noun_tagged: Mapping[str, int],
    zipf: Callable[[str], float],
    exclude: AbstractSet[str],
    rules: tuple[VerbRule, ...] = VERB_RULES,
    stopwords: frozenset[str] = STOPWORDS,
) -> dict[str, list[str]]:
    """List name -> entries (lemma + suffix), the most frequent first-sense fits of each rule, sorted.

    A lemma goes to the first rule it fits; one already in a hand-written list (`exclude`) or in
    `stopwords` is left out."""
    chosen: dict[str, list[tuple[float, str]]] = {rule.list_name: [] for rule in rules}
    for lemma in sorted(net.senses):
        if not WORD_RE.match(lemma) or lemma in stopwords or lemma in exclude:
            continue
        first = net.first_sense(lemma)
        if first is None:
            continue
        rule = next((r for r in rules if fits(net, first, r)), None)
        if rule is None or lemma + rule.suffix in exclude:
            continue
        frequency = zipf(lemma)
        if frequency >= rule.min_zipf and mostly_a_verb(net, noun_tagged, lemma, zipf):
            chosen[rule.list_name].append((frequency, lemma))
    out = {}
    for rule in rules:
        ranked = sorted(chosen[rule.list_name], key=lambda x: (-x[0], x[1]))[: rule.most]
        out[rule.list_name] = sorted(lemma + rule.suffix for _, lemma in ranked)
    return out
