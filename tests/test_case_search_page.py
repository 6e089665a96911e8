"""The case search page (/cases) in headless Chromium against a real server on the real clock.

Real cases are made with real Socket.IO clients, as in tests/test_case_list.py: in Shanghai one cancelled while
waiting, one resolved and rated 5, one referred and rated 2 (a 差评, its follow-up open) and one unresolved and not
rated; in Jiangsu one resolved. Shanghai's supervisor then searches on the page: only Shanghai's cases are listed,
in the API's order, each row in words and China time; filters by outcome, rating and follow-up find the right
rows, a small page size pages with "more", the CSV link downloads the same filters, a row's link and the
open-by-number box open the case page, and malformed numbers are refused in words. What the page listed is in the
audit log. A clerk is told the page is not for them, and the API's 403 is said in words.

Set RVW_SCREENSHOTS=/some/dir to keep the screenshots.
"""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.a11y import check_accessible
from tests.conftest import PASSWORD, Client, Server
from tests.helpers import ask, citizen, clerk_on_duty
from tests.test_browser import Tab, chromium, log_in, poll

pytestmark = pytest.mark.browser

CHINA = timezone(timedelta(hours=8))
BOM = b"\xef\xbb\xbf"
WEB = {"channel": "web", "region": "320500"}
MATTER = "SB-ZY-001"
SHANGHAI = "310000"
JIANGSU = "320000"


