"""Review links: an owner or editor sends one draft or a batch to an address for a client
without an account to review.

    draft's review page "Send for client review" ──review_link_create──> ReviewLink, emailed
    the email's /review/<token>/ ──review_link_for_token──> the link (the token moves into the
    session and out of the URL: ``posting.reviewlinks.views``)
    the draft's review page "Revoke" ──review_link_revoke──> revoked_at set: the link's page
    says so from the next request on

The token is made here, put in the email, and never stored, logged or shown again: the database
keeps its SHA-256 (32 random bytes cannot be guessed back from it). Authority (owners and
editors) is decided inside the transaction that writes, on the locked membership row; the number
of links per sender and per address in the last hour is counted there too, with the sender's
row and the address locked, as for invitations (``accounts.services``).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import smtplib
from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.access import lock_writer
from accounts.audit import audit_record
from accounts.models import EMAIL_MAX_LENGTH, AuditEvent, Membership, User, Workspace
from posting.models import Draft, ReviewLink, ReviewStage, ReviewState
from posting.sending.errors import PostActionError

logger = logging.getLogger(__name__)

#: The most drafts one link is for (a batch).
MAX_DRAFTS_PER_LINK = 20
#: A token as made here: 43 URL-safe characters. Anything longer is not looked up.
TOKEN_MAX_LENGTH = 64


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def review_link_create(
    *,
    actor: User,
    workspace: Workspace,
    drafts: Sequence[Draft],
    address: str,
    language: str,
    request: HttpRequest,
) -> tuple[ReviewLink, str]:
    """Make a link for ``drafts`` (all of ``workspace``, none sent yet), email it to
    ``address`` in ``language``, and return it with its token (which the caller must neither
    log nor show). Raises ``PostActionError`` with a sentence when it cannot."""
    address = (address or "").strip().lower()
    if not address or len(address) > EMAIL_MAX_LENGTH:
        raise PostActionError(_("Enter the email address to send the review link to."))
    try:
        validate_email(address)
    except ValidationError:
        raise PostActionError(_("Enter a valid email address.")) from None
    if language not in dict(settings.LANGUAGES):
        raise PostActionError(_("Choose the reviewer's language."))
    wanted = {draft.pk for draft in drafts}
    if not wanted:
        raise PostActionError(_("Choose at least one draft for the review link."))
    if len(wanted) > MAX_DRAFTS_PER_LINK:
        raise PostActionError(
            _("One review link is for at most %(limit)d drafts.") % {"limit": MAX_DRAFTS_PER_LINK}
        )
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        lock_writer(workspace=workspace, actor=actor)
        chosen = list(
            Draft.objects.select_for_update()
            .filter(workspace=workspace, pk__in=wanted, sent_at__isnull=True)
            .order_by("pk")
        )
        if len(chosen) != len(wanted):
            raise PostActionError(
                _("A chosen draft was sent or deleted meanwhile. Reload the page and try again.")
            )
        not_waiting = [draft for draft in chosen if draft_status(draft) != Status.WAITING]
        if not_waiting:
            names = ", ".join(f"“{_draft_name(draft)}”" for draft in not_waiting)
            raise PostActionError(
                ngettext(
                    "A review link is only for posts waiting for the client's review, and "
                    "%(names)s is not. Take it off the link, or send it for review first.",
                    "A review link is only for posts waiting for the client's review, and "
                    "%(names)s are not. Take them off the link, or send them for review first.",
                    len(not_waiting),
                )
                % {"names": names}
            )
        _not_to_a_writer(actor=actor, drafts=chosen, address=address)
        _sending_allowed(actor=actor, address=address, now=now)
        link = ReviewLink.objects.create(
            workspace=workspace,
            address=address,
            token_hash=token_hash(token),
            language=language,
            created_by=actor,
            created_at=now,
            expires_at=now + timedelta(days=settings.REVIEW_LINK_DAYS),
        )
        link.drafts.set(chosen)
        audit_record(
            workspace=workspace,
            actor=actor,
            action=AuditEvent.Action.REVIEW_LINK_SENT,
            target=address,
            details={"drafts": [str(d.code) for d in chosen], "link": str(link.code)},
            request=request,
        )
    # Sent after the commit: a slow mail server never holds the locks.
    url = request.build_absolute_uri(reverse("review:enter", args=[token]))
    try:
        with translation.override(language):
            _send(link=link, drafts=chosen, url=url, sender=actor)
    except (OSError, smtplib.SMTPException):
        logger.exception("Could not send review link %s of workspace %s", link.code, workspace.code)
        ReviewLink.objects.filter(pk=link.pk).update(revoked_at=timezone.now())
        raise PostActionError(
            _("The review link could not be emailed, so it was withdrawn. Try again.")
        ) from None
    return link, token


def _draft_name(draft: Draft) -> str:
    text = " ".join(draft.description.split())
    return (text[:40] + "…") if len(text) > 40 else (text or _("Draft without a caption"))


def _send(*, link: ReviewLink, drafts: list[Draft], url: str, sender: User) -> None:
    context = {
        "link": link,
        "workspace": link.workspace,
        "sender": sender,
        "count": len(drafts),
        "url": url,
        "days": settings.REVIEW_LINK_DAYS,
    }
    subject = render_to_string("posting/reviewlinks/email/link_subject.txt", context)
    body = render_to_string("posting/reviewlinks/email/link_body.txt", context)
    send_mail(" ".join(subject.split()), body, settings.DEFAULT_FROM_EMAIL, [link.address])


def _not_to_a_writer(*, actor: User, drafts: list[Draft], address: str) -> None:
    """Four eyes: a link to the sender's own address, or to a post's author's, would let them
    approve it themselves."""
    authors = [draft.author_id for draft in drafts]
    if (
        address == actor.email.lower()
        or User.objects.filter(pk__in=authors, email__iexact=address).exists()
    ):
        raise PostActionError(
            _(
                "A review link goes to the client, not to you or to the post's author: they "
                "may not approve their own post. Enter the client's address."
            )
        )


def _sending_allowed(*, actor: User, address: str, now) -> None:
    """At most so many links an hour per sender and per address, counted from the links (revoked
    ones too: their email went out), with the sender's row and the address locked so that two
    requests at once cannot both take the last one."""
    User.objects.select_for_update().filter(pk=actor.pk).exists()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ["review-link:" + address])
    hour_ago = now - timedelta(hours=1)
    recent = ReviewLink.objects.filter(created_at__gt=hour_ago)
    for rows, limit, per_sender in (
        (recent.filter(created_by=actor), settings.REVIEW_LINKS_PER_SENDER_PER_HOUR, True),
        (recent.filter(address__iexact=address), settings.REVIEW_LINKS_PER_ADDRESS_PER_HOUR, False),
    ):
        sent = list(rows.order_by("-created_at").values_list("created_at", flat=True)[:limit])
        if len(sent) < limit:
            continue
        wait = (sent[-1] + timedelta(hours=1) - now).total_seconds()
        minutes = max(1, -(-int(wait) // 60))
        if per_sender:
            text = ngettext(
                "You have sent %(limit)d review links in the last hour, the most allowed. You "
                "can send another in %(minutes)d minute.",
                "You have sent %(limit)d review links in the last hour, the most allowed. You "
                "can send another in %(minutes)d minutes.",
                minutes,
            )
        else:
            text = ngettext(
                "%(email)s has had %(limit)d review links in the last hour, the most allowed. "
                "You can send this address another in %(minutes)d minute.",
                "%(email)s has had %(limit)d review links in the last hour, the most allowed. "
                "You can send this address another in %(minutes)d minutes.",
                minutes,
            )
        raise PostActionError(text % {"limit": limit, "minutes": minutes, "email": address})


def review_link_revoke(
    *, actor: User, link: ReviewLink, request: HttpRequest | None = None
) -> None:
    """Revoke ``link`` (owners and editors). Revoking one already revoked changes nothing."""
    with transaction.atomic():
        lock_writer(workspace=link.workspace, actor=actor)
        updated = ReviewLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now(), revoked_by=actor
        )
        if updated:
            audit_record(
                workspace=link.workspace,
                actor=actor,
                action=AuditEvent.Action.REVIEW_LINK_REVOKED,
                target=link.address,
                details={"link": str(link.code)},
                request=request,
            )


def review_link_for_token(token: str) -> ReviewLink | None:
    """The link whose token this is (usable or not), or None for no link of ours."""
    if not token or len(token) > TOKEN_MAX_LENGTH or not token.isascii():
        return None
    return (
        with_sender_on_team(ReviewLink.objects.select_related("workspace"))
        .filter(token_hash=token_hash(token))
        .first()
    )


def with_sender_on_team(links: QuerySet[ReviewLink]) -> QuerySet[ReviewLink]:
    """``links`` each with ``sender_on_team``: whether whoever sent it is still an owner or
    editor of its workspace (in the same query). A removed member's link opens nothing; a
    decision checks again under lock (``posting.approvals.services.lock_link_sender``)."""
    writers = Membership.objects.filter(
        workspace=OuterRef("workspace"),
        user=OuterRef("created_by"),
        role__in=(Membership.Role.OWNER, Membership.Role.EDITOR),
    )
    return links.annotate(sender_on_team=Exists(writers))


class Problem:
    """Why a link cannot be used, as a key the page turns into a sentence."""

    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REVOKED = "revoked"
    LIMITED = "limited"
    SENDER_GONE = "sender_gone"


def review_link_problem(link: ReviewLink | None) -> str | None:
    if link is None:
        return Problem.UNKNOWN
    if link.revoked_at is not None:
        return Problem.REVOKED
    if not link.is_usable():
        return Problem.EXPIRED
    if not getattr(link, "sender_on_team", True):
        return Problem.SENDER_GONE
    return None


def review_link_touch(link: ReviewLink) -> None:
    """Record that the link was used (at most once a minute, so a page view writes little)."""
    now = timezone.now()
    if link.last_used_at is None or now - link.last_used_at > timedelta(minutes=1):
        ReviewLink.objects.filter(pk=link.pk).update(last_used_at=now)
        link.last_used_at = now


class Status:
    """Where one of a link's drafts is, for its holder.

    WAITING: in review at the client stage: the holder sees it and decides.
    CHANGING: changes were asked for (or the edited post is back at the team's own review):
        nothing of it is shown; the same link opens it again when it returns to the client.
    FINISHED: approved, held, sent, deleted or a plain draft again (the workflow off): the
        review it was sent for is over; the page says what was decided and shows nothing of it.
    """

    WAITING = "waiting"
    CHANGING = "changing"
    FINISHED = "finished"


def draft_status(draft: Draft) -> str:
    if draft.sent_at is not None:
        return Status.FINISHED
    if draft.review_state == ReviewState.IN_REVIEW and draft.review_stage == ReviewStage.CLIENT:
        return Status.WAITING
    if draft.review_state in (ReviewState.IN_REVIEW, ReviewState.CHANGES_REQUESTED):
        return Status.CHANGING
    return Status.FINISHED


def record_decision(*, link: ReviewLink, draft: Draft, decision: str) -> None:
    """Keep the holder's decision on ``draft`` on the link (the caller holds the link's row
    lock, inside the transaction that decided), so the finished link can say what it was."""
    decisions = dict(
        ReviewLink.objects.filter(pk=link.pk).values_list("decisions", flat=True).first() or {}
    )
    decisions[str(draft.code)] = {"decision": decision, "at": timezone.now().isoformat()}
    # Bounded: a link covers at most MAX_DRAFTS_PER_LINK drafts.
    ReviewLink.objects.filter(pk=link.pk).update(decisions=decisions)
    link.decisions = decisions


def on_client_stage(sender, *, draft_id: int, **kwargs) -> None:
    """``posting.approvals.services.client_stage_reached``'s receiver (``posting.apps``)."""
    tell_holders_ready(draft_id)


def tell_holders_ready(draft_id: int) -> None:
    """The draft reached the client stage again (edited after changes were asked for): email
    the holder of each usable link for it, once the transaction commits (their page said they
    would be). The
    email has no link in it (the token is kept nowhere): it asks them to open the one they
    have, which opens the post again."""

    def after_commit() -> None:
        draft = Draft.objects.select_related("workspace").filter(pk=draft_id).first()
        if draft is None or draft_status(draft) != Status.WAITING:
            return
        now = timezone.now()
        for link in draft.review_links.filter(revoked_at__isnull=True, expires_at__gt=now):
            context = {"link": link, "workspace": draft.workspace}
            try:
                with translation.override(link.language):
                    subject = render_to_string(
                        "posting/reviewlinks/email/ready_subject.txt", context
                    )
                    body = render_to_string("posting/reviewlinks/email/ready_body.txt", context)
                send_mail(
                    " ".join(subject.split()), body, settings.DEFAULT_FROM_EMAIL, [link.address]
                )
            except (OSError, smtplib.SMTPException):
                logger.exception("Could not tell review link %s its post is ready", link.code)

    transaction.on_commit(after_commit)
