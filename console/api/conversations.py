"""Conversations: list, detail, and every action an agent takes on one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Header, Query, Request, UploadFile
from fastapi.responses import FileResponse, Response

from helpline.console import actions, assigning, bulk, collision, files, split
from helpline.console.auth import current_user, staff
from helpline.console.errors import Forbidden
from helpline.console.queries import SORTS, VIEWS, Filters, default_sort, list_page, view_counts
from helpline.console.roles import Principal, can_assign
from helpline.console.schemas import (
    ActionOut,
    AssignIn,
    BulkIn,
    BulkOut,
    CountIn,
    CountOut,
    Detail,
    FileRef,
    LabelsIn,
    NoteIn,
    Page,
    ReasonIn,
    ReplyIn,
    ReplyOut,
    SnoozeIn,
    SplitIn,
    SplitOut,
    TeamIn,
    WatchersOut,
    WatchingIn,
)
from helpline.console.services import Services, services
from helpline.console.timeline import detail, text_rules

router = APIRouter(prefix="/conversations", tags=["conversations"])

Svc = Annotated[Services, Depends(services)]
Staff = Annotated[Principal, Depends(staff)]
Anyone = Annotated[Principal, Depends(current_user)]


@router.get("", response_model=Page)
async def list_conversations(
    svc: Svc,
    who: Anyone,
    view: Annotated[str, Query(pattern="^(" + "|".join(VIEWS) + ")$")] = "all",
    status: Annotated[str | None, Query(pattern="^(open|pending|resolved)$")] = None,
    platform: str | None = None,
    team: str | None = None,
    assignee: str | None = None,
    priority: Annotated[str | None, Query(pattern="^(low|normal|high|urgent)$")] = None,
    language: str | None = None,
    label: str | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    counts: bool = False,
    sort: Annotated[str | None, Query(pattern="^(" + "|".join(SORTS) + ")$")] = None,
) -> Page:
    """Conversations the caller may see; `next_cursor` continues. `sort`: `activity` (latest
    first), `waiting` (longest wait first) or `priority` (urgent first, then the SLA due first);
    by default Unassigned and My teams sort by priority, the other views by activity. `counts`:
    how many each view lists with the same filters (not `q`), over the latest 1,000 conversations."""
    filters = Filters(
        view=view,
        status=status,
        platform=platform,
        team=team,
        assignee=assignee,
        priority=priority,
        language=language,
        label=label,
        q=q or None,
        sort=sort or default_sort(view),
    )
    page = await list_page(svc, who, filters, limit, cursor)
    if counts:
        page.counts = await view_counts(svc, who, filters)
    return page


@router.post("/bulk", response_model=BulkOut)
async def bulk_action(body: BulkIn, svc: Svc, who: Staff) -> BulkOut:
    """Assign (to the caller or `agent_id`), resolve or label up to 100 conversations, each with
    the checks of the single action; a conversation that refuses is reported with its status and
    error, the others go on."""
    return BulkOut(results=await bulk.run(svc, who, body.ids, body.action, body.label, body.agent_id))


@router.get("/{conversation_id}", response_model=Detail)
async def get_conversation(conversation_id: str, svc: Svc, who: Anyone) -> Detail:
    """Full history across the person's channels: messages, replies with delivery, notes, events."""
    return await detail(svc, who, await actions.load(svc, who, conversation_id))


@router.get("/{conversation_id}/attachments/{file_id}", response_class=FileResponse)
async def attachment(conversation_id: str, file_id: str, request: Request, svc: Svc, who: Anyone) -> Response:
    """A file of this conversation (a customer's photo, document, voice note, video or e-mail
    attachment, an image an agent attached). PNG, JPEG, GIF and WebP images are served inline
    (thumbnails), Ogg and MP3 audio and MP4 video with their type (the players); anything else is
    a download of opaque bytes, never shown inline: a customer's HTML or SVG must not run in the
    console's origin. A `Range: bytes=...` request gets that part (206; 416 outside the file). With
    an S3 file store that gives presigned links, a document is a 303 to a link valid for seconds;
    a store that cannot be reached is a 503 with a Retry-After."""
    conv = await actions.load(svc, who, conversation_id)
    found, store = await files.find(svc, conv, file_id)
    return await files.response(found, store, request.headers.get("range"))


