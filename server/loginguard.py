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
once, on threads (one fewer than the cores leaves one for the event loop), and
past ``login_queue`` waiting, a try is answered "busy" at once.
"""

from __future__ import annotations

import asyncio
import os

from server.auth import verify_password
from server.config import Settings
from server.limits import Limiter


class LoginGuard:
    def __init__(self, settings: Settings, limiter: Limiter) -> None:
        self.settings = settings
        self.limiter = limiter
        self.concurrency = settings.login_concurrency or max(1, (os.cpu_count() or 2) - 1)
        self._checks = asyncio.Semaphore(self.concurrency)
        self.waiting = 0
        self.running = 0
        self.most_running = 0  # the most checks seen at once (reported in tests and /readyz)

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

    async def verify(self, password_hash: str | None, password: str) -> bool | None:
        """Check a password, at most ``concurrency`` at once; None (not checked) when too many
        tries already wait for a check: the caller answers "busy" at once."""
        if self.waiting >= self.settings.login_queue:
            return None
        self.waiting += 1
        entered = False
        try:
            async with self._checks:
                entered = True
                self.waiting -= 1
                self.running += 1
                self.most_running = max(self.most_running, self.running)
                try:
                    return await verify_password(password_hash, password)
                finally:
                    self.running -= 1
        finally:
            if not entered:
                self.waiting -= 1  # cancelled while waiting for a check
