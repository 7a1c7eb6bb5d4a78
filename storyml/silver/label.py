"""Silver records from a `kind: corpus` spec: spaCy parses, storyml.silver.rules labels.

spaCy is imported only here and only when asked (`load_pipeline`); without it the caller gets
one line naming the extra to install (exit status 2 from the CLI).

A silver record is an events record (storyml/data/events.py) with two more keys:
- `"silver": true`: token labels come only from the silver spans (B-/I-) and from the
  `outside` ranges (O); every other token trains at the ignore index (storyml/data/bio.py).
- `"outside"`: [[start, end], ...] character ranges confidently outside every entity.
`event_kinds` holds only the kinds a declared rule assigned (maybe none): the event
classifier never trains on silver records (storyml/train/text.py). Roles are a rough guess
from the dependency label (no model trains on roles).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from codegen.spec.corpus import (
    CorpusFile,
    corpus_path,
    labelled_path,
)
from codegen.spec.loader import SpecSet
from storyml.data.events import _entity_problems, make_entity
from storyml.data.records import TextRecord
from storyml.data.resample import mention_pools
from storyml.errors import UserError

from .rules import Parsed, Rules, Token, label_sentence, quoted_ranges

# A quotation is speech when its last character is one of these ("No, thanks," / "Go!"), not a
# scare-quoted phrase (a "celebration lunch").
SPEECH_END = ",.!?-"
MISSING_SPACY = 2  # exit status when the extra is not installed
_ROLES = {
    "nsubj": "Actor",
    "nsubjpass": "Target",
    "dobj": "Target",
    "dative": "Target",
    "pobj": "Location",
    "poss": "Actor",
}


class MissingExtra(UserError):
    """spaCy or its model is not installed."""


def corpus_entry(specs: SpecSet, name: str | None = None):
    entries = specs.of_kind(CorpusFile)
    if not entries:
        raise UserError("no `kind: corpus` spec in the specs directory")
    if name is None:
        if len(entries) > 1:
            raise UserError(
                f"several corpus specs; name one with --corpus "
                f"({', '.join(e.model.name for e in entries)})"
            )
        return entries[0]
    for entry in entries:
        if entry.model.name == name:
            return entry
    raise UserError(f"no corpus spec named {name!r} ({', '.join(e.model.name for e in entries)})")


def read_corpus(entry) -> list[tuple[str, str]]:
    """(id, text) pairs of the committed sentence file; `#` lines are comments."""
    path = corpus_path(entry)
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry.model.source.sha256:
        raise UserError(
            f"{path}: sha256 {digest} differs from the spec's {entry.model.source.sha256}"
        )
    rows = []
    for line in data.decode("utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        sid, _, text = line.partition("\t")
        rows.append((sid, text))
    return rows


def head_words(specs: SpecSet, spec) -> dict[str, str]:
    """Head word -> category: last word of every vocabulary entry drawn under one category (when
    the spec asks), then the spec's own heads (which win). A word heading entries of two
    categories is left out."""
    votes: dict[str, Counter] = {}
    if spec.noun_chunks.vocabulary:
        for category, entries in mention_pools(specs).items():
            for entry in entries:
                words = entry.split()
                if words and words[-1].isalpha() and words[-1].islower():
                    votes.setdefault(words[-1], Counter())[category] += 1
    heads = {w: c.most_common(1)[0][0] for w, c in votes.items() if len(c) == 1}
    for category, words in spec.noun_chunks.heads.items():
        for word in words:
            heads[word.lower()] = category
    for word in spec.noun_chunks.drop_heads:
        heads.pop(word.lower(), None)
    return heads


def resolve_rules(specs: SpecSet, spec) -> Rules:
    chunks = spec.noun_chunks
    return Rules(
        ner={
            label: (r.category, r.confidence, r.single_proper_noun) for label, r in spec.ner.items()
        },
        heads=head_words(specs, spec),
        chunk_confidence=dict(chunks.confidence),
        plural_people=chunks.plural_people,
        skip_dependencies=frozenset(chunks.skip_dependencies),
        skip_determiners=frozenset(w.lower() for w in chunks.skip_determiners),
        keep_of_phrase=frozenset(chunks.keep_of_phrase),
        possessive_names_split=chunks.possessive_names_split,
        place_prepositions=frozenset(w.lower() for w in chunks.place_prepositions),
        place_category=chunks.place_category,
        first_person=(spec.first_person.category, spec.first_person.confidence)
        if spec.first_person
        else None,
        outside_enabled=spec.outside.enabled,
        outside_pos=frozenset(spec.outside.pos),
        outside_pronouns=spec.outside.pronouns,
        thresholds={c: s.min_confidence for c, s in spec.categories.items() if s.enabled},
    )


def load_pipeline(spec):
    """The spaCy pipeline the spec pins; MissingExtra with the install line when absent."""
    hint = f"install the `{spec.pipeline.extra}` extra: pip install -e '.[{spec.pipeline.extra}]'"
    try:
        import spacy  # noqa: F401  (the model package needs it)
    except ImportError:
        raise MissingExtra(f"silver labelling needs spaCy; {hint}") from None
    try:
        module = __import__(spec.pipeline.module)
    except ImportError:
        raise MissingExtra(
            f"silver labelling needs the spaCy model {spec.pipeline.pip}; {hint}"
        ) from None
    return module.load()


def installed_labeller(specs: SpecSet, name: str | None = None) -> dict[str, str | None]:
    """Versions of the installed spaCy and of the corpus spec's model package (None: absent),
    without loading them: what a cached silver dataset depends on."""
    from importlib import metadata

    spec = corpus_entry(specs, name).model
    versions: dict[str, str | None] = {}
    for dist in ("spacy", spec.pipeline.pip.split("==")[0]):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return versions


def pipeline_versions(nlp) -> dict[str, str]:
    import spacy

    return {
        "spacy": spacy.__version__,
        "model": f"{nlp.meta.get('lang')}_{nlp.meta.get('name')}-{nlp.meta.get('version')}",
    }


def to_parsed(doc) -> Parsed:
    tokens = tuple(Token(t.text, t.idx, t.lemma_, t.pos_, t.tag_, t.dep_, t.head.i) for t in doc)
    chunks = tuple((c.start, c.end, c.root.i) for c in doc.noun_chunks)
    ents = tuple((e.start, e.end, e.label_) for e in doc.ents)
    return Parsed(doc.text, tokens, chunks, ents)


def parse(nlp, texts: Iterable[str]) -> list[Parsed]:
    return [to_parsed(doc) for doc in nlp.pipe(texts, batch_size=256)]


def silver_record(record_id: str, parsed: Parsed, rules: Rules, spec: CorpusFile) -> TextRecord:
    labelled = label_sentence(parsed, rules)
    text = parsed.text
    entities = [
        make_entity(text, start, end, category, _ROLES.get(parsed.tokens[root].dep, "Subject"))
        for start, end, category, _, root in labelled.spans
    ]
    kinds = []
    for rule in spec.events:
        if (
            rule.enabled
            and rule.rule == "quoted_speech"
            and any(text[b - 2] in SPEECH_END for _, b in quoted_ranges(text) if b - 2 >= 0)
        ):
            kinds.append(rule.kind)
    return {
        "id": f"{spec.name}:{record_id}",
        "text": text,
        "register": spec.sentence_register,
        "event_kinds": kinds,
        "action_type": None,
        "entities": entities,
        "silver": True,
        "outside": [list(r) for r in labelled.outside],
    }


def labelling_fingerprint(specs: SpecSet, spec) -> str:
    """What silver labels depend on besides spaCy: the corpus spec's rules as resolved (head words
    merged from the vocabulary), not where its committed records live. A vocabulary edit that adds
    no head word leaves it unchanged."""
    import dataclasses
    import json

    rules = dataclasses.asdict(resolve_rules(specs, spec))
    data = {
        "spec": spec.model_copy(update={"labelled": None, "doc": ""}).model_dump(mode="json"),
        "rules": {k: sorted(v) if isinstance(v, frozenset) else v for k, v in rules.items()},
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=True).encode()).hexdigest()[
        :16
    ]


def labelled_staleness(specs: SpecSet, entry) -> str | None:
    """Why the committed silver records of a corpus spec entry no longer match its rules (None: they
    match, or it declares none). Like `gen --check` for generated code: the records are the output of
    `storyml data silver`, which must run while they are stale, so this is no spec error."""
    from codegen.spec.corpus import labelled_manifest_path

    spec, path = entry.model, labelled_path(entry)
    if path is None:
        return None
    rerun = (
        f"rerun `storyml data silver --corpus {spec.name} --limit {spec.labelled.sentences} "
        f"--out {path}` (needs the `{spec.pipeline.extra}` extra) and commit the result"
    )
    manifest_file = labelled_manifest_path(path)
    if not path.is_file() or not manifest_file.is_file():
        return f"{path} or its manifest does not exist; {rerun}"
    try:
        import json

        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f"{manifest_file} cannot be read ({exc}); {rerun}"
    stale = []
    if manifest.get("labelling_fingerprint") != labelling_fingerprint(specs, spec):
        stale.append("the labelling rules or the head words from the vocabulary changed since")
    if manifest.get("sentences") != spec.labelled.sentences:
        stale.append(
            f"it labels {manifest.get('sentences')} sentences, not {spec.labelled.sentences}"
        )
    if manifest.get("corpus_sha256") != spec.source.sha256:
        stale.append("the corpus changed since")
    if manifest.get("data_sha256") != hashlib.sha256(path.read_bytes()).hexdigest():
        stale.append("the records were edited after labelling")
    return f"{path} is stale: {'; '.join(stale)}; {rerun}" if stale else None


def committed_path(specs: SpecSet, name: str | None, sentences: int | None) -> Path | None:
    """The corpus spec's committed silver records when they label exactly `sentences` sentences,
    else None (the corpus must then be labelled with spaCy)."""
    entry = corpus_entry(specs, name)
    path = labelled_path(entry)
    return path if path is not None and entry.model.labelled.sentences == sentences else None


def committed_records(
    specs: SpecSet, name: str | None, sentences: int | None
) -> list[TextRecord] | None:
    """The records at `committed_path` (a UserError when they are stale), else None."""
    from storyml.data.jsonl import read_text_records

    path = committed_path(specs, name, sentences)
    if path is None:
        return None
    stale = labelled_staleness(specs, corpus_entry(specs, name))
    if stale is not None:
        raise UserError(stale)
    return read_text_records(path)


def label_corpus(
    specs: SpecSet, name: str | None = None, limit: int | None = None, nlp=None
) -> tuple[list[TextRecord], dict[str, Any]]:
    """Silver records of the corpus (sentences with fewer than `min_spans` spans left out) and
    a summary for the manifest."""
    entry = corpus_entry(specs, name)
    spec = entry.model
    rows = read_corpus(entry)[:limit]
    nlp = nlp or load_pipeline(spec)
    rules = resolve_rules(specs, spec)
    records: list[TextRecord] = []
    for (sid, _), parsed in zip(rows, parse(nlp, (text for _, text in rows))):
        record = silver_record(sid, parsed, rules, spec)
        problems = _entity_problems(record["text"], record["entities"])
        if problems:
            raise UserError(f"silver record {record['id']}: {problems[0]}")
        if len(record["entities"]) >= spec.min_spans:
            records.append(record)
    summary = {
        "corpus": spec.name,
        "corpus_file": str(corpus_path(entry)),
        "corpus_sha256": spec.source.sha256,
        "labelling_fingerprint": labelling_fingerprint(specs, spec),
        "source": {
            "package": spec.source.package,
            "version": spec.source.version,
            "sha256": spec.source.package_sha256,
        },
        "sentences": len(rows),
        "records": len(records),
        "pipeline": pipeline_versions(nlp),
        "entities": dict(
            sorted(Counter(e["category"] for r in records for e in r["entities"]).items())
        ),
        "event_kinds": dict(sorted(Counter(k for r in records for k in r["event_kinds"]).items())),
        "outside_ranges": sum(len(r["outside"]) for r in records),
    }
    return records, summary


# ---------------------------------------------------------------- scoring on a gold set


def score(
    gold: Sequence[TextRecord], predicted: Sequence[TextRecord], categories: Sequence[str]
) -> dict[str, Any]:
    """Exact-span precision/recall/F1 per category and overall; plus the O decisions' precision
    (share of tokens marked outside that lie outside every gold span) and event-rule precision."""
    table: dict[str, Counter] = {c: Counter() for c in categories}
    for g, p in zip(gold, predicted):
        gold_spans = {(e["start"], e["end"], e["category"]) for e in g["entities"]}
        pred_spans = {(e["start"], e["end"], e["category"]) for e in p["entities"]}
        for span in gold_spans | pred_spans:
            counts = table.setdefault(span[2], Counter())
            counts[
                "tp"
                if span in gold_spans and span in pred_spans
                else "fn"
                if span in gold_spans
                else "fp"
            ] += 1
    out: dict[str, Any] = {"per_category": {}}
    total: Counter[str] = Counter()
    for category, counts in table.items():
        out["per_category"][category] = _prf(counts)
        total.update(counts)
    out["all"] = _prf(total)
    o_chars = o_wrong = 0
    kinds: Counter[str] = Counter()
    for g, p in zip(gold, predicted):
        inside: set[int] = set()
        for e in g["entities"]:
            inside.update(range(e["start"], e["end"]))
        for a, b in p.get("outside", []):
            o_chars += b - a
            o_wrong += len(inside.intersection(range(a, b)))
        for k in p["event_kinds"]:
            kinds["tp" if k in g["event_kinds"] else "fp"] += 1
    out["outside_char_precision"] = round(1 - o_wrong / o_chars, 4) if o_chars else None
    out["event_rule_precision"] = (
        round(kinds["tp"] / (kinds["tp"] + kinds["fp"]), 4) if kinds else None
    )
    out["event_rule_assigned"] = kinds["tp"] + kinds["fp"]
    return out


def _prf(counts: Counter) -> dict[str, float | int]:
    tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {
        "precision": round(p, 4),
        "recall": round(r, 4),
        "f1": round(f, 4),
        "gold": tp + fn,
        "predicted": tp + fp,
    }


def score_gold_file(
    specs: SpecSet, gold_path: Path, name: str | None = None, nlp=None
) -> dict[str, Any]:
    """Label the sentences of a hand-annotated set with the corpus rules and score them."""
    from storyml.data.jsonl import read_text_records

    if gold_path.name == "real_prose.jsonl":
        raise UserError(
            "real_prose.jsonl is the TEST set: the silver labeller is tuned and scored on "
            "evalsets/dev_prose.jsonl only"
        )
    entry = corpus_entry(specs, name)
    spec = entry.model
    gold = read_text_records(gold_path)
    nlp = nlp or load_pipeline(spec)
    rules = resolve_rules(specs, spec)
    predicted = [
        silver_record(g.get("id", str(i)), parsed, rules, spec)
        for i, (g, parsed) in enumerate(zip(gold, parse(nlp, (g["text"] for g in gold))))
    ]
    categories = list(spec.categories)
    return score(gold, predicted, categories) | {"sentences": len(gold), "file": str(gold_path)}
