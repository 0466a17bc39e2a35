"""Comments on a draft: by members (internal ones for the team only) and by a review link's
holder (always client-visible). Mentions of members (``@name`` or ``@email``) by a member are
kept and told to the mentioned; a link holder's are plain text (a link, forwarded or leaked,
must not page the team's members one by one, nor find out who they are). Every comment is told
to the draft's watchers (``posting.alerts.watchers``: its writer, the mentioned and the author
become watchers) and reaches webhooks once as ``post.commented``. An internal comment is told
to the team alone."""

from __future__ import annotations

import re

from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _

from accounts.access import lock_member
from accounts.audit import audit_record
from accounts.models import AuditEvent, Membership, User
from posting.alerts.reviews import review_event
from posting.alerts.watchers import watch_add, watchers_to_tell
from posting.approvals import services as approvals
from posting.models import COMMENT_MAX_LENGTH, Alert, Comment, Draft, ReviewLink
from posting.reviewlinks import links
from posting.sending.errors import PostActionError

_MENTION = re.compile(r"(?<![\w@])@([\w.+-]+@[\w-]+(?:\.[\w-]+)+|[\w][\w.-]*)", re.UNICODE)
#: The most mentions one comment notifies.
MAX_MENTIONS = 20


def mentioned_members(body: str, workspace_id: int) -> list[User]:
    """The members of the workspace a body mentions: ``@alice@example.com`` by address,
    ``@Alice`` by the first word of the display name or by the part of the address before the
    ``@`` (case ignored). Unknown names are plain text."""
    words = {w.lower().rstrip(".") for w in _MENTION.findall(body)}
    if not words:
        return []
    found = []
    for membership in Membership.objects.filter(workspace_id=workspace_id).select_related("user"):
        user = membership.user
        names = {user.email.lower(), user.email.split("@")[0].lower()}
        if user.display_name:
            names.add(user.display_name.split()[0].lower())
            names.add(user.display_name.replace(" ", "").lower())
        if names & words:
            found.append(user)
    return found[:MAX_MENTIONS]


def _clean_body(body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise PostActionError(_("Write a comment first."))
    if len(body) > COMMENT_MAX_LENGTH:
        raise PostActionError(
            _("A comment has at most %(limit)d characters; this one has %(length)d.")
            % {"limit": COMMENT_MAX_LENGTH, "length": len(body)}
        )
    if "\x00" in body:
        raise PostActionError(_("A comment cannot contain that character."))
    return body


def comment_add(
    *,
    draft: Draft,
    body: str,
    internal: bool = False,
    by_user: User | None = None,
    by_link: ReviewLink | None = None,
    request: HttpRequest | None = None,
) -> Comment:
    """Add a comment by a member (``by_user``, any role; internal only for owners and editors)
    or a link holder (``by_link``: a usable link covering ``draft``, never internal). Decided on
    locked rows."""
    if (by_user is None) == (by_link is None):
        raise ValueError("exactly one of by_user and by_link")
    body = _clean_body(body)
    with transaction.atomic():
        # One lock order everywhere (as ``approvals.decide``): the member's row (a link's
        # sender's), then the draft's, then the link's.
        if by_user is not None:
            membership = lock_member(workspace=draft.workspace, actor=by_user)
            # Internal comments are the team's (owners and editors): a viewer is the client's
            # side (a client reviewer, or someone shown the work), who writes for everyone.
            internal = internal and membership.can_write
        else:
            sender_on_team = approvals.lock_link_sender(by_link)
            internal = False
        locked = Draft.objects.select_for_update().filter(pk=draft.pk, sent_at__isnull=True).first()
        if locked is None:
            raise PostActionError(_("This post was sent or deleted meanwhile."))
        if by_link is not None:
            link = by_link.locked()
            if link is None or not link.is_usable() or not link.covers(draft):
                raise PostActionError(_("This review link can no longer be used."))
            if not sender_on_team:
                raise PostActionError(approvals.SENDER_GONE)
            if links.draft_status(locked) == links.Status.FINISHED:
                raise PostActionError(
                    _("The review of this post is finished: there is nothing more to comment on.")
                )
        comment = Comment.objects.create(
            draft=draft,
            author=by_user,
            author_address=by_link.address if by_link else "",
            link=by_link,
            body=body,
            internal=internal,
        )
        mentions = mentioned_members(body, draft.workspace_id) if by_user is not None else []
        if internal:
            mentions = _writers(mentions, draft.workspace_id)
        if mentions:
            comment.mentions.set(mentions)
        audit_record(
            workspace=draft.workspace,
            actor=by_user,
            action=AuditEvent.Action.COMMENT_ADDED,
            target=by_link.address if by_link else str(draft.code),
            details={
                "draft": str(draft.code),
                "internal": internal,
                "mentions": [u.email for u in mentions],
                **({"address": by_link.address} if by_link else {}),
            },
            request=request,
        )
        _notify(draft, comment, mentions)
    return comment


def _notify(draft: Draft, comment: Comment, mentions: list[User]) -> None:
    """The draft's watchers and each member mentioned (even one who stopped watching: they
    were addressed), once each and never the comment's own writer, through the review alerts
    (in the app, by email per their preference) and once to the workspace's webhooks as
    ``post.commented``; queued when the transaction commits. An internal comment reaches the
    team alone: a viewer mentioned in one is neither told nor made a watcher."""
    mentioned = [user.pk for user in mentions]
    if comment.internal and mentioned:
        mentioned = list(
            Membership.objects.filter(
                workspace_id=draft.workspace_id,
                user_id__in=mentioned,
                role__in=(Membership.Role.OWNER, Membership.Role.EDITOR),
            ).values_list("user_id", flat=True)
        )
    watch_add(draft, [draft.author_id, comment.author_id, *mentioned])
    people = watchers_to_tell(
        draft, Alert.Kind.COMMENTED, actor_id=comment.author_id, team_only=comment.internal
    )
    people += [pk for pk in mentioned if pk != comment.author_id]
    review_event(draft=draft, kind=Alert.Kind.COMMENTED, message=comment.body, recipients=people)


def _writers_ids(user_ids, workspace_id: int) -> set[int]:
    return set(
        Membership.objects.filter(
            workspace_id=workspace_id,
            user_id__in=[pk for pk in user_ids if pk is not None],
            role__in=(Membership.Role.OWNER, Membership.Role.EDITOR),
        ).values_list("user_id", flat=True)
    )


def _writers(users: list[User], workspace_id: int) -> list[User]:
    """The owners and editors among ``users``: who may read an internal comment."""
    writers = _writers_ids([user.pk for user in users], workspace_id)
    return [user for user in users if user.pk in writers]
