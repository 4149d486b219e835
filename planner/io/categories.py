"""Facility taxonomy: category keys, display names, and the rules that map raw labels and OSM tags to them."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from planner.settings import Scenario

__all__ = ["GROUPS", "Category", "Taxonomy", "check_category_records", "load_taxonomy", "taxonomy_for"]


@dataclass(frozen=True)
class Category:
    """One facility category (e.g. ``convenience`` = 便利店)."""

    key: str
    zh: str
    en: str
    group: str
    basic: bool
    color: str
    aliases: tuple[str, ...] = ()
    osm: tuple[Mapping[str, object], ...] = ()
    amap_codes: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()

    def label(self, lang: str = "zh") -> str:
        """Display name in ``lang`` (``"zh"`` or ``"en"``)."""
        return self.zh if lang == "zh" else self.en


def _norm(text: object) -> str:
    return str(text).strip().lower().replace(" ", "").replace("_", "")


@dataclass(frozen=True)
class Taxonomy:
    """The ordered list of categories and lookups over it."""

    categories: tuple[Category, ...]
    _by_label: Mapping[str, str] = field(default_factory=dict, repr=False)
    extra_rules: tuple[Mapping[str, object], ...] = ()
    first: tuple[str, ...] = ()  # keys tried before the others when matching (a scenario's own categories)

    @classmethod
    def from_records(cls, records: Sequence[Mapping[str, object]]) -> Taxonomy:
        cats = []
        for rec in records:
            cats.append(
                Category(
                    key=str(rec["key"]),
                    zh=str(rec["zh"]),
                    en=str(rec["en"]),
                    group=str(rec.get("group", "other")),
                    basic=bool(rec.get("basic", False)),
                    color=str(rec.get("color", "#666666")),
                    aliases=tuple(str(a) for a in rec.get("aliases", ())),  # type: ignore[union-attr]
                    osm=tuple(rec.get("osm", ())),  # type: ignore[arg-type]
                    amap_codes=tuple(str(c) for c in rec.get("amap_codes", ())),  # type: ignore[union-attr]
                    keywords=tuple(str(k) for k in rec.get("keywords", ())),  # type: ignore[union-attr]
                )
            )
        by_label: dict[str, str] = {}
        for cat in cats:
            for label in (cat.key, cat.zh, cat.en, *cat.aliases):
                by_label.setdefault(_norm(label), cat.key)
        return cls(tuple(cats), by_label)

    def with_categories(self, records: Sequence[Mapping[str, object]]) -> Taxonomy:
        """A copy with the scenario's own categories (checked by :func:`check_category_records`) **before** the
        shipped ones: their names, aliases, OSM rules and Amap codes are tried first, so a local variant (a
        党群服务中心 of one's own) is not taken by a shipped category's wider words."""
        if not records:
            return self
        own = Taxonomy.from_records(records)
        by_label = dict(own._by_label)
        for label, key in self._by_label.items():
            by_label.setdefault(label, key)
        # listed after the shipped ones (tables, legends), tried before them (labels, OSM tags, Amap codes)
        return Taxonomy(self.categories + own.categories, by_label, self.extra_rules, own.keys + self.first)

    @cached_property
    def matching(self) -> tuple[Category, ...]:
        """The categories in the order they are tried on a POI: :attr:`first` (a scenario's own), then the rest."""
        ahead = [c for k in self.first for c in self.categories if c.key == k]
        return tuple(ahead) + tuple(c for c in self.categories if c.key not in self.first)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(c.key for c in self.categories)

    def __getitem__(self, key: str) -> Category:
        for cat in self.categories:
            if cat.key == key:
                return cat
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return any(c.key == key for c in self.categories)

    def resolve(self, label: object, extra: Mapping[str, str] | None = None) -> str | None:
        """Category key for a user's label (key, Chinese or English name, alias), or None.

        ``extra`` maps further labels to keys (the scenario's own category mapping) and wins.
        """
        if label is None:
            return None
        text = str(label).strip()
        if not text or text.lower() == "nan":
            return None
        if extra:
            if text in extra:
                return extra[text]
            normed = {_norm(k): v for k, v in extra.items()}
            if _norm(text) in normed:
                return normed[_norm(text)]
        return self._by_label.get(_norm(text))

    def with_rules(self, rules: Sequence[Mapping[str, object]]) -> Taxonomy:
        """A copy whose POI matching tries the scenario's ``rules`` first.

        Each rule is a table with ``category`` and any of ``keywords`` (words in the name),
        ``amap_codes`` (type-code prefixes) and ``types`` (words in an Amap ``type`` text).
        """
        return Taxonomy(self.categories, self._by_label, tuple(rules), self.first)

    def match_poi(self, *, name: object = "", typecode: object = "", type_text: object = "") -> str | None:
        """Category of a raw POI from its name, its Amap type code(s) and its Amap type text, or None.

        Amap writes several codes as ``"060200|060400"`` and type text as ``"购物服务;便民商店/便利店;便利店"``.
        Order: the scenario's rules, then each category's code+keyword rules, then the type text's
        parts (most specific first) read as category labels.
        """
        name_s = "" if name is None or str(name) == "nan" else str(name)
        codes = [c.strip() for c in str(typecode or "").replace(";", "|").split("|") if c.strip() and c.strip() != "nan"]
        text = "" if type_text is None or str(type_text) == "nan" else str(type_text)
        key = self.match_rules(name=name_s, typecode=typecode, type_text=text)
        if key:
            return key
        for cat in self.matching:
            if (cat.amap_codes or cat.keywords) and _poi_rule(cat.amap_codes, cat.keywords, (), codes, name_s, text):
                return cat.key
        for part in reversed([p for seg in text.split(";") for p in seg.split("/") if p.strip()]):
            key = self.resolve(part)
            if key:
                return key
        return None

    def match_rules(self, *, name: object = "", typecode: object = "", type_text: object = "") -> str | None:
        """Category of the first of the scenario's own ``rules`` (:meth:`with_rules`) that matches, or None."""
        if not self.extra_rules:
            return None
        name_s = "" if name is None or str(name) == "nan" else str(name)
        codes = [c.strip() for c in str(typecode or "").replace(";", "|").split("|") if c.strip() and c.strip() != "nan"]
        text = "" if type_text is None or str(type_text) == "nan" else str(type_text)
        for rule in self.extra_rules:
            if _poi_rule(rule.get("amap_codes", ()), rule.get("keywords", ()), rule.get("types", ()), codes, name_s, text):
                return str(rule["category"])
        return None

    @cached_property
    def name_words(self) -> dict[str, tuple[str, ...]]:
        """The words whose presence in a facility's name alone says its category: a category's ``keywords`` when it
        has no Amap codes (with codes, the keywords only narrow the codes) and the words of its name-only OSM rules."""
        out: dict[str, tuple[str, ...]] = {}
        for cat in self.categories:
            words = list(cat.keywords) if not cat.amap_codes else []
            for rule in cat.osm:
                if set(rule) == {"name"}:
                    wanted = rule["name"]
                    words += [str(w) for w in (wanted if isinstance(wanted, list) else [wanted])]
            if words:
                out[cat.key] = tuple(dict.fromkeys(words))
        return out

    @cached_property
    def _name_patterns(self) -> dict[str, re.Pattern[str]]:
        """One regular expression per category: any of its name words, unless that occurrence is part of a longer
        name word of another category (``驿站`` of a parcel point inside ``养老服务驿站`` of a station)."""
        words = self.name_words
        patterns: dict[str, re.Pattern[str]] = {}
        for key, own in words.items():
            longer = [w for other, ws in words.items() if other != key for w in ws]
            alternatives = []
            for word in sorted(own, key=len, reverse=True):
                guards = []
                for big in longer:
                    if len(big) <= len(word):
                        continue
                    at = big.find(word)
                    while at >= 0:
                        before, after = big[:at], big[at + len(word):]
                        look = f"(?<={re.escape(before)})" if before else ""
                        guards.append(f"(?!{look}{re.escape(word)}{re.escape(after)})")
                        at = big.find(word, at + 1)
                alternatives.append("".join(guards) + re.escape(word))
            patterns[key] = re.compile("|".join(alternatives))
        return patterns

    def by_name(self, names: pd.Series) -> tuple[pd.Series, pd.Series]:
        """Each name's category when its name words (:attr:`name_words`) are those of exactly one category.

        Vectorised: one regular expression per category over the whole column. Returns the category key (None when
        no category or several fit) and, for names that fit several, the candidates as ``"key1|key2"`` ("" else).
        """
        text = names.fillna("").astype(str)
        keys = list(self._name_patterns)
        if not len(text) or not keys:
            return pd.Series(None, index=names.index, dtype=object), pd.Series("", index=names.index, dtype=object)
        hits = np.column_stack([text.str.contains(self._name_patterns[k], regex=True).to_numpy(dtype=bool) for k in keys])
        count = hits.sum(axis=1)
        key_arr = np.asarray(keys, dtype=object)
        found = np.where(count == 1, key_arr[hits.argmax(axis=1)], None)
        candidates = np.full(len(text), "", dtype=object)
        several = np.flatnonzero(count > 1)
        if len(several):
            candidates[several] = ["|".join(key_arr[hits[i]]) for i in several]
        return pd.Series(found, index=names.index, dtype=object), pd.Series(candidates, index=names.index, dtype=object)

    def match_osm(self, tags: Mapping[str, str]) -> str | None:
        """First category whose OSM rule matches ``tags`` (a dict of OSM tags), or None.

        Rules made only of name keywords are skipped for features whose own tags say they are
        something ancillary (a car park named 原幼儿园停车场 is not a kindergarten).
        """
        name = tags.get("name", "") or ""
        ancillary = any(tags.get(k) in values for k, values in _ANCILLARY.items())
        for cat in self.matching:
            for rule in cat.osm:
                if ancillary and set(rule) <= {"name"}:
                    continue
                if _rule_matches(rule, tags, name):
                    return cat.key
        return None


def _poi_rule(codes_wanted, keywords, types, codes: list[str], name: str, text: str) -> bool:
    checks = []
    if codes_wanted:
        checks.append(any(c.startswith(str(w)) for c in codes for w in codes_wanted))
    if keywords:
        checks.append(any(str(k) in name for k in keywords))
    if types:
        checks.append(any(str(t) in text for t in types))
    return bool(checks) and all(checks)


# features that carry a facility's name without being one
_ANCILLARY: dict[str, set[str]] = {
    "amenity": {
        "parking", "parking_space", "parking_entrance", "bicycle_parking", "motorcycle_parking",
        "toilets", "bench", "atm", "vending_machine", "waste_basket", "bus_station",
    },
}


def _rule_matches(rule: Mapping[str, object], tags: Mapping[str, str], name: str) -> bool:
    for tag, wanted in rule.items():
        if tag == "name":
            keywords = wanted if isinstance(wanted, list) else [wanted]
            if not any(str(k) in name for k in keywords):
                return False
            continue
        value = tags.get(tag)
        if value is None:
            return False
        options = {str(o) for o in (wanted if isinstance(wanted, list) else [wanted])}
        # OSM lists several values with ";" (shop=convenience;hairdresser): any of them may match
        if not options.intersection(v.strip() for v in str(value).split(";")):
            return False
    return True


@lru_cache(maxsize=1)
def load_taxonomy() -> Taxonomy:
    """The taxonomy shipped with planner (``planner/data/categories.toml``)."""
    text = resources.files("planner").joinpath("data/categories.toml").read_text(encoding="utf-8")
    return Taxonomy.from_records(tomllib.loads(text)["category"])


# the groups a category belongs to (the map's layers, the isochrones and the walking speed follow the group)
GROUPS = ("elderly", "childcare", "education", "health", "convenience", "community", "other")
# colours of the scenario's own categories when they give none, in order
_OWN_COLOURS = ("#6a3d9a", "#b15928", "#1f78b4", "#33a02c", "#e31a1c", "#ff7f00", "#cab2d6", "#fb9a99")
_CATEGORY_FIELDS = {"key", "zh", "en", "group", "basic", "color", "aliases", "osm", "amap_codes", "keywords"}


def check_category_records(records: object, problems: list[str], *, where: str = "[[categories]]") -> list[dict]:
    """The scenario's own categories, each checked: a new ``key`` (lower-case letters, digits, ``_``; not a shipped
    category's), Chinese and English names, a known ``group``, and lists of text for ``aliases``, ``keywords`` and
    ``amap_codes`` (digits), OSM rules as tables of tag = value or [values]. Every mistake goes to ``problems``; the
    good records are returned, with a colour each."""
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        problems.append(f"{where} 必须是表的数组 / {where} must be an array of tables")
        return []
    shipped = set(load_taxonomy().keys)
    seen: set[str] = set()
    good: list[dict] = []
    for i, rec in enumerate(records, start=1):
        before = len(problems)
        key = rec.get("key")
        at = f"{where} #{i}" + (f" ({key})" if isinstance(key, str) else "")
        for field_name in sorted(set(rec) - _CATEGORY_FIELDS):
            problems.append(f"{at}：未知字段 '{field_name}' / unknown field '{field_name}' (allowed: {', '.join(sorted(_CATEGORY_FIELDS))})")
        if not isinstance(key, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", key):
            problems.append(f"{at}：key 必须是小写字母开头、由小写字母数字和 _ 组成的名字，如 \"cafe\" / key must be a name such as \"cafe\"")
        elif key in shipped:
            problems.append(f"{at}：key '{key}' 已是 planner 自带类别；要把本地名称并入它，请用 [layers.facilities.categories] / '{key}' is a "
                            "shipped category: map local labels onto it with [layers.facilities.categories]")
        elif key in seen:
            problems.append(f"{at}：key 重复 / duplicate key")
        else:
            seen.add(key)
        for name in ("zh", "en"):
            if not isinstance(rec.get(name), str) or not rec[name].strip():
                problems.append(f"{at}：缺少 {name}（{'中文名' if name == 'zh' else '英文名'}） / {name} (the {'Chinese' if name == 'zh' else 'English'} name) is required")
        if rec.get("group", "other") not in GROUPS:
            problems.append(f"{at}：group 只能是 {', '.join(GROUPS)} / group must be one of {', '.join(GROUPS)}")
        if "basic" in rec and not isinstance(rec["basic"], bool):
            problems.append(f"{at}：basic 必须是 true/false / basic must be true or false")
        if "color" in rec and not (isinstance(rec["color"], str) and re.fullmatch(r"#[0-9a-fA-F]{6}", rec["color"])):
            problems.append(f"{at}：color 须写成 \"#rrggbb\" / color must be \"#rrggbb\"")
        for name in ("aliases", "keywords", "amap_codes"):
            value = rec.get(name, [])
            if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                problems.append(f"{at}：{name} 必须是文字列表 / {name} must be a list of text")
            elif name == "amap_codes" and not all(v.isdigit() and 2 <= len(v) <= 6 for v in value):
                problems.append(f"{at}：amap_codes 须是 2–6 位数字的高德分类码前缀，如 \"0503\" / amap_codes must be 2–6 digit Amap code prefixes")
        osm = rec.get("osm", [])
        if not isinstance(osm, list) or not all(
            isinstance(r, dict) and r and all(isinstance(v, str) or (isinstance(v, list) and v and all(isinstance(x, str) for x in v))
                                              for v in r.values()) for r in osm):
            problems.append(f"{at}：osm 必须是规则表的列表，如 [{{ amenity = \"cafe\" }}] / osm must be a list of tag tables, e.g. "
                            "[{ amenity = \"cafe\" }]")
        if len(problems) == before:
            good.append({"group": "other", **rec, "color": rec.get("color", _OWN_COLOURS[len(good) % len(_OWN_COLOURS)])})
    return good


def taxonomy_for(scenario: Scenario) -> Taxonomy:
    """The taxonomy of a run: the shipped categories and, tried first, the scenario's own ``[[categories]]``
    (``scenario.own_categories``)."""
    own = tuple(scenario.own_categories)
    if not own:
        return load_taxonomy()
    key = repr(own)
    if key not in _EXTENDED:
        _EXTENDED.clear()  # one scenario at a time in practice; no growth in a long-lived server
        _EXTENDED[key] = load_taxonomy().with_categories(own)
    return _EXTENDED[key]


_EXTENDED: dict[str, Taxonomy] = {}