def china_time(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")


def china_today() -> str:
    return datetime.now(CHINA).date().isoformat()


def list_path(first: str, last: str, filters: dict[str, str] | None = None, limit: int = 50) -> str:
    """The page's query for China dates ``first`` to ``last`` (both included): the period, the filters in the
    form's order, then the page size."""
    start = datetime.fromisoformat(first).replace(tzinfo=CHINA)
    end = datetime.fromisoformat(last).replace(tzinfo=CHINA) + timedelta(days=1)
    params = {"from": start.isoformat(), "to": end.isoformat(), **(filters or {}), "limit": str(limit)}
    return "/api/cases?" + urlencode(params)


async def serve(server: Server, clerk: Client, region: str, outcome: str, rating: int | None) -> str:
    """A case asked for, answered, ended with ``outcome`` and (maybe) rated; its number."""
    c = await citizen(server, WEB)
    asked = await ask(c, MATTER, region)
    offer = await clerk.wait_for("offer")
    assert (await clerk.call("accept", {"ticket_id": offer["ticket_id"]}))["ok"] is True
    ended = await clerk.call("end_case", {"case_id": asked["case_id"], "outcome": outcome, "notes": "已告知"})
    assert ended["ok"] is True, ended
    await c.wait_for("case_ended")
    await clerk.wait_for("status", lambda d: d["status"] == "available")
    if rating is not None:
        rated = await c.call("rate", {"case_id": asked["case_id"], "level": rating, "comment": "等得久"})
        assert rated["ok"] is True, rated
    await c.close()
    return str(asked["case_id"])


async def make_cases(server: Server) -> dict[str, str]:
    """Four cases in Shanghai and one in Jiangsu, by name."""
    ids: dict[str, str] = {}
    c = await citizen(server, WEB)  # no clerk on duty yet: it waits, and the citizen gives up
    asked = await ask(c, MATTER, SHANGHAI)
    assert (await c.call("cancel", {"ticket_id": asked["ticket_id"]}))["ok"] is True
    ids["gone"] = str(asked["case_id"])
    await c.close()
    clerk_a = await clerk_on_duty(server, "clerk_a")
    ids["fixed"] = await serve(server, clerk_a, SHANGHAI, "resolved", 5)
    ids["sent"] = await serve(server, clerk_a, SHANGHAI, "referred", 2)
    ids["stuck"] = await serve(server, clerk_a, SHANGHAI, "unresolved", None)
    assert (await clerk_a.call("set_status", {"status": "offline"}))["ok"] is True
    clerk_js = await clerk_on_duty(server, "clerk_js", region=JIANGSU)
    ids["js"] = await serve(server, clerk_js, JIANGSU, "resolved", 4)
    assert (await clerk_js.call("set_status", {"status": "offline"}))["ok"] is True
    return ids


async def cases_tab(browser: Any, base_url: str) -> Tab:
    """The page in a browser in Los Angeles time (its dates must be China dates all the same)."""
    context = await browser.new_context(
        base_url=base_url, viewport={"width": 1280, "height": 900}, timezone_id="America/Los_Angeles"
    )
    tab = Tab(context, await context.new_page(), "cases")
    await tab.page.goto("/cases")
    return tab


async def search(tab: Tab, path: str) -> list[str]:
    """Ask the form's search and wait until the page shows the answer to ``path``; the case numbers listed."""
    await tab.page.locator("#cases-search").click()

    async def done() -> bool:
        state = await tab.page.evaluate("() => [window.rvwDebug.phase(), window.rvwDebug.path()]")
        return bool(state == ["shown", path])

    await poll(done, f"the page to show {path}", 15)
    return await listed(tab)


async def listed(tab: Tab) -> list[str]:
    rows = tab.page.locator("#cases-rows tr")
    return list(await rows.evaluate_all("(rows) => rows.map((r) => r.dataset.case)"))


async def cells(tab: Tab, case_id: str) -> dict[str, str]:
    row = tab.page.locator(f'#cases-rows tr[data-case="{case_id}"]')
    found = await row.locator("[data-col]").evaluate_all(
        "(cells) => cells.map((c) => [c.dataset.col, c.textContent.trim()])"
    )
    return dict(found)


async def test_a_province_supervisor_searches_pages_and_opens_cases(live_server: Server) -> None:
    server = live_server
    boss_id = await server.add_user("boss_sh", "supervisor", SHANGHAI, [])
    await server.add_user("audit", "auditor", "delta", [])
    ids = await make_cases(server)
    auditor = await server.login("audit")  # the test's own reads: the supervisor's rows in the log are the page's
    status, everything = await server.get_json("/api/cases?limit=1000", auditor)
    assert status == 200, everything
    records = {c["case_id"]: c for c in everything["cases"]}
    assert set(ids.values()) <= set(records)
    in_order = [c["case_id"] for c in everything["cases"]]
    shanghai = [i for i in in_order if records[i]["target_region"] == SHANGHAI]
    assert sorted(shanghai) == sorted(ids[n] for n in ("gone", "fixed", "sent", "stuck"))
    _, matters = await server.get_json("/api/matters")
    matter_zh = next(m["name"]["zh"] for m in matters if m["code"] == MATTER)
    first = min(china_time(r["requested_at"])[:10] for r in records.values())
    last = max(china_time(r["requested_at"])[:10] for r in records.values())

    tabs: list[Tab] = []
    today = {china_today()}
    async with chromium() as browser:
        try:
            tab = await cases_tab(browser, server.base_url)
            tabs.append(tab)
            page = tab.page
            await page.locator("#login-panel").wait_for(state="visible")
            assert await page.locator("#cases").is_hidden()
            await log_in(tab, "boss_sh")
            await page.locator("#cases[data-phase=shown]").wait_for()
            today.add(china_today())  # midnight may have passed meanwhile
            assert await page.locator("#cases-from").input_value() in today
            assert await page.locator("#cases-to").input_value() in today
            assert await page.locator("h1:visible").all_inner_texts() == ["办件查询"]
            assert await page.locator("#link-wall").is_visible()
            assert await page.locator("#link-reports").get_attribute("href") == "/reports"
            # A province's supervisor is offered their province; the others are greyed out.
            disabled = await page.locator("#cases-region option").evaluate_all(
                "(options) => options.filter((o) => o.disabled).map((o) => o.value)"
            )
            assert disabled == ["320000", "330000", "340000"]

            # Every case of the period, whatever the province asked: only Shanghai's are listed, in the API's order.
            await page.locator("#cases-from").fill(first)
            await page.locator("#cases-to").fill(last)
            assert await search(tab, list_path(first, last)) == shanghai
            assert await page.locator("#cases-count").inner_text() == "共 4 件"
            assert await page.locator("#cases-more").is_hidden()
            assert await page.locator("#cases-status").inner_text() == f"{first} 至 {last}（北京时间）"

            # Each row in words and China time.
            fixed = await cells(tab, ids["fixed"])
            assert fixed["case"] == ids["fixed"]
            assert fixed["requested"] == china_time(records[ids["fixed"]]["requested_at"])
            assert fixed["matter"] == matter_zh
            assert fixed["region"] == "上海"
            assert fixed["clerk"] == "uclerk_a"
            assert fixed["outcome"] == "已办结"
            assert fixed["waited"].endswith(" 秒") and fixed["waited"][:-2].isdigit(), fixed
            assert fixed["rating"] == "非常满意（5/5）"
            sent = await cells(tab, ids["sent"])
            assert (sent["outcome"], sent["rating"]) == ("已转办", "不满意（2/5）跟进中")
            gone = await cells(tab, ids["gone"])
            assert (gone["clerk"], gone["outcome"], gone["rating"]) == ("未接听", "群众取消排队", "未评价")
            assert gone["waited"].endswith("（未接通）"), gone
            stuck = await cells(tab, ids["stuck"])
            assert (stuck["outcome"], stuck["rating"]) == ("未解决", "未评价")
            link = page.locator(f'#cases-rows tr[data-case="{ids["sent"]}"] a')
            assert await link.get_attribute("href") == f"/cases/{ids['sent']}"

            # Filters: by outcome, by "not rated", by an open follow-up.
            await page.locator("#cases-outcome").select_option("resolved")
            path = list_path(first, last, {"outcome": "resolved"})
            assert await search(tab, path) == [ids["fixed"]]  # Jiangsu's resolved case is not Shanghai's
            assert await page.locator("#cases-count").inner_text() == "共 1 件"
            csv_href = await page.locator("#cases-csv").get_attribute("href")
            assert csv_href == path.replace("&limit=50", "&format=csv")
            async with page.expect_download() as info:
                await page.locator("#cases-csv").click()
            done = await info.value
            body = await asyncio.to_thread(Path(await done.path()).read_bytes)
            assert body.startswith(BOM), body[:20]
            rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
            assert rows[0][0] == "case_id" and [r[0] for r in rows[1:]] == [ids["fixed"]]
            assert done.suggested_filename == "cases.csv"  # the server's name (Content-Disposition)

            await page.locator("#cases-outcome").select_option("")
            await page.locator("#cases-rating").select_option("none")
            unrated = await search(tab, list_path(first, last, {"rating": "none"}))
            assert unrated == [i for i in shanghai if i in (ids["gone"], ids["stuck"])]
            await page.locator("#cases-rating").select_option("")
            await page.locator("#cases-followup").select_option("open")
            assert await search(tab, list_path(first, last, {"followup": "open"})) == [ids["sent"]]
            await page.locator("#cases-followup").select_option("closed")
            assert await search(tab, list_path(first, last, {"followup": "closed"})) == []
            await page.locator("#cases-none").wait_for()
            assert await page.locator("#cases-count").inner_text() == "共 0 件"
            await page.locator("#cases-followup").select_option("")

            # Two a page: "more" brings the rest, then is gone; the first new case takes the focus.
            await page.locator("#cases-limit").fill("2")
            assert await search(tab, list_path(first, last, limit=2)) == shanghai[:2]
            assert await page.locator("#cases-count").inner_text() == "已显示 2 件，还有更多"
            await page.locator("#cases-more").click()
            await page.locator("#cases-more").wait_for(state="hidden")
            assert await listed(tab) == shanghai
            assert await page.locator("#cases-count").inner_text() == "共 4 件"
            focused = await page.evaluate("() => document.activeElement.closest('tr')?.dataset.case")
            assert focused == shanghai[2]
            await page.locator("#cases-limit").fill("0")
            await page.locator("#cases-search").click()
            await page.locator("#cases[data-phase=failed]").wait_for()
            assert await page.locator("#cases-error").inner_text() == "每页条数应为 1 到 1000 的整数。"
            await page.locator("#cases-limit").fill("50")
            assert await search(tab, list_path(first, last)) == shanghai

            # Accessible: no serious axe-core finding on the page as shown.
            await check_accessible(page, "case search")
            await tab.screenshot("cases-search")

            # English: the rows are said again in the other language.
            await page.locator("#lang-switch").click()
            await page.locator("#cases h1", has_text="Case search").wait_for()
            assert (await cells(tab, ids["fixed"]))["outcome"] == "Resolved"
            assert (await cells(tab, ids["gone"]))["region"] == "Shanghai"
            assert await page.locator("#cases-count").inner_text() == "4 cases"
            await check_accessible(page, "case search in English")
            await page.locator("#lang-switch").click()
            await page.locator("#cases h1", has_text="办件查询").wait_for()

            # A row's link opens the case page.
            await link.click()
            await page.wait_for_url(f"**/cases/{ids['sent']}")
            await page.locator("#case[data-phase=shown]").wait_for()
            assert await page.locator('[data-fact="case_id"]').inner_text() == ids["sent"]

            # The box opens a case by its number: trimmed, any case; malformed input is refused in words.
            await page.goto("/cases")
            await page.locator("#cases[data-phase=shown]").wait_for()
            box, error = page.locator("#cases-open-id"), page.locator("#cases-open-error")
            await page.locator("#cases-open-submit").click()
            assert await error.inner_text() == "请输入办件编号。"
            await box.fill("  hello/../x  ")
            await page.locator("#cases-open-submit").click()
            await poll(lambda: error.inner_text(), "the refusal", 5)
            assert await error.inner_text() == (
                "“hello/../x”不是办件编号：办件编号以 RVW 开头，后面是数字和字母，例如 RVW20260101A1B2C3D4E5F6。"
            )
            assert await box.get_attribute("aria-invalid") == "true"
            assert page.url.endswith("/cases")
            await box.fill(f"  {ids['stuck'].lower()} ")
            await error.wait_for(state="hidden")
            await box.press("Enter")
            await page.wait_for_url(f"**/cases/{ids['stuck']}")
            await page.locator("#case[data-phase=shown]").wait_for()
            assert await page.locator('[data-fact="case_id"]').inner_text() == ids["stuck"]
            assert [e for t in tabs for e in t.errors] == []
        finally:
            for t in reversed(tabs):
                await t.close()

    # The page's searches are in the audit log under the supervisor, with the filters as asked; the CSV as an export.
    status, log = await server.get_json(f"/api/audit?action=case_list&user={boss_id}", auditor)
    assert status == 200, log
    asked = [e["target"] for e in log["entries"]]
    assert all(e["ok"] for e in log["entries"])
    assert any("outcome=resolved" in a for a in asked), asked
    assert any("followup=open" in a for a in asked), asked
    assert sum("limit=2" in a for a in asked) == 2, asked  # the first page and "more" (the cursor left out)
    status, log = await server.get_json(f"/api/audit?action=case_export&user={boss_id}", auditor)
    assert status == 200, log
    assert [e["target"].endswith("outcome=resolved&format=csv") for e in log["entries"]] == [True]


async def test_a_clerk_is_refused_in_words(live_server: Server) -> None:
    server = live_server
    await server.add_user("clerk_a", "clerk", SHANGHAI, ["social_insurance"])
    await server.add_user("clerk_b", "clerk", SHANGHAI, ["social_insurance"])
    await server.add_user("boss_sh", "supervisor", SHANGHAI, [])
    async with chromium() as browser:
        tab = await Tab.open(browser, server.base_url, "/cases", "cases-clerk")
        try:
            page = tab.page
            await log_in(tab, "clerk_a")
            error = page.locator("#login-error")
            await error.wait_for(state="visible")
            assert await error.inner_text() == "此账号不能查询办件：仅限值班长和审计人员。"
            assert await page.locator("#cases").is_hidden()

            # The session becomes a clerk's while the page is open (a log-in in another tab of the same browser):
            # the API refuses another clerk's cases (403), and the page says so in words.
            await log_in(tab, "boss_sh")
            await page.locator("#cases[data-phase=shown]").wait_for()
            answer = await page.evaluate(
                """async (password) => (await fetch("/api/auth/login", {method: "POST",
                     credentials: "same-origin", headers: {"Content-Type": "application/json"},
                     body: JSON.stringify({username: "clerk_a", password})})).status""",
                PASSWORD,
            )
            assert answer == 200
            await page.locator("#cases-clerk").fill(" uclerk_b ")
            await page.locator("#cases-search").click()
            await page.locator("#cases[data-phase=failed]").wait_for()
            assert await page.locator("#cases-error").inner_text() == (
                "此账号无权查询这些办件：仅限值班长和审计人员，工作人员只能查询自己办理的办件。"
            )
            assert await page.locator("#cases-clerk").input_value() == "uclerk_b"
            assert await page.locator("#cases-result").is_hidden()
            await tab.screenshot("cases-search-clerk")
            assert tab.errors == []
        finally:
            await tab.close()
