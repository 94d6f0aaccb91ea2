"""City and region names in one spelling: 上海 / 上海市 / Shanghai / SHANGHAI are one city.

The data ships with the code (``profiles/data/``): the provinces and other province-level
divisions of China (``cn_provinces.csv``) and its prefecture-level cities with the
municipalities, Hong Kong and Macau (``cn_cities.csv``), each with its short Chinese name (the
spelling stored), its full official name, its English (pinyin) name and other common spellings
(``aliases``, ``|``-separated: Peking, Canton, Lvliang …).

A spelling is matched after folding: Unicode NFKC, case, accents (Lü → Lu), and in Latin text
spaces, hyphens, apostrophes and dots (``Xi'an`` = ``xian``, ``Hong Kong`` = ``hongkong``), and
a separate English word "city", "shi", "province" or "sheng" at the end. Two places sharing a
pinyin name (苏州 and 宿州 are both Suzhou) are told apart only by an alias listed for one of
them; without one the spelling stays as it was given, since guessing would merge two cities.
A name not in the data (Singapore, a district) is kept as given, trimmed.

Pure: no query; the tables are read once per process.
"""

from __future__ import annotations

import csv
import functools
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
_LATIN_NOISE = re.compile(r"[\s\-'’‘`.·_]+")
_LATIN_SUFFIX = re.compile(r"[\s\-_]+(?:city|shi|province|sheng)$")


@dataclass(frozen=True)
class Place:
    """One city or province-level region and its spellings."""

    name: str  # the short Chinese name: what is stored
    full_name: str
    english: str
    aliases: tuple[str, ...] = ()
    province: str = ""  # a city's province (short name); "" for a region

    @property
    def spellings(self) -> tuple[str, ...]:
        """Return every spelling of the place as written in the data (stored name first)."""
        return tuple(dict.fromkeys((self.name, self.full_name, self.english, *self.aliases)))


def spelling_key(text: str) -> str:
    """Return the folded form of a spelling, under which every spelling of a place is found."""
    folded = unicodedata.normalize("NFKC", text).strip().casefold()
    folded = "".join(
        char for char in unicodedata.normalize("NFKD", folded) if not unicodedata.combining(char)
    )
    if folded.isascii():
        return _LATIN_NOISE.sub("", _LATIN_SUFFIX.sub("", folded))
    return unicodedata.normalize("NFC", folded)


def _read(filename: str) -> list[Place]:
    with (DATA / filename).open(encoding="utf-8", newline="") as handle:
        return [
            Place(
                name=row["name"],
                full_name=row["full_name"],
                english=row["english"],
                aliases=tuple(alias for alias in row["aliases"].split("|") if alias),
                province=row.get("province", ""),
            )
            for row in csv.DictReader(handle)
        ]


def _index(places: list[Place]) -> dict[str, Place]:
    """Return the places by the key of each spelling; a key two places share from their names
    (not their aliases) is left out, and an alias wins over a name."""
    named: dict[str, Place | None] = {}
    for place in places:
        for spelling in (place.name, place.full_name, place.english):
            key = spelling_key(spelling)
            if named.get(key, place) is not place:
                named[key] = None  # ambiguous
            else:
                named[key] = place
    index = {key: place for key, place in named.items() if place is not None}
    for place in places:
        for alias in place.aliases:
            index[spelling_key(alias)] = place
    return index


@functools.cache
def cities() -> tuple[Place, ...]:
    """Return the cities of the data, in its order."""
    return tuple(_read("cn_cities.csv"))


@functools.cache
def regions() -> tuple[Place, ...]:
    """Return the province-level regions of the data, in its order."""
    return tuple(_read("cn_provinces.csv"))


@functools.cache
def _city_index() -> dict[str, Place]:
    return _index(list(cities()))


@functools.cache
def _region_index() -> dict[str, Place]:
    return _index(list(regions()))


def city_find(text: str) -> Place | None:
    """Return the city ``text`` spells, or None when it spells no city of the data (or two)."""
    return _city_index().get(spelling_key(text)) if text else None


def region_find(text: str) -> Place | None:
    """Return the region ``text`` spells, or None when it spells no region of the data."""
    return _region_index().get(spelling_key(text)) if text else None


def city_normalised(text: str) -> str:
    """Return the stored spelling of a city: its short Chinese name, or ``text`` trimmed."""
    place = city_find(text)
    return place.name if place else text.strip()


def region_normalised(text: str) -> str:
    """Return the stored spelling of a region: its short Chinese name, or ``text`` trimmed."""
    place = region_find(text)
    return place.name if place else text.strip()


def city_spellings(text: str) -> tuple[str, ...]:
    """Return the values a filter on city ``text`` matches: every spelling of the city (stored
    name first), or ``text`` trimmed alone for a name the data does not hold."""
    place = city_find(text)
    return place.spellings if place else (text.strip(),)


def region_spellings(text: str) -> tuple[str, ...]:
    """Return the values a filter on region ``text`` matches (as ``city_spellings``)."""
    place = region_find(text)
    return place.spellings if place else (text.strip(),)
