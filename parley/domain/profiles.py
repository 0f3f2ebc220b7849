"""User profiles: display name and avatar."""

from __future__ import annotations

from parley.core.records import Profile
from parley.domain import rules
from parley.store import Store, sql


class ProfileService:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def get_profile(self, org: str, user_id: str) -> Profile:
        """A user's profile; one never set reads as all-null (users are not registered)."""
        rules.check_user_id(user_id)
        profile = await self.store.read(sql.profiles.get_profile, org, user_id)
        return profile if profile is not None else Profile(org=org, user_id=user_id)

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
