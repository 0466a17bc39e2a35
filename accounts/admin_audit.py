"""Staff changing a workspace's rows in the Django admin leave a trace in that workspace's log.

    admin save / delete ─→ StaffAuditMixin ─→ audit_record(action=staff.*, details.staff_action)
                                                (same transaction as the change: both or neither)

The admin's own LogEntry stays too, but it lives outside the workspace: its members, and staff
oversight's audit search, read AuditEvent. Field values are not copied into the event (a field
could hold a secret or a person's data); only the names of the changed fields.
"""

from __future__ import annotations

from django.contrib import admin
from django.db import transaction

from accounts.audit import audit_record
from accounts.models import AuditEvent, Workspace


def _workspace_of(obj, path: str) -> Workspace | None:
    if isinstance(obj, Workspace):
        return obj
    value = obj
    for part in path.split("__"):
        value = getattr(value, part, None)
        if value is None:
            return None
    return value


class StaffAuditMixin(admin.ModelAdmin):
    """Every add, change and delete through this admin writes a ``staff.*`` AuditEvent in the
    object's workspace. ``audit_workspace`` names the path from the object to its workspace."""

    audit_workspace = "workspace"

    def _audit(self, request, obj, action: str, fields: list[str] | None = None) -> None:
        details = {
            "staff_action": True,
            "model": obj._meta.label_lower,
            "object_id": str(obj.pk),
        }
        if fields:
            details["fields"] = sorted(fields)
        audit_record(
            workspace=_workspace_of(obj, self.audit_workspace),
            actor=request.user,
            action=action,
            target=f"{obj._meta.verbose_name}: {obj}"[:200],
            details=details,
            request=request,
        )

    def save_model(self, request, obj, form, change) -> None:
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            action = AuditEvent.Action.STAFF_CHANGED if change else AuditEvent.Action.STAFF_ADDED
            self._audit(request, obj, action, list(form.changed_data))

    def delete_model(self, request, obj) -> None:
        with transaction.atomic():
            # Recorded first: deleting a workspace keeps the event (its name is copied into it).
            self._audit(request, obj, AuditEvent.Action.STAFF_DELETED)
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset) -> None:
        with transaction.atomic():
            for obj in queryset:
                self.delete_model(request, obj)
