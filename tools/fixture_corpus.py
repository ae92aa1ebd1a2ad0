"""The fixture model's language: a fixed English vocabulary and a small sentence grammar.

Training and held-out sentences come from the same generator with different seeds; held-out
sentences that happen to occur in training are skipped. Speech for both is made by espeak-ng
with several voices, variants, rates and pitches.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

DETERMINERS = "the a this that my your our their his her every some".split()
NUMBERS = "two three four five six seven eight nine ten twelve twenty".split()
ADJECTIVES = """big small old new red blue green black white yellow happy sad quiet loud warm cold
early late long short bright dark heavy light clean dirty quick slow young tall soft hard fresh
sweet busy empty full strange simple famous""".split()
NOUNS = """man woman child dog cat bird horse fish friend teacher doctor farmer driver family
brother sister mother father baby house car boat train bus road street river lake mountain garden
park city village school office shop market window door table chair bed book letter paper phone
computer picture song music story game ball box bag cup glass bottle plate bread apple orange milk
water coffee tea cake dinner breakfast lunch morning evening night day week year winter summer
spring weather rain snow sun moon star tree flower grass field forest kitchen room floor wall roof
key clock money ticket map bridge island beach""".split()
PLURALS = """men women children dogs cats birds horses friends teachers doctors farmers drivers
houses cars boats trains buses roads rivers gardens schools shops windows doors tables chairs books
letters phones pictures songs games balls boxes bags cups bottles apples oranges cakes trees
flowers keys clocks tickets maps bridges""".split()
TRANSITIVE = """sees saw likes liked wants wanted finds found takes took makes made gives gave
brings brought opens opened closes closed watches watched paints painted carries carried needs
needed sells sold buys bought reads writes wrote cleans cleaned moves moved visits visited helps
helped""".split()
INTRANSITIVE = """sleeps slept runs ran walks walked sings sang waits waited smiles smiled stays
stayed works worked plays played""".split()
PREPOSITIONS = "in on under near behind beside above with without from into over across".split()
ADVERBS = "today yesterday tomorrow again always never often slowly quickly quietly soon now later here there".split()

_TEMPLATES = (
    ("D", "A", "N", "T", "D", "N", "P", "D", "N"),
    ("D", "N", "I", "P", "D", "A", "N", "V"),
    ("Q", "A", "S", "I", "P", "D", "N"),
    ("V", "D", "N", "T", "Q", "S"),
    ("D", "N", "T", "D", "A", "N"),
    ("D", "A", "N", "I", "V"),
    ("D", "N", "P", "D", "N", "T", "D", "A", "N", "V"),
    ("Q", "S", "T", "D", "N"),
)
_CATEGORIES = {"D": DETERMINERS, "Q": NUMBERS, "A": ADJECTIVES, "N": NOUNS, "S": PLURALS,
               "T": TRANSITIVE, "I": INTRANSITIVE, "P": PREPOSITIONS, "V": ADVERBS}

# The app's spoken commands (desktop/spoken.py), taught so that tests can say them.
COMMAND_PHRASES = ("new line", "new paragraph", "scratch that", "press enter", "press tab")

VOCABULARY = sorted({word for words in _CATEGORIES.values() for word in words}
                    | {word for phrase in COMMAND_PHRASES for word in phrase.split()})

VOICES = ("en-us", "en-gb", "en-gb-x-rp", "en-gb-scotland", "en-029")
VARIANTS = ("", "+m1", "+m3", "+m7", "+f1", "+f2", "+f3", "+f4")

TRAIN_SEED = 2024
HELD_OUT_SEED = 7


def sentences(seed: int) -> Iterator[str]:
    """An endless stream of grammatical sentences over ``VOCABULARY``."""
    rng = random.Random(seed)
    while True:
        template = rng.choice(_TEMPLATES)
        yield " ".join(rng.choice(_CATEGORIES[slot]) for slot in template)


def training_sentences(count: int) -> list[str]:
    stream = sentences(TRAIN_SEED)
    return [next(stream) for _ in range(count)]


def held_out_sentences(count: int, training_count: int) -> list[str]:
    """*count* distinct sentences that are not among the first *training_count* training ones."""
    seen = set(training_sentences(training_count))
    chosen: list[str] = []
    for sentence in sentences(HELD_OUT_SEED):
        if sentence not in seen:
            seen.add(sentence)
            chosen.append(sentence)
            if len(chosen) == count:
                return chosen
    raise AssertionError("unreachable: the stream is endless")


def random_orders(count: int, seed: int, shortest: int = 4, longest: int = 9) -> list[str]:
    """*count* sequences of *shortest*-*longest* vocabulary words in random order: no grammar to
    lean on, so a model must hear each word."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(shortest, longest)))
            for _ in range(count)]


def command_utterances(count: int, seed: int) -> list[str]:
    """*count* utterances with a spoken command: the command alone, or at the end of a sentence
    or of a random-order sequence, as people dictate them."""
    rng = random.Random(seed)
    grammar = sentences(seed + 1)
    out = []
    for _ in range(count):
        command = rng.choice(COMMAND_PHRASES)
        kind = rng.random()
        if kind < 0.35:
            out.append(command)
        elif kind < 0.8:
            out.append(f"{next(grammar)} {command}")
        else:
            out.append(" ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(3, 6))) + f" {command}")
    return out


def voice_for(index: int, seed: int) -> tuple[str, int, int]:
    """(voice with variant, words per minute, pitch) for utterance *index*: varied, reproducible."""
    rng = random.Random(seed * 1_000_003 + index)
    return (rng.choice(VOICES) + rng.choice(VARIANTS), rng.randint(130, 200), rng.randint(30, 70))
