"""The length and construction profile of a set of sentences: how close generated text is to prose.

Surface patterns only (no parser): each share is the fraction of sentences in which the
construction's pattern occurs at least once. They are yardsticks for comparing two sets
measured the same way, not linguistic truth; the data manifest prints them for the
generated set and `benchmarks/bench_real_prose_levers.py` beside the hand-written sets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# construction -> pattern that marks it (case-insensitive, on the whole sentence)
CONSTRUCTIONS: dict[str, re.Pattern[str]] = {
    name: re.compile(pattern, re.IGNORECASE)
    for name, pattern in {
        "subordinate clause": r"\b(when|as|after|before|because|until|while|once|although|since)\b [^,.]* \w+(ed|s)?\b",
        "participle clause": r", \w+ing\b",
        "coordinated verbs": r"\b(and|but|then)( then)? (\w+ed|\w+s)\b",
        "quoted speech": r"[\"“]",
        "pronoun subject": r"(^|[,.;] |\b(and|when|as|because|while|after|before|until) )(he|she|they|we|you)\b",
        "possessive": r"\b(his|her|their|our|your|its)\b|\w's\b",
        "negation": r"\b(not|never|no longer|n't)\b|\w+n't\b",
        "past perfect": r"\bhad (\w+ed|been|gone|seen|taken|done|left|known|\w+en)\b",
        "relative clause": r"\b(who|whom|whose|which|that)\b (\w+ed|\w+s|had|was|were|is)\b",
    }.items()
}


def tokens(text: str) -> int:
    return len(text.split())


def profile(texts: Iterable[str]) -> dict[str, float]:
    """Mean length in whitespace tokens, share over 20 tokens, and the share of each construction."""
    texts = list(texts)
    n = max(len(texts), 1)
    out = {
        "sentences": float(len(texts)),
        "mean_tokens": round(sum(map(tokens, texts)) / n, 2),
        "over_20_tokens": round(sum(tokens(t) > 20 for t in texts) / n, 3),
    }
    for name, pattern in CONSTRUCTIONS.items():
        out[name] = round(sum(bool(pattern.search(t)) for t in texts) / n, 3)
    return out
