"""Review links: the link holder's pages (no account) under /review/, and the members' side
(a draft's links, sending and revoking one, comments) under /w/<code>/drafts/<draft>/review/.

    GET  /review/<token>/           the emailed link: the link's id goes into the session and
                                    the browser is sent on to /review/; the token stays in no
                                    URL, no page and no log line (``taisly_dash.logs``)
    GET  /review/                   the drafts the link is for, or why it cannot be used; a
                                    link whose review is over (each draft approved, sent,
                                    deleted or out of review) is a 410 saying what was decided,
                                    with nothing of the drafts; it opens again when the team
                                    sends a draft of it back to the client's review
    GET  /review/<draft>/video/     a covered draft's video, ranged (the player seeks)
    POST /review/<draft>/decide/    approve, or ask for changes with a comment
    POST /review/<draft>/comment/   a comment the team sees

A link holder has no account: every other page of the dashboard sends them to log in.
"""

from __future__ import annotations

import uuid

from allauth.core.internal import ratelimit
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from posting.access import get_draft_for_user, get_draft_for_user_rw
from posting.approvals import services as approvals
from posting.mirror.selectors import hints_for, repost_hints
from posting.models import Draft, ReviewLink, ReviewState
from posting.reviewlinks import comments, decisions, links, selectors
from posting.sending.errors import PostActionError
from posting.sending.ranged import draft_video_answer

#: The session key holding the id of the link the visitor opened (never its token).
SESSION_LINK = "review_link"
SESSION_PROBLEM = "review_link_problem"


def _problem_sentence(problem: str) -> tuple[str, str, int]:
    """(title, sentence, status) of a link that cannot be used."""
    if problem == links.Problem.EXPIRED:
        return (
            _("This review link has expired"),
            _(
                "Review links work for a limited time. Ask the person who sent it to send you "
                "a new one."
            ),
            410,
        )
    if problem == links.Problem.REVOKED:
        return (
            _("This review link was withdrawn"),
            _(
                "The team withdrew this link, so it no longer opens anything. If you still "
                "need to review, ask them for a new one."
            ),
            410,
        )
    if problem == links.Problem.SENDER_GONE:
        return (_("This review link no longer works"), str(approvals.SENDER_GONE), 410)
    if problem == links.Problem.LIMITED:
        return (
            _("Too many attempts"),
            _("Too many review links were opened from here in a short time. Wait a minute."),
            429,
        )
    return (
        _("This review link does not work"),
        _(
            "The link is not complete or not one of ours. Open it again from the email, "
            "copying the whole address."
        ),
        404,
    )


def _problem_page(request: HttpRequest, problem: str) -> HttpResponse:
    title, sentence, status = _problem_sentence(problem)
    return render(
        request,
        "posting/reviewlinks/problem.html",
        {"title": title, "sentence": sentence},
        status=status,
    )


def _open_allowed(request: HttpRequest) -> bool:
    """Openings of review links per IP, counted by allauth's rate limiter (the one the logins
    use, in the shared cache, behind the same trusted-proxy settings). Its public ``consume``
    never counts a GET; the internal one is asked to (allauth is pinned below 66)."""
    action = "review_link_open"
    return bool(
        ratelimit.consume(
            request,
            app="allauth.account",
            action=action,
            config={action: f"{settings.REVIEW_LINK_OPENS_PER_MINUTE}/m/ip"},
            limit_get=True,
        )
    )


def _post_allowed(request: HttpRequest, link: ReviewLink) -> bool:
    """Comments and decisions per link (each emails the team): counted per link, not per IP,
    so a forwarded or leaked link cannot flood the team's inboxes from many addresses."""
    action = "review_link_post"
    return bool(
        ratelimit.consume(
            request,
            app="allauth.account",
            action=action,
            key=str(link.code),
            config={action: f"{settings.REVIEW_LINK_POSTS_PER_HOUR}/h/key"},
        )
    )


def _too_many_posts() -> str:
    return _("Too many comments and decisions through this link in the last hour. Try later.")


@never_cache
@require_GET
def enter(request: HttpRequest, token: str) -> HttpResponse:
    """The emailed link. Always a redirect to /review/, so no answer of this URL (which holds
    the token) is an error Django would log with its path."""
    request.session.pop(SESSION_LINK, None)
    request.session.pop(SESSION_PROBLEM, None)
    if not _open_allowed(request):
        request.session[SESSION_PROBLEM] = links.Problem.LIMITED
        return redirect("review:page")
    link = links.review_link_for_token(token)
    problem = links.review_link_problem(link)
    if problem:
        request.session[SESSION_PROBLEM] = problem
        response = redirect("review:page")
    else:
        # A new session key for the link's session (no fixation), unless a member is signed in.
        if not request.user.is_authenticated:
            request.session.cycle_key()
        request.session[SESSION_LINK] = link.pk
        response = redirect("review:page")
    # The page, or why the link cannot be used, in the reviewer's language.
    if link is not None and not request.user.is_authenticated:
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            link.language,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            samesite="Lax",
        )
    return response


