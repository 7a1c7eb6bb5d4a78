"""A small reader of the WordNet database files (data.noun/index.noun, data.verb/index.verb).

Only what the vocabulary import needs: each synset's lexicographer file (its
lexname, e.g. noun.person), its lemmas and its hypernyms, and each lemma's
senses in WordNet's order (most frequent first). No nltk: the format is plain
text, documented in wndb(5WN).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# lex_filenum -> lexname for nouns (lexnames(5WN); fixed since WordNet 1.5).
NOUN_LEXNAMES = {
    3: "noun.Tops",
    4: "noun.act",
    5: "noun.animal",
    6: "noun.artifact",
    7: "noun.attribute",
    8: "noun.body",
    9: "noun.cognition",
    10: "noun.communication",
    11: "noun.event",
    12: "noun.feeling",
    13: "noun.food",
    14: "noun.group",
    15: "noun.location",
    16: "noun.motive",
    17: "noun.object",
    18: "noun.person",
    19: "noun.phenomenon",
    20: "noun.plant",
    21: "noun.possession",
    22: "noun.process",
    23: "noun.quantity",
    24: "noun.relation",
    25: "noun.shape",
    26: "noun.state",
    27: "noun.substance",
    28: "noun.time",
}
# lex_filenum -> lexname for verbs.
VERB_LEXNAMES = {
    29: "verb.body",
    30: "verb.change",
    31: "verb.cognition",
    32: "verb.communication",
    33: "verb.competition",
    34: "verb.consumption",
    35: "verb.contact",
    36: "verb.creation",
    37: "verb.emotion",
    38: "verb.motion",
    39: "verb.perception",
    40: "verb.possession",
    41: "verb.social",
    42: "verb.stative",
    43: "verb.weather",
}
HYPERNYM_POINTERS = ("@", "@i")
_VERSION_RE = re.compile(r"WordNet (\d+(?:\.\d+)+) Copyright")


@dataclass
class Synset:
    offset: str
    lexname: str
    lemmas: list[str]
    hypernyms: list[str] = field(default_factory=list)


class _Net:
    """Lookups shared by the noun and the verb part: synsets by offset, lemma senses in WordNet order."""

    POS = ""  # the letter of synset names: 'n' in 'gesture.n.02'
    synsets: dict[str, Any]
    senses: dict[str, list[str]]

    def synset(self, name: str) -> Any:
        """A synset by its usual name, 'gesture.n.02': the second noun sense of 'gesture'."""
        lemma, pos, number = name.rsplit(".", 2)
        if pos != self.POS:
            raise KeyError(name)
        return self.synsets[self.senses[lemma][int(number) - 1]]

    def offset_of(self, name: str) -> str | None:
        """The offset of a named synset ('gesture.n.02'), None when this database lacks it."""
        try:
            return self.synset(name).offset
        except (KeyError, IndexError):
            return None

    def first_sense(self, lemma: str) -> Any:
        offsets = self.senses.get(lemma)
        return self.synsets.get(offsets[0]) if offsets else None

    def ancestors(self, synset: Synset) -> set[str]:
        """Offsets of every hypernym of `synset`, transitively, and of `synset` itself."""
        seen: set[str] = set()
        stack = [synset.offset]
        while stack:
            offset = stack.pop()
            if offset in seen or offset not in self.synsets:
                continue
            seen.add(offset)
            stack += self.synsets[offset].hypernyms
        return seen


@dataclass
class NounNet(_Net):
    """The noun part of a WordNet database."""

    POS = "n"
    synsets: dict[str, Synset]
    senses: dict[str, list[str]]  # lemma -> synset offsets, most frequent sense first
    tagged: dict[str, int]  # lemma -> noun senses seen in the semantic concordance (tagsense_cnt)
    tagged_other: dict[
        str, int
    ]  # lemma -> the same count for its verb, adjective and adverb senses
    version: str
    notice: list[str]  # the licence notice from the head of data.noun


def _synset_head(line: str) -> tuple[str, int, list[str], list[str], list[str]]:
    """(offset, lex_filenum, lemmas as spelled, hypernym offsets, the fields after the pointers) of a
    data-file line (wndb(5WN))."""
    fields = line.split(" | ", 1)[0].split()
    offset, lex_filenum, w_cnt = fields[0], int(fields[1]), int(fields[3], 16)
    lemmas = [fields[4 + 2 * i] for i in range(w_cnt)]
    at = 4 + 2 * w_cnt
    p_cnt = int(fields[at])
    hypernyms = [
        fields[at + 1 + 4 * i + 1]
        for i in range(p_cnt)
        if fields[at + 1 + 4 * i] in HYPERNYM_POINTERS
    ]
    return offset, lex_filenum, lemmas, hypernyms, fields[at + 1 + 4 * p_cnt :]


def _license_lines(path: Path) -> tuple[list[str], list[str]]:
    """(licence lines of the file head, data lines). Head lines start with two spaces."""
    notice, data = [], []
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("  "):
                notice.append(line.strip().split(" ", 1)[1].rstrip() if " " in line.strip() else "")
            else:
                data.append(line)
    return notice, data


def load_nouns(directory: Path | str) -> NounNet:
    """Read `data.noun` and `index.noun` from a WordNet dict directory."""
    directory = Path(directory)
    notice, lines = _license_lines(directory / "data.noun")
    synsets: dict[str, Synset] = {}
    for line in lines:
        offset, lex_filenum, lemmas, hypernyms, _ = _synset_head(
            line
        )  # lemmas as spelled: "London"
        lemmas = [re.sub(r"\(.*\)$", "", w) for w in lemmas]  # adjective markers: "(p)", "(a)"
        synsets[offset] = Synset(
            offset, NOUN_LEXNAMES.get(lex_filenum, f"noun.{lex_filenum}"), lemmas, hypernyms
        )
    senses: dict[str, list[str]] = {}
    tagged: dict[str, int] = {}
    for lemma, offsets, tagsense_cnt in _index(directory / "index.noun"):
        senses[lemma], tagged[lemma] = offsets, tagsense_cnt
    tagged_other: dict[str, int] = {}
    for pos in ("verb", "adj", "adv"):
        if (directory / f"index.{pos}").exists():
            for lemma, _, tagsense_cnt in _index(directory / f"index.{pos}"):
                tagged_other[lemma] = tagged_other.get(lemma, 0) + tagsense_cnt
    match = next((m for m in map(_VERSION_RE.search, notice) if m), None)
    return NounNet(
        synsets, senses, tagged, tagged_other, match.group(1) if match else "unknown", notice
    )


def _index(path: Path):
    """(lemma, synset offsets in sense order, tagsense_cnt) per line of an index file."""
    _, lines = _license_lines(path)
    for line in lines:
        fields = line.split()
        synset_cnt, p_cnt = int(fields[2]), int(fields[3])
        at = 4 + p_cnt  # sense_cnt, tagsense_cnt, then the offsets
        yield fields[0], fields[at + 2 : at + 2 + synset_cnt], int(fields[at + 1])


@dataclass
class VerbSynset(Synset):
    frames: frozenset[int] = (
        frozenset()
    )  # sentence frames (wninput(5WN)) that fit every lemma, e.g. 8:
    # "Somebody ----s something", 22: "Somebody ----s PP"


@dataclass
class VerbNet(_Net):
    """The verb part of a WordNet database."""

    POS = "v"
    synsets: dict[str, VerbSynset]
    senses: dict[str, list[str]]  # lemma -> synset offsets, most frequent sense first
    tagged: dict[str, int]  # lemma -> verb senses seen in the semantic concordance


def load_verbs(directory: Path | str) -> VerbNet:
    """Read `data.verb` and `index.verb` from a WordNet dict directory."""
    directory = Path(directory)
    _, lines = _license_lines(directory / "data.verb")
    synsets: dict[str, VerbSynset] = {}
    for line in lines:
        offset, lex_filenum, lemmas, hypernyms, rest = _synset_head(line)
        frames = set()
        for i in range(int(rest[0]) if rest else 0):  # f_cnt, then "+ f_num w_num" per frame
            f_num, w_num = int(rest[2 + 3 * i]), int(rest[3 + 3 * i], 16)
            if w_num == 0:  # 0: the frame fits every word of the synset
                frames.add(f_num)
        synsets[offset] = VerbSynset(
            offset,
            VERB_LEXNAMES.get(lex_filenum, f"verb.{lex_filenum}"),
            lemmas,
            hypernyms,
            frozenset(frames),
        )
    senses: dict[str, list[str]] = {}
    tagged: dict[str, int] = {}
    for lemma, offsets, tagsense_cnt in _index(directory / "index.verb"):
        senses[lemma], tagged[lemma] = offsets, tagsense_cnt
    return VerbNet(synsets, senses, tagged)
