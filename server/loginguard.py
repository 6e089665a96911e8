"""The log-in guard: how many tries, from where, and how many password checks at once.

Every try is counted *before* its password is checked (a burst cannot slip in
before its first failure is known), and given back when the password was right:

* per account and address: ``login_failures_per_account`` (10) in the window;
* per address, over all accounts: ``login_failures_per_address`` (30), against
  one guess sprayed over many user names;
* per account, over all addresses: ``login_failures_account_wide`` (100), against
  guessing from many addresses. Past it, only addresses that have already failed
  for the account are refused, so nobody can lock the right password out from an
  address they do not control.

Addresses come from :mod:`server.addresses` (the right one behind trusted
proxies). Argon2 is slow on purpose: at most ``login_concurrency`` checks run at
once, on threads (one fewer than the cores leaves one for the event loop); tries
for accounts that exist are checked before tries for made-up names, and past
``login_queue`` waiting in its lane, a try is answered "busy" at once. (Under such
a flood, how long a try waits tells whether its user name exists; user names of
staff are not secret enough to be worth keeping the clerks out for.)
"""

from __future__ import annotations

import asyncio
import os
from collections import deque

from server.auth import verify_password
from server.config import Settings
from server.limits import Limiter


class CheckSlots:
    """At most ``n`` password checks at once. Tries wait in two lanes, and a freed slot goes to
    the first lane first: tries for accounts that exist, ahead of made-up user names, so a flood
    of bogus log-ins from many addresses does not keep the clerks out (before: a real log-in
    took 9.6 s behind 150 bogus ones)."""

    def __init__(self, n: int) -> None:
        self.free = n
        self.lanes: tuple[deque[asyncio.Future[None]], deque[asyncio.Future[None]]] = (deque(), deque())

    def waiting(self, lane: int | None = None) -> int:
        return sum(len(q) for q in self.lanes) if lane is None else len(self.lanes[lane])

    async def acquire(self, lane: int) -> None:
        if self.free > 0 and not self.waiting():
            self.free -= 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.lanes[lane].append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # handed a slot just as we were cancelled: pass it on
            elif fut in self.lanes[lane]:
                self.lanes[lane].remove(fut)
            raise

    def release(self) -> None:
        for lane in self.lanes:
            while lane:
                fut = lane.popleft()
                if not fut.done():
                    fut.set_result(None)
                    return
        self.free += 1


class LoginGuard:
    def __init__(self, settings: Settings, limiter: Limiter) -> None:
        self.settings = settings
        self.limiter = limiter
        self.concurrency = settings.login_concurrency or max(1, (os.cpu_count() or 2) - 1)
        self.slots = CheckSlots(self.concurrency)
        self.running = 0
        self.most_running = 0  # the most checks seen at once (reported in tests)

    @property
    def waiting(self) -> int:
        return self.slots.waiting()

    def _keys(self, address: str, username: str) -> tuple[str, str, str]:
        return (f"login:pair:{address}:{username}", f"login:addr:{address}", f"login:acct:{username}")

    async def admit(self, address: str, username: str) -> bool:
        """Count this try against every limit; False (nothing counted) if one is reached."""
        s, window = self.settings, self.settings.login_window_s
        pair, addr, acct = self._keys(address, username)
        if await self.limiter.count(acct, window) >= s.login_failures_account_wide and (
            await self.limiter.count(pair, window) >= 1
        ):
            return False
        if not await self.limiter.take(pair, s.login_failures_per_account, window):
            return False
        if not await self.limiter.take(addr, s.login_failures_per_address, window):
            await self.limiter.give_back(pair, window)
            return False
        # Counted, never refused here: it only tells the check above when an account is under attack.
        await self.limiter.take(acct, 2**31, window)
        return True

    async def forgive(self, address: str, username: str) -> None:
        """The password was right: this try was not a failure."""
        window = self.settings.login_window_s
        for key in self._keys(address, username):
            await self.limiter.give_back(key, window)

    async def verify(self, password_hash: str | None, password: str, *, known: bool) -> bool | None:
        """Check a password, at most ``concurrency`` at once, tries for an account that exists
        (``known``) first; None (not checked) when ``login_queue`` tries already wait in the same
        lane: the caller answers "busy" at once."""
        lane = 0 if known else 1
        if self.slots.waiting(lane) >= self.settings.login_queue:
            return None
        await self.slots.acquire(lane)
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            return await verify_password(password_hash, password)
        finally:
            self.running -= 1
            self.slots.release()
