"""What a verified token says about its bearer (the broker verifies; everyone reads)."""

from __future__ import annotations

from dataclasses import dataclass

#: The role that marks a backend service's token (publish service events, manage streams).
SERVICE_ROLE = "service"
#: Longest ``sub`` claim (characters).
MAX_SUB_LENGTH = 256
#: Most patterns one token's ``topics`` claim may grant.
MAX_TOKEN_TOPICS = 100


@dataclass(frozen=True, slots=True)
class Claims:
    sub: str
    org: str
    exp: float
    roles: tuple[str, ...] = ()
    #: Topic patterns the token grants its bearer to read (claim ``topics``), beyond what
    #: the namespaces give their roles: a backend's fine-grained grant (docs/protocol.md).
    topics: tuple[str, ...] = ()

    @property
    def is_service(self) -> bool:
        return SERVICE_ROLE in self.roles
