"""The matter catalog: which matters exist, which skill serves them, which provinces own them, and the
guidance a clerk reads out for each (what the citizen brings, how the matter goes, how long it takes)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_CATALOG = Path(__file__).parent / "data" / "matters.yaml"
PROVINCES = {"310000": "上海", "320000": "江苏", "330000": "浙江", "340000": "安徽"}
DELTA = "delta"  # the region of a supervisor or auditor of the whole delta (all four provinces)


def scope_of(region: str) -> frozenset[str] | None:
    """The provinces a supervisor or auditor of ``region`` oversees; None: all four (the delta)."""
    if region == DELTA:
        return None
    return frozenset({region[:2] + "0000"})


class CatalogError(ValueError):
    pass


# Bounds of a matter's guidance: what a clerk reads out in a few seconds, not a manual.
GUIDANCE_KEYS = ("materials", "steps", "time_limit")
MAX_GUIDANCE_ITEMS = 20
MAX_GUIDANCE_TEXT = 500


@dataclass(frozen=True)
class Text:
    """A phrase in Chinese and English (English defaults to the Chinese, as a matter's name does)."""

    zh: str
    en: str

    def to_json(self) -> dict[str, str]:
        return {"zh": self.zh, "en": self.en}


@dataclass(frozen=True)
class Guidance:
    """What the clerk reads out: the materials the citizen needs, the steps of the matter, and the processing
    time that is promised (in words, e.g. "15 个工作日")."""

    materials: tuple[Text, ...]
    steps: tuple[Text, ...]
    time_limit: Text

    def to_json(self) -> dict[str, Any]:
        return {
            "materials": [m.to_json() for m in self.materials],
            "steps": [s.to_json() for s in self.steps],
            "time_limit": self.time_limit.to_json(),
        }


@dataclass(frozen=True)
class Matter:
    code: str
    name_zh: str
    name_en: str
    skill: str
    provinces: tuple[str, ...]
    guidance: Guidance | None = None

    def to_json(self) -> dict[str, Any]:
        """The matter as ``GET /api/matters`` lists it: without its guidance (the kiosk loads the whole list)."""
        return {
            "code": self.code,
            "name": {"zh": self.name_zh, "en": self.name_en},
            "skill": self.skill,
            "provinces": list(self.provinces),
        }

    def detail_json(self) -> dict[str, Any]:
        """The matter as ``GET /api/matters/{code}`` gives it: with its guidance, or null when it has none."""
        return {**self.to_json(), "guidance": self.guidance.to_json() if self.guidance is not None else None}


class Catalog:
    def __init__(self, matters: list[Matter]) -> None:
        self.matters = {m.code: m for m in matters}
        if len(self.matters) != len(matters):
            raise CatalogError("duplicate matter codes in the catalog")

    def get(self, code: str) -> Matter | None:
        return self.matters.get(code)

    def to_json(self) -> list[dict[str, Any]]:
        return [m.to_json() for m in self.matters.values()]

    @classmethod
    def load(cls, path: str | Path | None = None) -> Catalog:
        path = Path(path) if path else DEFAULT_CATALOG
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        if not isinstance(raw, list):
            raise CatalogError(f"{path}: the catalog must be a list of matters")
        matters = []
        for i, item in enumerate(raw):
            if not isinstance(item, dict):
                raise CatalogError(f"{path}: matter #{i + 1} must be a mapping (code, name, skill, provinces)")
            try:
                name = item["name"]
                provinces = tuple(str(p) for p in item["provinces"])
                matter = Matter(
                    code=str(item["code"]),
                    name_zh=str(name["zh"]),
                    name_en=str(name.get("en") or name["zh"]),
                    skill=str(item["skill"]),
                    provinces=provinces,
                )
            except (KeyError, TypeError) as exc:
                raise CatalogError(f"{path}: matter #{i + 1} lacks {exc}") from None
            unknown = [p for p in provinces if p not in PROVINCES]
            if unknown or not provinces:
                raise CatalogError(f"{path}: matter {matter.code} names unknown provinces {unknown}")
            if item.get("guidance") is not None:
                where = f"{path}: matter {matter.code}: guidance"
                matter = dataclasses.replace(matter, guidance=parse_guidance(where, item["guidance"]))
            matters.append(matter)
        return cls(matters)


def parse_guidance(where: str, raw: object) -> Guidance:
    """A matter's ``guidance`` from the catalog file: ``{materials: [{zh, en}], steps: [{zh, en}],
    time_limit: {zh, en}}``, all three present, each list of 1 to MAX_GUIDANCE_ITEMS phrases;
    ``CatalogError`` naming the place (``where``) of anything else."""
    if not isinstance(raw, dict):
        raise CatalogError(f"{where} must be a mapping with {', '.join(GUIDANCE_KEYS)}")
    unknown = sorted(str(k) for k in raw if k not in GUIDANCE_KEYS)
    if unknown:
        raise CatalogError(f"{where} has unknown key {unknown[0]!r}; known: {', '.join(GUIDANCE_KEYS)}")
    missing = [k for k in GUIDANCE_KEYS if k not in raw]
    if missing:
        raise CatalogError(f"{where} lacks {missing[0]!r}")
    lists: dict[str, tuple[Text, ...]] = {}
    for key in ("materials", "steps"):
        items = raw[key]
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_GUIDANCE_ITEMS:
            raise CatalogError(f"{where}.{key} must be a list of 1 to {MAX_GUIDANCE_ITEMS} {{zh, en}} phrases")
        lists[key] = tuple(_text(f"{where}.{key} #{n}", item) for n, item in enumerate(items, 1))
    return Guidance(lists["materials"], lists["steps"], _text(f"{where}.time_limit", raw["time_limit"]))


def _text(where: str, raw: object) -> Text:
    if not isinstance(raw, dict):
        raise CatalogError(f"{where} must be a mapping {{zh, en}}")
    unknown = sorted(str(k) for k in raw if k not in ("zh", "en"))
    if unknown:
        raise CatalogError(f"{where} has unknown key {unknown[0]!r}; known: zh, en")
    zh, en = raw.get("zh"), raw.get("en")
    if not isinstance(zh, str) or not zh.strip():
        raise CatalogError(f"{where}.zh must be text (not empty)")
    if en is not None and not isinstance(en, str):
        raise CatalogError(f"{where}.en must be text (or left out: the Chinese is used)")
    en = en.strip() if en else ""
    zh = zh.strip()
    if len(zh) > MAX_GUIDANCE_TEXT or len(en) > MAX_GUIDANCE_TEXT:
        raise CatalogError(f"{where} is longer than {MAX_GUIDANCE_TEXT} characters")
    return Text(zh=zh, en=en or zh)
