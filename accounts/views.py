"""People and workspaces: profile, workspaces, members, invitations, audit log. Signing in is
django-allauth's (accounts/views_auth.py).

Every view that touches a workspace goes through ``accounts.access``: outsiders get 404,
members without the right role get 403.
"""

from __future__ import annotations

from allauth.account.internal.flows.email_verification import send_verification_email_for_user
from allauth.core import ratelimit
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.i18n import set_language
from django_htmx.http import HttpResponseClientRefresh

from accounts import services
from accounts.access import (
    WorkspaceAccess,
    get_workspace_for_owner,
    get_workspace_for_user,
)
from accounts.audit import AUDIT_PAGE_SIZE, audit_rows
from accounts.forms import (
    AccountDeleteForm,
    InviteForm,
    ProfileForm,
    RoleForm,
    WorkspaceDeleteForm,
    WorkspaceNameForm,
    WorkspaceTimeZoneForm,
)
from accounts.models import AuditEvent, Invitation, Membership, TaislyConnection
from accounts.reauth import require_recent_authentication
from taisly_dash.htmx import HtmxHttpRequest


def _error_text(error: ValidationError) -> str:
    return " ".join(error.messages)


def _membership_in(access: WorkspaceAccess, member_code) -> Membership:
    """A membership of this workspace by its code; 404 for any other."""
    try:
        return Membership.objects.select_related("user", "workspace").get(
            workspace=access.workspace, code=member_code
        )
    except Membership.DoesNotExist:
        raise Http404 from None


# --- Profile, language -----------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        services.profile_update(
            user=request.user,
            display_name=form.cleaned_data["display_name"],
            timezone_name=form.cleaned_data["timezone"],
            language=form.cleaned_data["language"],
        )
        response = redirect("accounts:profile")
        # The same language for this browser after logging out.
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            request.user.language,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            samesite=settings.LANGUAGE_COOKIE_SAMESITE,
            secure=settings.LANGUAGE_COOKIE_SECURE,
        )
        # Said in the language just chosen, as the page it lands on is.
        with translation.override(request.user.language):
            messages.success(request, _("Your profile was saved."))
        return response
    return render(
        request,
        "accounts/profile.html",
        {"form": form, "now": timezone.now(), "two_factor": is_mfa_enabled(request.user)},
        status=422 if form.errors else 200,
    )


@sensitive_post_parameters("password")
@login_required
@require_http_methods(["GET", "POST"])
def account_delete(request: HttpRequest) -> HttpResponse:
    """GET lists what goes with the account and asks for the password; POST deletes it."""
    user = request.user
    if request.method == "POST":
        # The password asked for again is rate limited as allauth limits its own re-checks
        # ("reauthenticate" in ACCOUNT_RATE_LIMITS): a borrowed session cannot guess it here.
        refused = ratelimit.consume_or_429(request, action="reauthenticate", user=user)
        if refused is not None:
            return refused
    form = AccountDeleteForm(request.POST or None, user=user)
    error = None
    if request.method == "POST" and form.is_valid():
        try:
            services.user_delete(user=user, actor=user, request=request)
        except ValidationError as exc:
            error = _error_text(exc)
        else:
            logout(request)
            messages.success(request, _("Your account was deleted."))
            return redirect("account_login")
    alone, blocked = services.user_delete_plan(user=user)
    return render(
        request,
        "accounts/account_delete.html",
        {"form": form, "error": error, "alone": alone, "blocked": blocked},
        status=422 if request.method == "POST" else 200,
    )


@require_POST
def language(request: HttpRequest) -> HttpResponse:
    """The footer's language switch: remembered on the profile too when logged in."""
    if request.user.is_authenticated:
        services.user_set_language(user=request.user, language=request.POST.get("language", ""))
    return set_language(request)


# --- Workspaces -----------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def workspace_create(request: HttpRequest) -> HttpResponse:
    form = WorkspaceNameForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        workspace = services.workspace_create(
            name=form.cleaned_data["name"], owner=request.user, request=request
        )
        messages.success(request, _("Workspace “%(name)s” created.") % {"name": workspace.name})
        return redirect("accounts:workspace", code=workspace.code)
    return render(
        request,
        "accounts/workspace_create.html",
        {"form": form},
        status=422 if form.errors else 200,
    )


@login_required
@require_GET
def workspace_home(request: HttpRequest, code) -> HttpResponse:
    access = get_workspace_for_user(request, code)
    members_count = Membership.objects.filter(workspace=access.workspace).count()
    # The key itself is never decrypted for this page: only its hint, plan and status.
    connection = (
        TaislyConnection.objects.filter(workspace=access.workspace).defer("api_key").first()
    )
    return render(
        request,
        "accounts/workspace_home.html",
        {
            "access": access,
            "workspace": access.workspace,
            "members_count": members_count,
            "connection": connection,
        },
    )


