"""The matter catalog: which matters exist, which skill serves them, which provinces own them."""

from __future__ import annotations

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


@dataclass(frozen=True)
class Matter:
    code: str
    name_zh: str
    name_en: str
    skill: str
    provinces: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": {"zh": self.name_zh, "en": self.name_en},
            "skill": self.skill,
            "provinces": list(self.provinces),
        }


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
            matters.append(matter)
        return cls(matters)
