"""Bots that answer (docs/automation.md): ``/v1/bots/{user_id}``. Service tokens register
and remove them; anyone in the org may ask whether a user is a bot."""

from __future__ import annotations

from quart_schema import tag_blueprint, validate_querystring, validate_request, validate_response

from parley.api.blueprints import authenticated_blueprint
from parley.api.deps import claims, services
from parley.api.schemas import Body, ErrorOut, Out, Timestamp
from parley.api.webhooks import DeliveryListOut, DeliveryOut, DeliveryQuery
from parley.core.times import rfc3339
from parley.domain.bots import Bot


class BotIn(Body):
    #: Where Parley POSTs the messages that trigger it (signed like webhooks).
    webhook_url: str
    #: ``on_mention``, ``on_dm`` (mentions and every message in a DM with it) or ``off``.
    auto_respond: str
    #: The HMAC key; 16 to 200 characters. Absent: Parley makes one (returned here).
    secret: str | None = None


class BotOut(Out):
    """What anyone of the org sees."""

    user_id: str
    bot: bool = True
    auto_respond: str


class BotAdminOut(BotOut):
    """What a service token sees."""

    webhook_url: str
    created_by: str
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, b: Bot) -> BotAdminOut:
        return cls(
            user_id=b.user_id,
            auto_respond=b.auto_respond,
            webhook_url=b.webhook_url,
            created_by=b.created_by,
            created_at=rfc3339(b.created_at),
            updated_at=rfc3339(b.updated_at),
        )


class BotSetOut(BotAdminOut):
    secret: str


class BotListOut(Out):
    items: list[BotAdminOut]


bp = authenticated_blueprint("bots", __name__)
tag_blueprint(bp, ["bots"])


@bp.put("/bots/<user_id>")
@validate_request(BotIn)
@validate_response(BotSetOut, 200)
@validate_response(BotSetOut, 201)
@validate_response(ErrorOut, 400)
@validate_response(ErrorOut, 403)
async def set_bot(user_id: str, data: BotIn) -> tuple[BotSetOut, int]:
    """Make the user a bot, or change it (201 when new)."""
    bot, new = await services().bots.register(
        claims(),
        user_id,
        webhook_url=data.webhook_url,
        auto_respond=data.auto_respond,
        secret=data.secret,
    )
    return BotSetOut(**BotAdminOut.of(bot).model_dump(), secret=bot.secret), 201 if new else 200


@bp.get("/bots")
@validate_response(BotListOut)
@validate_response(ErrorOut, 403)
async def list_bots() -> BotListOut:
    """The org's bots (service tokens)."""
    return BotListOut(items=[BotAdminOut.of(b) for b in await services().bots.bots(claims())])


@bp.get("/bots/<user_id>")
@validate_response(BotOut)
@validate_response(ErrorOut, 404)
async def get_bot(user_id: str) -> BotOut:
    """Whether the user is a bot, and when it answers (404: not a bot)."""
    c = claims()
    bot = await services().bots.get(c, user_id)
    if c.is_service:
        return BotAdminOut.of(bot)
    return BotOut(user_id=bot.user_id, auto_respond=bot.auto_respond)


@bp.delete("/bots/<user_id>")
@validate_response(ErrorOut, 404)
async def delete_bot(user_id: str) -> tuple[str, int]:
    await services().bots.delete(claims(), user_id)
    return "", 204


@bp.get("/bots/<user_id>/deliveries")
@validate_querystring(DeliveryQuery)
@validate_response(DeliveryListOut)
@validate_response(ErrorOut, 404)
async def list_bot_deliveries(user_id: str, query_args: DeliveryQuery) -> DeliveryListOut:
    """What was sent to the bot, newest first (service tokens)."""
    items = await services().bots.deliveries(
        claims(), user_id, before=query_args.before, limit=query_args.limit
    )
    return DeliveryListOut(items=[DeliveryOut.of(d) for d in items])