def _session_link(request: HttpRequest) -> tuple[ReviewLink | None, str | None]:
    link_id = request.session.get(SESSION_LINK)
    if not isinstance(link_id, int):
        return None, request.session.get(SESSION_PROBLEM) or links.Problem.UNKNOWN
    link = (
        links.with_sender_on_team(ReviewLink.objects.select_related("workspace", "created_by"))
        .filter(pk=link_id)
        .first()
    )
    return link, links.review_link_problem(link)


def _activate_language(request: HttpRequest, link: ReviewLink) -> None:
    """The reviewer's language: the footer's choice when made, else the link's."""
    if request.user.is_authenticated:
        return
    chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
    language = chosen if chosen in dict(settings.LANGUAGES) else link.language
    translation.activate(language)
    request.LANGUAGE_CODE = language


def _day(value, zone) -> str:
    return date_format(timezone.localtime(value, zone), "j M Y")


def _sentences(item: selectors.ReviewItem, zone) -> list[str]:
    """What the holder reads of a draft they are not deciding on now, in words: what they
    decided, what became of it, and what happens next. Nothing of its content."""
    said = []
    mine = item.decision or {}
    at = parse_datetime(mine.get("at") or "")
    if mine.get("decision") == decisions.APPROVE and at:
        said.append(_("You approved this post on %(date)s.") % {"date": _day(at, zone)})
    elif mine.get("decision") == decisions.CHANGES and at:
        said.append(_("You asked for changes to this post on %(date)s.") % {"date": _day(at, zone)})
    draft = item.draft
    if draft is None:
        said.append(_("The team has since deleted it."))
        return said
    decided = draft.decided_at and _day(draft.decided_at, zone)
    if item.status == links.Status.CHANGING:
        asked = draft.review_state == ReviewState.CHANGES_REQUESTED and decided
        if asked and mine.get("decision") != decisions.CHANGES:
            said.append(_("Changes to it were asked for on %(date)s.") % {"date": decided})
        said.append(
            _(
                "The team is making changes to it. When it is ready, you will get an email, "
                "and this same link will show it to you again for your decision."
            )
        )
        return said
    if draft.sent_at is not None or draft.review_state in (
        ReviewState.APPROVED,
        ReviewState.HELD,
    ):
        if mine.get("decision") != decisions.APPROVE and decided:
            said.append(_("It was approved on %(date)s.") % {"date": decided})
    elif not draft.review_state:
        said.append(_("The team took it out of review, so there is nothing to decide."))
    if not said:
        said.append(_("It is not waiting for your review."))
    return said


@never_cache
@require_GET
def page(request: HttpRequest) -> HttpResponse:
    link, problem = _session_link(request)
    if problem:
        return _problem_page(request, problem)
    _activate_language(request, link)
    links.review_link_touch(link)
    zone = selectors.link_time_zone(link)
    items = selectors.link_items(link)
    for item in items:
        if item.status != links.Status.WAITING:
            item.sentences = _sentences(item, zone)
    context = {"link": link, "items": items, "zone": zone, "numbered": len(items) > 1}
    if selectors.link_finished(items):
        # The review this link was for is over: a page that says so and what was decided.
        return render(request, "posting/reviewlinks/finished.html", context, status=410)
    context["comment_max"] = comments.COMMENT_MAX_LENGTH
    # Like the team's draft page, the client reads which rules post it elsewhere too.
    hints = repost_hints(link.workspace)
    for item in items:
        if item.status == links.Status.WAITING:
            item.reposts = hints_for(
                hints, (p.taisly_id for p in item.draft.target_platforms.all())
            )
    return render(request, "posting/reviewlinks/page.html", context)


def _covered_draft(request: HttpRequest, draft_code) -> tuple[ReviewLink, Draft]:
    link, problem = _session_link(request)
    if problem:
        raise Http404
    draft = link.drafts.select_related("workspace").filter(code=draft_code).first()
    if draft is None or links.draft_status(draft) != links.Status.WAITING:
        # Only a post waiting for the holder's decision is shown (its video included).
        raise Http404
    return link, draft


@require_http_methods(["GET", "HEAD"])
def video(request: HttpRequest, draft_code) -> HttpResponse:
    _link, draft = _covered_draft(request, draft_code)
    return draft_video_answer(request, draft)


def _after_post(request: HttpRequest, problem: str | None) -> HttpResponse:
    if problem:
        return _problem_page(request, problem)
    return redirect("review:page")


