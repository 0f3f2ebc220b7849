"""User profiles: display name and avatar."""

from __future__ import annotations

from parley.core.records import Profile
from parley.domain import rules
from parley.store import Store, sql

#: Most users one :meth:`ProfileService.get_profiles` reads.
MAX_BATCH = 1000


class ProfileService:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def get_profile(self, org: str, user_id: str) -> Profile:
        """A user's profile; one never set reads as all-null (users are not registered)."""
        rules.check_user_id(user_id)
        profile = await self.store.read(sql.profiles.get_profile, org, user_id)
        return profile if profile is not None else Profile(org=org, user_id=user_id)

    async def get_profiles(self, org: str, user_ids: list[str]) -> list[Profile]:
        """Profiles of many users in one read, in the order asked (GraphQL's batching)."""
        if len(user_ids) > MAX_BATCH:
            raise rules.bad(f"at most {MAX_BATCH} users at once")
        for u in user_ids:
            rules.check_user_id(u)
        found = await self.store.read(sql.profiles.get_profiles, org, list(dict.fromkeys(user_ids)))
        return [found.get(u) or Profile(org=org, user_id=u) for u in user_ids]

    async def set_profile(
        self, org: str, user_id: str, *, display_name: str | None, avatar_url: str | None
    ) -> Profile:
        return await self.store.write(
            sql.profiles.set_profile,
            org,
            user_id,
            display_name=rules.check_display_name(display_name),
            avatar_url=rules.check_avatar_url(avatar_url),
        )
