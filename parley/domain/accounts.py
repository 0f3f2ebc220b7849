"""Accounts: export my data, delete my account (or, with a service token, a user's of the
org), and refuse a deleted account's tokens from then on (docs/privacy.md).

A deletion is recorded first, so every token of the account is refused (REST and broker,
through :meth:`AccountService.refuse`) and its open connections are closed (through the
:class:`SessionControl` port) before anything is erased; then it is erased in
bounded steps (:func:`parley.store.sql.accounts.erase_step`), and its uploads' bytes are
removed from the blob store after each step commits. :meth:`AccountService.run` finishes a
deletion a crash interrupted, and reloads the deleted accounts other nodes recorded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import trio

from parley.core.claims import Claims
from parley.core.codes import CloseCode
from parley.core.errors import AuthError
from parley.core.ports import SessionControl, TokenCheck
from parley.core.times import rfc3339, utc_now
from parley.domain import access, rules
from parley.store import Store, sql
from parley.store.blobs import BlobStore

log = logging.getLogger("parley.accounts")

ACCOUNT_DELETED = "account deleted"


@dataclass(frozen=True, slots=True)
class AccountsConfig:
    #: Messages (or reactions, memberships) erased per write step of a deletion.
    erase_batch: int = 200
    #: How often the background task reloads deleted accounts and finishes interrupted
    #: deletions, in seconds (``PARLEY_ACCOUNTS_REFRESH_SECONDS``).
    refresh_seconds: float = 30.0


class AccountService:
    def __init__(
        self,
        store: Store,
        blobs: BlobStore,
        config: AccountsConfig | None = None,
        *,
        sessions: SessionControl | None = None,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.config = config or AccountsConfig()
        #: Closes a deleted account's open connections on this node (the broker's hub).
        self.sessions = sessions
        #: (org, user id) of deleted accounts, as this node knows them (see :meth:`load`).
        self._deleted: set[tuple[str, str]] = set()

    # -- tokens ----------------------------------------------------------------------------

    def refuse(self, claims: Claims) -> None:
        """Raise :class:`AuthError` for a deleted account's token (synchronous: the broker
        and the REST layer call it right after verifying a token)."""
        if (claims.org, claims.sub) in self._deleted:
            raise AuthError(ACCOUNT_DELETED)

    def guard(self, verify: TokenCheck) -> TokenCheck:
        """``verify``, refusing deleted accounts."""

        def check(token: str) -> Claims:
            claims = verify(token)
            self.refuse(claims)
            return claims

        return check

    async def load(self) -> None:
        """Reload the deleted accounts from the store (at startup, then periodically), and
        close this node's connections of accounts deleted on another node since."""
        loaded = await self.store.read(sql.accounts.deleted_accounts)
        new = loaded - self._deleted
        self._deleted |= loaded
        for org, user_id in sorted(new):
            self._disconnect(org, user_id)

    def _disconnect(self, org: str, user_id: str) -> None:
        if self.sessions is not None:
            n = self.sessions.disconnect_user(
                org, user_id, CloseCode.POLICY_VIOLATION, ACCOUNT_DELETED
            )
            if n:
                log.info("accounts: closed %d connection(s) of a deleted account", n)

    # -- export and deletion ---------------------------------------------------------------

    def _authorize(self, caller: Claims, user_id: str) -> str:
        user_id = rules.check_user_id(user_id)
        if user_id != caller.sub and not caller.is_service:
            raise access.forbidden("only the user themselves or a service token may do this")
        return user_id

    async def export(self, caller: Claims, user_id: str) -> dict[str, Any]:
        """The JSON archive of the user's data (docs/privacy.md)."""
        user_id = self._authorize(caller, user_id)
        archive = await self.store.read(sql.accounts.export, caller.org, user_id)
        return {"format": "parley-export/1", "exported_at": rfc3339(utc_now()), **archive}

    async def delete(self, caller: Claims, user_id: str) -> dict[str, int]:
        """Delete the account: refuse its tokens, then erase it; return what was erased.
        Deleting a deleted account again finishes what is left (a no-op when complete)."""
        user_id = self._authorize(caller, user_id)
        org = caller.org
        await self.store.write(sql.accounts.mark_deleted, org, user_id, actor=caller.sub)
        self._deleted.add((org, user_id))
        self._disconnect(org, user_id)  # recorded: its connections go now, not at expiry
        return await self._erase(org, user_id, caller.sub)

    async def _erase(self, org: str, user_id: str, actor: str) -> dict[str, int]:
        totals: dict[str, int] = {}
        while True:
            done, counts, keys = await self.store.write(
                sql.accounts.erase_step, org, user_id, actor=actor, limit=self.config.erase_batch
            )
            for what, n in counts.items():
                totals[what] = totals.get(what, 0) + n
            with trio.CancelScope(shield=True):
                for key in keys:  # after the commit: the rows no longer point at them
                    await self.blobs.delete(key)
            if done:
                break
        await self.store.write(sql.accounts.finish, org, user_id)
        return totals

    async def resume(self) -> None:
        """Finish deletions that were interrupted (a crash between steps)."""
        for org, user_id, actor in await self.store.read(sql.accounts.unfinished):
            if (org, user_id) not in self._deleted:
                self._deleted.add((org, user_id))
                self._disconnect(org, user_id)
            await self._erase(org, user_id, actor)

    async def run(self) -> None:
        """The background task (started by the composition root): every
        ``refresh_seconds``, reload deleted accounts and finish interrupted deletions."""
        while True:
            try:
                await self.load()
                await self.resume()
            except Exception:  # the next round retries; never take the server down
                log.exception("accounts: refresh failed")
            await trio.sleep(self.config.refresh_seconds)
