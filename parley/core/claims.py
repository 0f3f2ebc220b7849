"""What a verified token says about its bearer (the broker verifies; everyone reads)."""

from __future__ import annotations

from dataclasses import dataclass

#: The role that marks a backend service's token (publish service events, manage streams).
SERVICE_ROLE = "service"
#: The role of an org's administrators (manage notification rules, send urgent
#: notifications: docs/notifications.md).
ORG_ADMIN_ROLE = "admin"
#: Longest ``sub`` claim (characters).
MAX_SUB_LENGTH = 256
#: Most patterns one token's ``topics`` claim may grant.
MAX_TOKEN_TOPICS = 100
#: Longest ``email`` claim kept (RFC 5321's path limit).
MAX_EMAIL_LENGTH = 254


@dataclass(frozen=True, slots=True)
class Claims:
    sub: str
    org: str
    exp: float
    roles: tuple[str, ...] = ()
    #: Topic patterns the token grants its bearer to read (claim ``topics``), beyond what
    #: the namespaces give their roles: a backend's fine-grained grant (docs/protocol.md).
    topics: tuple[str, ...] = ()
    #: The ``email`` claim, when the token has a plausible one (notification emails use it
    #: when the user set no address: docs/notifications.md).
    email: str | None = None

    @property
    def is_service(self) -> bool:
        return SERVICE_ROLE in self.roles

    @property
    def is_org_admin(self) -> bool:
        return ORG_ADMIN_ROLE in self.roles
