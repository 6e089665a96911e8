"""axe-core on a page as it is shown: the one helper of every browser test that checks accessibility.

axe-core (web/node_modules/axe-core, installed by .ci/setup's `npm ci`) is evaluated in the page by the test, the
way DevTools runs a script: it is no script of the page, so the page's Content-Security-Policy does not stop it
and the browser context needs no `bypass_csp`. A check fails on any violation of impact "serious" or "critical"
(colour contrast, names of controls, labels, ARIA, language, scrollable regions, ...), and names each one by its
rule, impact and count, with the first elements.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

AXE = Path(__file__).resolve().parent.parent / "web" / "node_modules" / "axe-core" / "axe.min.js"

# Each serious or critical violation on the page: "rule (impact) xN: the first elements".
SERIOUS_JS = """
async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  const where = (v) => v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ");
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}) x${v.nodes.length}: ${where(v)}`);
}
"""


@cache
def axe_source() -> str:
    assert AXE.exists(), f"{AXE} is missing: web/node_modules is installed by .ci/setup (npm ci)"
    # Wrapped as a function, so that Playwright runs the file as a script (it sets window.axe).
    return "() => {\n" + AXE.read_text(encoding="utf-8") + "\n}"


async def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical violations on ``page`` as it is now (axe-core added once per document)."""
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        await page.evaluate(axe_source())
    return list(await page.evaluate(SERIOUS_JS))


async def check_accessible(page: Any, label: str) -> None:
    """Fail, listing them, when axe-core finds a serious or critical violation on ``page`` (``label``: the state)."""
    found = await serious_violations(page)
    assert found == [], (label, found)