@require_POST
def decide(request: HttpRequest, draft_code) -> HttpResponse:
    link, problem = _session_link(request)
    if problem:
        return _problem_page(request, problem)
    _activate_language(request, link)
    draft = link.drafts.filter(code=draft_code).first()
    if draft is None:
        raise Http404
    if not _post_allowed(request, link):
        messages.error(request, _too_many_posts())
        return redirect(reverse("review:page") + f"#draft-{draft.code}")
    decision = request.POST.get("decision", "")
    comment = request.POST.get("comment", "")[: comments.COMMENT_MAX_LENGTH + 1]
    try:
        text = decisions.decide_by_link(
            link=link,
            draft=draft,
            decision=decision,
            comment=comment,
            seen=(request.POST.get("seen") or "")[:40] or None,
            request=request,
        )
    except PostActionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, text)
    return redirect(reverse("review:page") + f"#draft-{draft.code}")


@require_POST
def comment(request: HttpRequest, draft_code) -> HttpResponse:
    link, problem = _session_link(request)
    if problem:
        return _problem_page(request, problem)
    _activate_language(request, link)
    draft = link.drafts.select_related("workspace").filter(code=draft_code).first()
    if draft is None:
        raise Http404
    if not _post_allowed(request, link):
        messages.error(request, _too_many_posts())
        return redirect(reverse("review:page") + f"#draft-{draft.code}")
    try:
        comments.comment_add(
            draft=draft,
            body=request.POST.get("body", "")[: comments.COMMENT_MAX_LENGTH + 1],
            by_link=link,
            request=request,
        )
    except PostActionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Your comment was sent to the team."))
    return redirect(reverse("review:page") + f"#draft-{draft.code}")


# --- the members' side --------------------------------------------------------------------


def _review_url(access, draft) -> str:
    return reverse(
        "posting:draft_review", kwargs={"code": access.workspace.code, "draft_code": draft.code}
    )


@never_cache
@login_required
@require_GET
def draft_review(request: HttpRequest, code, draft_code) -> HttpResponse:
    """A draft's comments and review links (its links for owners and editors only)."""
    draft, access = get_draft_for_user(request, code, draft_code)
    context = {
        "access": access,
        "workspace": access.workspace,
        "draft": draft,
        "comments": selectors.draft_comments(draft, internal=access.can_write),
        "comment_max": comments.COMMENT_MAX_LENGTH,
        "links": selectors.draft_links(draft) if access.can_write else [],
        "batchable": selectors.batchable_drafts(draft) if access.can_write else [],
        "linkable": links.draft_status(draft) == links.Status.WAITING,
        "now": timezone.now(),
        "days": settings.REVIEW_LINK_DAYS,
        "languages": settings.LANGUAGES,
    }
    return render(request, "posting/reviewlinks/draft_review.html", context)


@login_required
@require_POST
def link_send(request: HttpRequest, code, draft_code) -> HttpResponse:
    draft, access = get_draft_for_user_rw(request, code, draft_code)
    extra = request.POST.getlist("drafts")[: links.MAX_DRAFTS_PER_LINK]
    chosen = [draft, *Draft.objects.filter(workspace=access.workspace, code__in=_uuids(extra))]
    try:
        link, _token = links.review_link_create(
            actor=request.user,
            workspace=access.workspace,
            drafts=chosen,
            address=request.POST.get("address", "")[:300],
            language=request.POST.get("language", ""),
            request=request,
        )
    except PostActionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, _("The review link was emailed to %(email)s.") % {"email": link.address}
        )
    return redirect(_review_url(access, draft))


def _uuids(values: list[str]) -> list[str]:
    found = []
    for value in values:
        try:
            found.append(str(uuid.UUID(value[:40])))
        except ValueError:
            continue
    return found


@login_required
@require_POST
def link_revoke(request: HttpRequest, code, draft_code, link_code) -> HttpResponse:
    draft, access = get_draft_for_user_rw(request, code, draft_code)
    link = draft.review_links.filter(code=link_code).first()
    if link is None:
        raise Http404
    links.review_link_revoke(actor=request.user, link=link, request=request)
    messages.success(
        request, _("The review link sent to %(email)s no longer works.") % {"email": link.address}
    )
    return redirect(_review_url(access, draft))


@login_required
@require_POST
def comment_add(request: HttpRequest, code, draft_code) -> HttpResponse:
    draft, access = get_draft_for_user(request, code, draft_code)
    try:
        comments.comment_add(
            draft=draft,
            body=request.POST.get("body", "")[: comments.COMMENT_MAX_LENGTH + 1],
            internal=request.POST.get("internal") == "1",
            by_user=request.user,
            request=request,
        )
    except PostActionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Comment added."))
    return redirect(_review_url(access, draft) + "#comments")