@login_required
@require_GET
def workspace_settings(request: HttpRequest, code) -> HttpResponse:
    access = get_workspace_for_owner(request, code)
    form = WorkspaceNameForm(initial={"name": access.workspace.name})
    return _settings_page(request, access, form)


def _settings_page(request, access, form=None, zone_form=None, status=200) -> HttpResponse:
    workspace = access.workspace
    return render(
        request,
        "accounts/workspace_settings.html",
        {
            "access": access,
            "workspace": workspace,
            "form": form or WorkspaceNameForm(initial={"name": workspace.name}),
            "zone_form": zone_form
            or WorkspaceTimeZoneForm(initial={"time_zone": workspace.time_zone}),
            "approval_gaps": workspace.approval_gaps(),
        },
        status=status,
    )


def _settings_save(request, code, form_class, slot: str, save, done: str) -> HttpResponse:
    """One form of the settings page: checked (the page again, 422, with what is wrong), then
    ``save(workspace, cleaned_data)`` (the service, which decides who may), then the page."""
    access = get_workspace_for_owner(request, code)
    form = form_class(request.POST)
    if not form.is_valid():
        return _settings_page(request, access, status=422, **{slot: form})
    save(access.workspace, form.cleaned_data)
    messages.success(request, done)
    return redirect("accounts:workspace_settings", code=access.workspace.code)


@login_required
@require_POST
def workspace_time_zone(request: HttpRequest, code) -> HttpResponse:
    def save(workspace, data) -> None:
        services.workspace_set_time_zone(
            workspace=workspace, time_zone=data["time_zone"], actor=request.user, request=request
        )

    return _settings_save(
        request, code, WorkspaceTimeZoneForm, "zone_form", save, _("Time zone saved.")
    )


@login_required
@require_POST
def workspace_rename(request: HttpRequest, code) -> HttpResponse:
    def save(workspace, data) -> None:
        services.workspace_rename(
            workspace=workspace, name=data["name"], actor=request.user, request=request
        )

    return _settings_save(request, code, WorkspaceNameForm, "form", save, _("Workspace renamed."))


