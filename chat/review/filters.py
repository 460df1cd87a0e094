"""The review admin's list filters: by model, message status, flags and activity."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from chat.models import Message
from chat.review.queries import (
    filter_by_flag,
    filter_by_model,
    filter_by_status,
    models_in_use,
)


class ModelFilter(admin.SimpleListFilter):
    title = _("model")
    parameter_name = "model"

    def lookups(self, request, model_admin):
        return [(name, name) for name in models_in_use()]

    def queryset(self, request, queryset):
        if self.value():
            return filter_by_model(queryset, model=self.value())
        return queryset


class StatusFilter(admin.SimpleListFilter):
    title = _("message status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [(status.value, status.label) for status in Message.Status]

    def queryset(self, request, queryset):
        if self.value() in Message.Status.values:
            return filter_by_status(queryset, status=self.value())
        return queryset


class FlaggedFilter(admin.SimpleListFilter):
    title = _("flagged")
    parameter_name = "flagged"

    def lookups(self, request, model_admin):
        return [
            ("open", _("Open flags")),
            ("cleared", _("Cleared only")),
            ("none", _("Never")),
        ]

    def queryset(self, request, queryset):
        return filter_by_flag(queryset, state=self.value())


class LastActivityFilter(admin.DateFieldListFilter):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.title = _("last activity")


class FlagStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", _("Open")), ("cleared", _("Cleared"))]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(cleared_at__isnull=True)
        if self.value() == "cleared":
            return queryset.filter(cleared_at__isnull=False)
        return queryset