@router.post("/{conversation_id}/files", response_model=FileRef)
async def upload_file(
    conversation_id: str, svc: Svc, who: Staff, file: Annotated[UploadFile, File(description="an image for a reply")]
) -> FileRef:
    """Store an image for a reply (name it in the reply's `attachments`), where the conversation's
    platform takes images (its capabilities' `reply_files`); 422 otherwise. Idempotent."""
    conv = await actions.load(svc, who, conversation_id, act=True)
    data = await file.read(files.MAX_UPLOAD_BYTES + 1)
    kept = await files.upload(svc, conv, data, file.filename or "image", file.content_type or "")
    return FileRef(
        id=kept.platform_file_id, name=kept.file_name or "", mime_type=kept.mime_type or "", size=kept.size_bytes or 0
    )


@router.post("/{conversation_id}/count", response_model=CountOut)
async def count(conversation_id: str, body: CountIn, svc: Svc, who: Anyone) -> CountOut:
    """Measure a draft reply as the conversation's platform counts it (X weighs links 23 and CJK
    2, Telegram counts UTF-16 units, Mastodon uses its instance's limit): the composer's counter.
    Pure; changes nothing."""
    rules = text_rules(svc, await actions.load(svc, who, conversation_id))
    text = body.text.strip()
    try:
        parts = len(rules.parts(text)) if text else 0
    except ValueError:  # no split fits (a token longer than a post): the reply would be refused
        parts = 0
    return CountOut(length=rules.count(text), limit=rules.limit, parts=parts, counting=rules.counting)


async def _out(svc: Services, conversation_id: str, changed: bool = True) -> ActionOut:
    conv = await svc.store.get(conversation_id)
    assert conv is not None
    return ActionOut(conversation=conv, changed=changed)


@router.post("/{conversation_id}/read", response_model=ActionOut)
async def mark_read(conversation_id: str, svc: Svc, who: Anyone) -> ActionOut:
    conv = await actions.load(svc, who, conversation_id)
    await actions.mark_seen(svc, who, conv)
    return ActionOut(conversation=conv, changed=False)


