"""What a verified token says about its bearer (the broker verifies; everyone reads)."""

from __future__ import annotations

from dataclasses import dataclass

#: The role that marks a backend service's token (publish service events, manage streams).
SERVICE_ROLE = "service"
#: Longest ``sub`` claim (characters).
MAX_SUB_LENGTH = 256


@dataclass(frozen=True, slots=True)
class Claims:
    sub: str
    org: str
    exp: float
    roles: tuple[str, ...] = ()

    @property
    def is_service(self) -> bool:
        return SERVICE_ROLE in self.roles
