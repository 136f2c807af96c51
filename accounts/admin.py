"""User administration: staff and superusers only; the role drives the admin flag."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.http import HttpRequest
from rest_framework_api_key.models import APIKey as LibraryApiKey

from accounts.forms import AdminLogInForm
from accounts.models import ApiKey, ApiScope, User, all_scopes
from accounts.services import api_key_create, api_key_refusal, api_key_revoke, user_apply_role


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "email", "role", "is_active", "date_joined")
    list_filter = ("role", "is_active", "is_superuser")
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "email")}),
        ("Role", {"fields": ("role", "is_active")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("username", "role", "password1", "password2")}),)
    readonly_fields = ("last_login", "date_joined")
    search_fields = ("username", "email", "first_name", "last_name")

    def _is_user_manager(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.sees_whole_catalog

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._is_user_manager(request)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._is_user_manager(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._is_user_manager(request)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        # Staff may not edit superusers; only a superuser may.
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return self._is_user_manager(request)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return self.has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        user_apply_role(obj, obj.role)
        super().save_model(request, obj, form, change)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """API keys: staff create (the key is shown once, in a message) and revoke them; nobody reads one."""

    list_display = ("name", "user", "prefix", "scope_list", "created", "last_used_at", "revoked", "expiry_date")
    list_filter = ("revoked",)
    search_fields = ("name", "user__username", "prefix")
    readonly_fields = ("prefix", "created", "last_used_at")
    fields = ("name", "user", "scopes", "expiry_date", "revoked", "prefix", "created", "last_used_at")
    autocomplete_fields = ("user",)

    @admin.display(description="scopes")
    def scope_list(self, api_key: ApiKey) -> str:
        return ", ".join(api_key.scopes)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "scopes":
            return forms.TypedMultipleChoiceField(
                choices=ApiScope.choices,
                initial=all_scopes,
                widget=forms.CheckboxSelectMultiple,
                help_text="The parts of the API the key opens.",
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def has_module_permission(self, request):
        return request.user.is_active and request.user.sees_whole_catalog

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_add_permission(self, request):
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_delete_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is not None:
            return form

        class NewApiKeyForm(form):  # type: ignore[misc, valid-type]
            def clean(self):
                cleaned = super().clean()
                user = cleaned.get("user")
                refusal = api_key_refusal(user) if user is not None else ""
                if refusal:  # on the form (a listener's account, too many keys), not a 500 from the service
                    raise forms.ValidationError(refusal)
                return cleaned

        return NewApiKeyForm

    def get_readonly_fields(self, request, obj=None):
        # A revoked key stays revoked.
        return [*self.readonly_fields, "revoked"] if obj is not None and obj.revoked else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        # Through the service, with everything the form holds: the expiry, and a key created revoked
        # stays revoked (a reserved name, say), instead of silently becoming a live, unbounded key.
        created, key = api_key_create(user=obj.user, name=obj.name, expiry_date=obj.expiry_date, scopes=obj.scopes)
        if obj.revoked:
            api_key_revoke(api_key=created)
        obj.pk = created.pk
        if not obj.revoked:
            messages.warning(request, f"The new API key (copy it now, it is shown only once): {key}")


admin.site.unregister(LibraryApiKey)

# The admin's log-in counts attempts like the portal's (accounts.limits).
admin.site.login_form = AdminLogInForm