@router.post("/{conversation_id}/reply", response_model=ReplyOut)
async def reply(
    conversation_id: str,
    body: ReplyIn,
    svc: Svc,
    who: Staff,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> ReplyOut:
    """Queue a reply in the conversation's thread, with the thread's own visibility.

    Idempotent with an `Idempotency-Key` header: repeating the request returns the first reply."""
    conv = await actions.load(svc, who, conversation_id, act=True)
    return await actions.reply(
        svc,
        who,
        conv,
        body.text,
        idempotency_key,
        body.opened_at,
        body.confirm,
        body.attachments,
        canned_id=body.canned_id,
    )


@router.post("/{conversation_id}/watching", response_model=WatchersOut)
async def watching(conversation_id: str, body: WatchingIn, svc: Svc, who: Anyone) -> WatchersOut:
    """The caller has the conversation open (and is typing, if `typing`): for 30 s (typing 6 s),
    announced live to the others who see it (`event: watchers`). Returns who is there now."""
    conv = await actions.load(svc, who, conversation_id)
    await collision.mark(svc.client, conv.id, who, body.typing)
    if body.typing and body.replying:
        await collision.show_customer_typing(svc.connectors, conv)
    return WatchersOut.model_validate((await collision.watchers(svc.client, conv.id)).as_json(conv.id))


@router.delete("/{conversation_id}/watching", status_code=204)
async def stop_watching(conversation_id: str, svc: Svc, who: Anyone) -> None:
    """The caller closed the conversation. Idempotent."""
    conv = await actions.load(svc, who, conversation_id)
    await collision.leave(svc.client, conv.id, who)


@router.post("/{conversation_id}/notes", response_model=ActionOut)
async def add_note(conversation_id: str, body: NoteIn, svc: Svc, who: Staff) -> ActionOut:
    await actions.note(svc, who, await actions.load(svc, who, conversation_id, act=True), body.text)
    return await _out(svc, conversation_id)


@router.post("/{conversation_id}/assign", response_model=ActionOut)
async def assign(conversation_id: str, body: AssignIn, svc: Svc, who: Staff) -> ActionOut:
    """Assign or transfer to an agent (default: the caller). Agents may take unassigned
    conversations and hand on their own; supervisors and admins reassign any."""
    conv = await actions.load(svc, who, conversation_id, act=True)
    if not can_assign(who, conv):
        raise Forbidden(f"assigned to {conv.assignee}; only a supervisor may reassign it")
    changed = await assigning.assign(svc, who, conv, body.agent_id, body.reason)
    return await _out(svc, conversation_id, changed)


@router.post("/{conversation_id}/team", response_model=ActionOut)
async def transfer_team(conversation_id: str, body: TeamIn, svc: Svc, who: Staff) -> ActionOut:
    conv = await actions.load(svc, who, conversation_id, act=True)
    if not can_assign(who, conv):
        raise Forbidden(f"assigned to {conv.assignee}; only a supervisor may transfer it")
    await assigning.transfer_to_team(svc, who, conv, body.team, body.reason)
    return await _out(svc, conversation_id)


@router.post("/{conversation_id}/escalate", response_model=ActionOut)
async def escalate(conversation_id: str, body: ReasonIn, svc: Svc, who: Staff) -> ActionOut:
    await actions.escalate(svc, who, await actions.load(svc, who, conversation_id, act=True), body.reason)
    return await _out(svc, conversation_id)


@router.post("/{conversation_id}/labels", response_model=ActionOut)
async def labels(conversation_id: str, body: LabelsIn, svc: Svc, who: Staff) -> ActionOut:
    conv = await actions.load(svc, who, conversation_id, act=True)
    changed = await actions.change_labels(svc, who, conv, body.add, body.remove, body.reason)
    return await _out(svc, conversation_id, changed)


@router.post("/{conversation_id}/pending", response_model=ActionOut)
async def pending(conversation_id: str, body: ReasonIn, svc: Svc, who: Staff) -> ActionOut:
    await actions.set_pending(svc, who, await actions.load(svc, who, conversation_id, act=True), body.reason)
    return await _out(svc, conversation_id)


@router.post("/{conversation_id}/snooze", response_model=ActionOut)
async def snooze(conversation_id: str, body: SnoozeIn, svc: Svc, who: Staff) -> ActionOut:
    """Pending until `until`, then open again (a customer message reopens it sooner)."""
    conv = await actions.load(svc, who, conversation_id, act=True)
    await actions.set_pending(svc, who, conv, body.reason, until=body.until)
    return await _out(svc, conversation_id)


@router.post("/{conversation_id}/resolve", response_model=ActionOut)
async def resolve(conversation_id: str, body: ReasonIn, svc: Svc, who: Staff) -> ActionOut:
    conv = await actions.load(svc, who, conversation_id, act=True)
    return await _out(svc, conversation_id, await assigning.resolve(svc, who, conv, body.reason))


@router.post("/{conversation_id}/split", response_model=SplitOut)
async def split_off(conversation_id: str, body: SplitIn, svc: Svc, who: Staff) -> SplitOut:
    """Split these customer messages off into a new conversation (a new topic in an old e-mail
    thread); later mail answering them threads there. 409 where the platform's threads cannot
    be split; 422 for messages that are not this conversation's, were split off already, or are
    all of it. A split cut short (the process died) is completed by repeating it: its copies are
    ingested once, its event written once."""
    conv = await actions.load(svc, who, conversation_id, act=True)
    thread_key, new_id = await split.split(svc, who, conv, body.message_ids)
    return SplitOut(thread_key=thread_key, conversation_id=new_id)


@router.post("/{conversation_id}/reopen", response_model=ActionOut)
async def reopen(conversation_id: str, body: ReasonIn, svc: Svc, who: Staff) -> ActionOut:
    conv = await actions.load(svc, who, conversation_id, act=True)
    return await _out(svc, conversation_id, await assigning.reopen(svc, who, conv, body.reason))
