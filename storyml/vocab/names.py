"""First names from faker's person providers, balanced across locales."""

from __future__ import annotations

import hashlib
import unicodedata
from typing import Callable

NAME_ATTRIBUTES = ("first_names", "first_names_female", "first_names_male")


def faker_first_names() -> dict[str, list[str]]:
    """locale -> its first names, read from every faker person provider (needs faker)."""
    import importlib
    import pkgutil
    import warnings

    import faker
    import faker.providers.person as person

    out: dict[str, list[str]] = {}
    generator = faker.Generator()
    for module in sorted(m.name for m in pkgutil.iter_modules(person.__path__) if m.ispkg):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            provider = importlib.import_module(f"{person.__name__}.{module}").Provider(generator)
        names: dict[str, None] = {}
        for attribute in NAME_ATTRIBUTES:
            value = getattr(provider, attribute, None)
            if value:  # a tuple, a list, or a name -> weight mapping
                names.update(dict.fromkeys(value.keys() if isinstance(value, dict) else value))
        if names:
            out[module] = list(names)
    return out


def script(name: str) -> str | None:
    """'LATIN', 'CYRILLIC'... when every letter of `name` is in one script, else None."""
    scripts = {unicodedata.name(ch, "?").split()[0] for ch in name if ch.isalpha()}
    return scripts.pop() if len(scripts) == 1 else None


def _usable(name: str) -> bool:
    return (
        len(name) >= 2
        and name[0].isupper()
        and script(name) is not None
        and all(ch.isalpha() or ch in "-'" for ch in name)
        and name[-1].isalpha()
    )


def _order(name: str) -> str:
    """A fixed shuffle: faker's lists are often alphabetical."""
    return hashlib.sha256(name.encode("utf-8")).hexdigest()


def select_names(
    by_locale: dict[str, list[str]],
    n: int,
    zipf: Callable[[str], float],
    exclude: set[str],
    max_word_zipf: float = 3.5,
    other_script_share: float = 0.05,
) -> list[str]:
    """n first names, round-robin over locales (sorted), each locale's names in a fixed shuffled
    order. Latin-script names fill all but `other_script_share` of the list; names that are also
    common English words ("Will", "May", "Rose") and names in `exclude` are left out. Sorted."""
    latin: dict[str, list[str]] = {}
    other: dict[str, list[str]] = {}
    for locale in sorted(by_locale):
        for name in sorted(set(by_locale[locale]), key=lambda x: (_order(x), x)):
            if not _usable(name) or name in exclude or zipf(name.lower()) > max_word_zipf:
                continue
            (latin if script(name) == "LATIN" else other).setdefault(locale, []).append(name)
    n_other = min(round(n * other_script_share), sum(map(len, other.values())))
    chosen: dict[str, None] = {}
    for pool, quota in ((other, n_other), (latin, n)):
        target = len(chosen) + quota if pool is other else n
        queues = {locale: list(names) for locale, names in pool.items()}
        while len(chosen) < target and any(queues.values()):
            for locale in sorted(queues):
                while queues[locale]:
                    name = queues[locale].pop(0)
                    if name not in chosen:
                        chosen[name] = None
                        break
                if len(chosen) >= target:
                    break
    return sorted(chosen)
