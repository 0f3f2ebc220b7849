"""Tasks made from messages: ``/v1/channels/{id}/messages/{message_id}/tasks``, ``/v1/tasks``."""

from __future__ import annotations

from quart_schema import tag_blueprint, validate_querystring, validate_request, validate_response

from parley.api.blueprints import authenticated_blueprint
from parley.api.deps import claims, services
from parley.api.schemas import Body, ErrorOut, Out, PageQuery, Timestamp
from parley.core.records import Task
from parley.core.times import rfc3339, rfc3339_opt


# -- tasks -----------------------------------------------------------------------------------
class TaskIn(Body):
    title: str
    assignee: str | None = None
    #: ISO 8601; no offset means UTC.
    due: str | None = None


class TaskOut(Out):
    id: str
    channel: str
    message_id: str
    message_seq: int
    title: str
    assignee: str | None = None
    due_at: Timestamp | None = None
    created_by: str
    created_at: Timestamp
    completed_at: Timestamp | None = None
    completed_by: str | None = None

    @classmethod
    def of(cls, t: Task) -> TaskOut:
        return cls(
            id=t.id,
            channel=t.channel_id,
            message_id=t.message_id,
            message_seq=t.message_seq,
            title=t.title,
            assignee=t.assignee,
            due_at=rfc3339_opt(t.due_at),
            created_by=t.created_by,
            created_at=rfc3339(t.created_at),
            completed_at=rfc3339_opt(t.completed_at),
            completed_by=t.completed_by,
        )


class TaskListOut(Out):
    items: list[TaskOut]


bp = authenticated_blueprint("tasks", __name__)
tag_blueprint(bp, ["tasks"])


@bp.post("/channels/<channel_id>/messages/<message_id>/tasks")
@validate_request(TaskIn)
@validate_response(TaskOut, 201)
@validate_response(ErrorOut, 404)
async def create_task(channel_id: str, message_id: str, data: TaskIn) -> tuple[TaskOut, int]:
    """A task linked to the message; the assignee must be a member of the channel."""
    c = claims()
    task = await services().tasks.create_task(
        c.org,
        c.sub,
        channel_id,
        message_id,
        title=data.title,
        assignee=data.assignee,
        due=data.due,
    )
    return TaskOut.of(task), 201


@bp.get("/tasks")
@validate_querystring(PageQuery)
@validate_response(TaskListOut)
async def list_tasks(query_args: PageQuery) -> TaskListOut:
    """Tasks assigned to me or created by me, in channels I am in, newest first."""
    c = claims()
    return TaskListOut(
        items=[
            TaskOut.of(t)
            for t in await services().tasks.tasks(c.org, c.sub, limit=query_args.limit)
        ]
    )


@bp.get("/tasks/<task_id>")
@validate_response(TaskOut)
@validate_response(ErrorOut, 404)
async def get_task(task_id: str) -> TaskOut:
    """One task I can see (assigned to me or created by me, in a channel I am in)."""
    c = claims()
    return TaskOut.of(await services().tasks.task(c.org, c.sub, task_id))


@bp.post("/tasks/<task_id>/complete")
@validate_response(TaskOut)
@validate_response(ErrorOut, 403)
async def complete_task(task_id: str) -> TaskOut:
    """The assignee, the creator or a channel owner/admin completes (again: unchanged)."""
    c = claims()
    return TaskOut.of(await services().tasks.complete_task(c.org, c.sub, task_id))
