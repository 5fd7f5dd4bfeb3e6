"""Words and lemmas: one lemmatiser and one stop list for Finnish, Swedish and English.

Used by the digest (recurring words, similar ideas) and by the similar-idea check when a
participant names a new idea, so both agree on what counts as the same word.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from difflib import SequenceMatcher
from functools import lru_cache

import simplemma

__all__ = [
    "STOP_WORDS",
    "lemma",
    "lemma_forms",
    "lemmas",
    "match_keys",
    "preload",
    "same_stem",
    "similar_pairs",
    "similarity",
]

WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
"""A word worth counting: three letters or more, no digits."""
SIMILAR_CANDIDATES = 12
"""Each title is compared with at most this many others (those sharing the most words)."""
SIMILAR_THRESHOLD = 0.6
_LEMMA_LANGS: Mapping[str, tuple[str, ...]] = {
    "fi": ("fi", "sv", "en"),
    "sv": ("sv", "fi", "en"),
    "en": ("en", "fi", "sv"),
}
_STOP_TEXT = """
    ja tai sekä on ei että kun jos se ne joka mikä kuin myös olla oli ovat olen olet olemme olette ole
    ollut olisi tämä tuo nämä nuo hän he me te minä sinä mä sä mun sun meillä teillä heillä mutta vaan
    niin nyt vielä jo sitten kanssa koska jotta eli siis aina paljon vain kaikki joku jokin mitä missä
    miten kuka ketkä oma itse ehkä kyllä ihan aika hyvin todella tosi siellä täällä tässä siinä sitä
    tätä sen tämän niiden näiden jonka jotka joita mihin mistä minne kenen voi voida pitää täytyä
    tulla tehdä saada mennä jne esim eikä en et emme ette eivät koko muu muut noin yli alle ennen
    jälkeen vasta taas kuitenkin vaikka mikään kukaan jotain joitain moni monta usein välillä hieman
    vähän enemmän ehtiä sama mitään asia juttu
    och att det som en ett på är av för med till den har de inte om han hon men var jag sig från
    vi så kan man när eller nu då du också skulle vara ha bli blir blev få kunna ska skall vill vilja
    mycket här där alla någon något några inget ingen hur vad vem vilken vilket vilka efter under utan
    mot vid över bara även sedan denna detta dessa sin sitt sina hans hennes deras vår vårt våra ert
    era min mitt mina din ditt dina mig dig oss dem honom henne hade finns mer mest lite än just sak
    the and or of to for in on with a an is are was were be been being it its this that these those
    they them their there then than but not no yes we you he she his her our your my me us at by from
    as into about have has had do does did so if when what which who whom how all any some can could
    would should will just also very more most much many one get got
"""
STOP_WORDS: frozenset[str] = frozenset(_STOP_TEXT.split())
"""Function words (and a few filler words) in Finnish, Swedish and English, as words and lemmas."""


_PRELOAD_WORDS: Mapping[str, str] = {"fi": "kirjastossa", "sv": "biblioteket", "en": "libraries"}
_loaded = threading.Event()
_loading = threading.Lock()


def preload() -> None:
    """Load the Finnish, Swedish and English dictionaries now (seconds of work, once per process).

    The bot calls this in a worker thread at start-up, so no handler or digest pays for it later.
    Anything that needs a lemma while the loading runs waits for it here rather than loading the
    same dictionaries a second time."""
    if _loaded.is_set():
        return
    with _loading:
        if _loaded.is_set():
            return
        for language, word in _PRELOAD_WORDS.items():
            simplemma.lemmatize(word, lang=language, low_memory=True)
        _loaded.set()


@lru_cache(maxsize=200_000)
def lemma(word: str, language: str) -> str:
    """The lemma of one lowercase word, trying the writer's language first. Cached per word: a
    process's vocabulary is small next to its number of texts."""
    if not _loaded.is_set():
        preload()
    # low_memory: the front-coded dictionaries take ~60 MB for fi+sv+en instead of ~470 MB.
    found = simplemma.lemmatize(word, lang=_LEMMA_LANGS.get(language, _LEMMA_LANGS["fi"]), low_memory=True)
    return str(found).casefold()


def lemma_forms(text: str, language: str) -> dict[str, str]:
    """The content words of a text as ``{lemma: the form written}`` (``kirjasto`` → ``kirjastossa``),
    without stop words in Finnish, Swedish or English."""
    found: dict[str, str] = {}
    for word in WORD.findall(unicodedata.normalize("NFC", text.casefold())):
        if word in STOP_WORDS:
            continue
        base = lemma(word, language)
        if len(base) >= 3 and base not in STOP_WORDS:
            found.setdefault(base, word)
    return found


def lemmas(text: str, language: str) -> set[str]:
    """The distinct content words of a text as lemmas; see :func:`lemma_forms`."""
    return set(lemma_forms(text, language))


def match_keys(text: str, language: str) -> set[str]:
    """What two titles must share to be worth comparing: a lemma or a word's first four letters."""
    return lemmas(text, language) | {word[:4] for word in WORD.findall(text.casefold()) if len(word) >= 4}


def same_stem(base: str, form: str) -> bool:
    """Whether a lemma reads as the word written (``kirjasto``/``kirjastossa``), unlike a
    suppletive one (``gammal``/``äldre``), which would puzzle a reader."""
    shared = 0
    for a, b in zip(base, form, strict=False):
        if a != b:
            break
        shared += 1
    return shared >= min(3, len(base))


def similarity(a: str, b: str, language: str = "fi") -> float:
    """How alike two idea names are: lemma overlap (so "kerho" and "kerhoja" match) or spelling."""
    lemmas_a, lemmas_b = lemmas(a, language), lemmas(b, language)
    overlap = len(lemmas_a & lemmas_b) / len(lemmas_a | lemmas_b) if lemmas_a and lemmas_b else 0.0
    spelling = SequenceMatcher(None, a.casefold(), b.casefold()).ratio()
    return max(overlap, spelling)


def similar_pairs(ideas: Sequence[tuple[int, str, str]]) -> dict[int, list[int]]:
    """Pairs of similar titles (of ideas) among ``(ref, title, language)``. Only titles sharing a word
    lemma or a word's first four letters are compared, each with the few that share the most, so
    the work stays small however many ideas a process has."""
    keys = [match_keys(title, language) for _, title, language in ideas]
    index: dict[str, list[int]] = defaultdict(list)
    for position, found in enumerate(keys):
        for key in found:
            index[key].append(position)
    candidates: set[tuple[int, int]] = set()
    for position, found in enumerate(keys):
        shared: Counter[int] = Counter()
        for key in found:
            shared.update(other for other in index[key] if other != position)
        for other, _ in shared.most_common(SIMILAR_CANDIDATES):
            candidates.add((min(position, other), max(position, other)))
    similar: dict[int, list[int]] = defaultdict(list)
    for first, second in sorted(candidates):
        ref_a, title_a, language = ideas[first]
        ref_b, title_b, _ = ideas[second]
        if similarity(title_a, title_b, language) >= SIMILAR_THRESHOLD:
            similar[ref_a].append(ref_b)
            similar[ref_b].append(ref_a)
    return similar