@login_required
@require_http_methods(["GET", "POST"])
def workspace_delete(request: HttpRequest, code) -> HttpResponse:
    """GET asks for the workspace's name as confirmation; POST deletes."""
    access = get_workspace_for_owner(request, code)
    workspace = access.workspace
    form = WorkspaceDeleteForm(request.POST or None, workspace=workspace)
    error = None
    if request.method == "POST" and form.is_valid():
        name = workspace.name
        try:
            services.workspace_delete(workspace=workspace, actor=request.user, request=request)
        except ValidationError as exc:
            error = _error_text(exc)
        else:
            messages.success(request, _("Workspace “%(name)s” was deleted.") % {"name": name})
            return redirect("home")
    status = 422 if request.method == "POST" else 200
    return render(
        request,
        "accounts/workspace_delete.html",
        {"access": access, "workspace": workspace, "form": form, "error": error},
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def workspace_leave(request: HttpRequest, code) -> HttpResponse:
    """GET confirms; POST leaves. Staff looking in are not members, so they have nothing to
    leave (404)."""
    access = get_workspace_for_user(request, code)
    if access.membership is None:
        raise Http404
    error = None
    if request.method == "POST":
        try:
            services.member_remove(
                membership=access.membership, actor=request.user, request=request
            )
        except ValidationError as exc:
            error = _error_text(exc)
        else:
            messages.success(request, _("You left “%(name)s”.") % {"name": access.workspace.name})
            return redirect("home")
    return render(
        request,
        "accounts/workspace_leave.html",
        {"access": access, "workspace": access.workspace, "error": error},
        status=422 if error else 200,
    )


# --- Members and invitations ------------------------------------------------------------------


def _members_context(access: WorkspaceAccess) -> dict:
    members = list(
        Membership.objects.filter(workspace=access.workspace)
        .select_related("user")
        .order_by("user__email")
    )
    show_invitations = access.reads_all
    return {
        "access": access,
        "workspace": access.workspace,
        "members": members,
        "owners_count": sum(1 for m in members if m.is_owner),
        "invitations": (
            list(services.invitations_pending(workspace=access.workspace))
            if show_invitations
            else []
        ),
        "show_invitations": show_invitations,
        "roles": Membership.Role.choices,
    }


def _members_refused(request: HttpRequest, access: WorkspaceAccess, error: str) -> HttpResponse:
    """A refused change to a member (no JavaScript): the list as it now stands, the reason on
    top, as a 422."""
    messages.error(request, error)
    return render(request, "accounts/members.html", _members_context(access), status=422)


@login_required
@require_GET
def members(request: HttpRequest, code) -> HttpResponse:
    access = get_workspace_for_user(request, code)
    return render(request, "accounts/members.html", _members_context(access))


@login_required
@require_http_methods(["GET", "POST"])
def member_invite(request: HttpRequest, code) -> HttpResponse:
    access = get_workspace_for_owner(request, code)
    if request.method == "POST":
        # Every invitation (an owner's above all) would let a borrowed session bring in
        # someone who then holds the workspace: the password first.
        require_recent_authentication(request)
    form = InviteForm(request.POST or None)
    # Said before the form is filled in, not only when it is refused (the service decides).
    verified = services.email_verified(user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            invitation, _token = services.invitation_create(
                workspace=access.workspace,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                inviter=request.user,
                request=request,
                submission=form.cleaned_data["submission"],
            )
        except ValidationError as exc:
            if exc.code == "unverified":
                verified = False  # the page says so, with the button to send the link again
            else:
                form.add_error("email" if exc.code == "member" else None, exc)
        else:
            messages.success(
                request,
                _("Invitation sent to %(email)s. The link works once, for %(days)s days.")
                % {"email": invitation.email, "days": settings.INVITATION_EXPIRY_DAYS},
            )
            return redirect("accounts:members", code=access.workspace.code)
    return render(
        request,
        "accounts/member_invite.html",
        {
            "access": access,
            "workspace": access.workspace,
            "form": form,
            "inviter_verified": verified,
        },
        status=422 if form.errors or (request.method == "POST" and not verified) else 200,
    )


@login_required
@require_POST
def member_role(request: HtmxHttpRequest, code, member_code) -> HttpResponse:
    """Change a member's role. With htmx, answers with the member's row only."""
    access = get_workspace_for_owner(request, code)
    membership = _membership_in(access, member_code)
    require_recent_authentication(
        request, htmx_back_to=reverse("accounts:members", kwargs={"code": access.workspace.code})
    )
    form = RoleForm(request.POST)
    error = None
    if not form.is_valid():
        error = _("Choose a role.")
    else:
        try:
            membership = services.member_role_change(
                membership=membership,
                role=form.cleaned_data["role"],
                actor=request.user,
                request=request,
            )
        except ValidationError as exc:
            error = _error_text(exc)
    if request.htmx:
        try:
            membership.refresh_from_db()
        except Membership.DoesNotExist:
            # Removed meanwhile (another owner, another tab): no row is left to redraw.
            messages.error(
                request, error or _("This person is no longer a member of this workspace.")
            )
            return HttpResponseClientRefresh()
        context = _members_context(access)
        context.update({"member": membership, "row_error": error})
        return render(
            request, "accounts/members.html#member_row", context, status=422 if error else 200
        )
    if error:
        return _members_refused(request, access, error)
    messages.success(
        request,
        _("%(email)s is now %(role)s.")
        % {"email": membership.user.email, "role": membership.get_role_display()},
    )
    return redirect("accounts:members", code=access.workspace.code)


@login_required
@require_POST
def member_reviewer(request: HttpRequest, code, member_code) -> HttpResponse:
    """Give or take a member's reviewer right (the members page's checkbox and its button)."""
    access = get_workspace_for_owner(request, code)
    membership = _membership_in(access, member_code)
    try:
        membership = services.member_set_reviewer(
            membership=membership,
            can_approve=request.POST.get("can_approve") == "on",
            actor=request.user,
            request=request,
        )
    except ValidationError as exc:
        return _members_refused(request, access, _error_text(exc))
    if membership.can_approve:
        text = _("%(email)s may now approve posts for the client.")
    else:
        text = _("%(email)s no longer approves posts for the client.")
    messages.success(request, text % {"email": membership.user.email})
    return redirect("accounts:members", code=access.workspace.code)


@login_required
@require_http_methods(["GET", "POST"])
def member_remove(request: HtmxHttpRequest, code, member_code) -> HttpResponse:
    """GET confirms (the no-JavaScript way); POST removes (htmx asks with ``hx-confirm``)."""
    access = get_workspace_for_owner(request, code)
    membership = _membership_in(access, member_code)
    if request.method == "POST":
        try:
            services.member_remove(membership=membership, actor=request.user, request=request)
        except ValidationError as exc:
            return _members_refused(request, access, _error_text(exc))
        messages.success(request, _("%(email)s was removed.") % {"email": membership.user.email})
        if (
            membership.user_id == request.user.pk
            and not Membership.objects.filter(pk=membership.pk).exists()
        ):
            return redirect("home")  # an owner removed themselves: they can no longer look in
        return redirect("accounts:members", code=access.workspace.code)
    return render(
        request,
        "accounts/member_remove.html",
        {"access": access, "workspace": access.workspace, "member": membership},
    )


@login_required
@require_POST
def invitation_revoke(request: HttpRequest, code, invitation_code) -> HttpResponse:
    access = get_workspace_for_owner(request, code)
    try:
        invitation = Invitation.objects.select_related("workspace").get(
            workspace=access.workspace, code=invitation_code
        )
    except Invitation.DoesNotExist:
        raise Http404 from None
    try:
        services.invitation_revoke(invitation=invitation, actor=request.user, request=request)
    except ValidationError as exc:
        return _members_refused(request, access, _error_text(exc))
    messages.success(
        request, _("The invitation to %(email)s was withdrawn.") % {"email": invitation.email}
    )
    return redirect("accounts:members", code=access.workspace.code)


def _accepted_by(invitation: Invitation | None, user) -> bool:
    return bool(
        invitation is not None
        and user is not None
        and invitation.accepted_at is not None
        and invitation.accepted_by_id == user.pk
    )


def _joined(request: HttpRequest, invitation: Invitation, user) -> HttpResponse:
    """The answer to an Accept that already happened: the workspace, if still a member."""
    membership = (
        Membership.objects.filter(workspace=invitation.workspace, user=user)
        .select_related("workspace")
        .first()
    )
    if membership is None:  # removed since: the used link is all there is to say
        return render(
            request,
            "accounts/invitation.html",
            {"invitation": None, "problem": services.invitation_problem(invitation=invitation)},
            status=410,
        )
    messages.success(
        request,
        _("You joined “%(name)s” as %(role)s.")
        % {"name": membership.workspace.name, "role": membership.get_role_display()},
    )
    return redirect("accounts:workspace", code=membership.workspace.code)


def _held_until_verified(request: HttpRequest, invitation: Invitation, user) -> HttpResponse:
    """Accept pressed with an unverified address: keep the invitation, send the link."""
    services.invitation_hold(invitation=invitation, user=user)
    send_verification_email_for_user(request, user)  # rate limited: a repeat sends nothing
    messages.info(
        request,
        _(
            "Almost there: confirm your email address with the link we sent to %(email)s, and "
            "you join “%(name)s” straight away."
        )
        % {"email": user.email, "name": invitation.workspace.name},
    )
    return redirect("home")


@require_http_methods(["GET", "POST"])
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """The emailed link. Logged out: log in or sign up first, then come back here.

    An unknown link is a 404 and a used, withdrawn or expired one a 410, each with a sentence
    and nothing about the workspace. A live link shows the workspace, the role and the address
    it was sent to; only the account with that address can accept it.
    """
    found = services.invitation_for_token(token=token)
    user = request.user if request.user.is_authenticated else None
    if request.method == "POST" and _accepted_by(found, user):
        return _joined(request, found, user)  # a second click on Accept: the first one worked
    dead = services.invitation_problem(invitation=found)
    if dead:
        return render(
            request,
            "accounts/invitation.html",
            {"invitation": None, "problem": dead},
            status=404 if found is None else 410,
        )
    if user is None and request.method == "POST":
        return redirect_to_login(request.get_full_path())
    problem = services.invitation_problem(invitation=found, user=user)
    if request.method == "POST" and not problem:
        try:
            result = services.invitation_accept(invitation=found, user=user, request=request)
        except ValidationError as exc:
            if _accepted_by(found, user):  # the other click got there first
                return _joined(request, found, user)
            if exc.code == "unverified":
                return _held_until_verified(request, found, user)
            problem = _error_text(exc)
        else:
            workspace = result.membership.workspace
            if result.outcome is services.AcceptOutcome.JOINED:
                text = _("You joined “%(name)s” as %(role)s.")
            elif result.outcome is services.AcceptOutcome.UPGRADED:
                text = _("You are now %(role)s in “%(name)s”.")
            else:
                text = _("You were already a member of “%(name)s” (%(role)s).")
            role = result.membership.get_role_display()
            messages.success(request, text % {"name": workspace.name, "role": role})
            return redirect("accounts:workspace", code=workspace.code)
    return render(
        request,
        "accounts/invitation.html",
        {
            "invitation": found,
            "problem": problem,
            "signup_url": f"{reverse('account_signup')}?{urlencode({'invitation': token})}",
            "login_url": f"{reverse('account_login')}?{urlencode({'next': request.path})}",
        },
        status=422 if problem and request.method == "POST" else 200,
    )


# --- Audit log ------------------------------------------------------------------------------


@login_required
@require_GET
def audit_log(request: HttpRequest, code) -> HttpResponse:
    """The workspace's own log: owners, and staff looking in."""
    access = get_workspace_for_user(request, code)
    if not access.reads_all:
        raise PermissionDenied
    events = AuditEvent.objects.filter(workspace=access.workspace)
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = audit_rows(page.object_list)
    return render(
        request,
        "accounts/audit_log.html",
        {"access": access, "workspace": access.workspace, "page": page},
    )
