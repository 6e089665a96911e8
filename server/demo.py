"""Demo data for `rvw serve --demo`: one clerk per province, a supervisor, an auditor and a kiosk."""

from __future__ import annotations

from recordings.store import Directory

from .auth import hash_password, kiosk_token_hash, new_id
from .catalog import DELTA, Catalog

DEMO_PASSWORD = "rvw-demo-2026"
DEMO_KIOSK_TOKEN = "k_demo_suzhou_320500"

DEMO_CLERKS = [
    ("clerk_sh", "王敏（上海）", "310000"),
    ("clerk_js", "李强（江苏）", "320000"),
    ("clerk_zj", "陈静（浙江）", "330000"),
    ("clerk_ah", "张伟（安徽）", "340000"),
]


async def seed(directory: Directory, catalog: Catalog, now: float) -> list[tuple[str, str, str]]:
    """Create or reset the demo accounts; return (username, role, region) for each."""
    skills = sorted({m.skill for m in catalog.matters.values()})
    password_hash = hash_password(DEMO_PASSWORD)
    accounts = [(u, "clerk", name, region, skills) for u, name, region in DEMO_CLERKS]
    accounts += [
        ("supervisor", "supervisor", "值班长 赵琳", DELTA, []),  # the whole delta
        ("supervisor_js", "supervisor", "江苏值班长 孙雷", "320000", []),  # Jiangsu only
        ("auditor", "auditor", "审计员 周平", DELTA, []),
    ]
    for username, role, name, region, sk in accounts:
        await directory.add_user(
            user_id=new_id(),
            username=username,
            password_hash=password_hash,
            role=role,
            display_name=name,
            region=region,
            skills=sk,
            at=now,
            replace=True,
        )
    await directory.add_kiosk(
        kiosk_id="demo-kiosk-320500",
        name="苏州市民中心 1 号自助终端",
        region="320500",
        token_hash=kiosk_token_hash(DEMO_KIOSK_TOKEN),
        at=now,
    )
    return [(a[0], a[1], a[3]) for a in accounts]


def banner(base_url: str, accounts: list[tuple[str, str, str]]) -> str:
    lines = [
        "",
        "远程虚拟窗口 demo is running / 演示数据已就绪",
        f"  Kiosk (苏州 kiosk):      {base_url}/kiosk#kiosk_token={DEMO_KIOSK_TOKEN}",
        f"  Kiosk (web, 嘉兴 citizen): {base_url}/kiosk?region=330400",
        f"  Clerk console:          {base_url}/console",
        f"  Supervisor wall:        {base_url}/supervisor",
        f"  Log-ins (password {DEMO_PASSWORD}):",
    ]
    lines += [f"    {u:<12} {role:<10} region {region}" for u, role, region in accounts]
    lines.append("")
    return "\n".join(lines)
