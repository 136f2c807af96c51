"""Forms for the account pages: they validate input; the services do the writing."""

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.http import HttpRequest

from accounts import limits
from accounts.models import SELF_SERVICE_ROLES, ApiScope, User


class SignUpForm(UserCreationForm):
    """Sign-up for listeners and content creators; other roles are granted by staff."""

    email = forms.EmailField(required=False)
    role = forms.ChoiceField(choices=[(role.value, role.label) for role in SELF_SERVICE_ROLES])

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email", "role")


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ("email", "first_name", "last_name")


class ApiKeyForm(forms.Form):
    """A new API key: its name and the parts of the API it opens (recognize only, unless ticked)."""

    name = forms.CharField(max_length=50, help_text="What the key is for, e.g. the program that uses it.")
    scopes = forms.MultipleChoiceField(
        choices=ApiScope.choices,
        initial=[ApiScope.RECOGNIZE],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Tick at least one scope."},
        help_text="Give a program only what it needs: a key cannot be widened later, only replaced.",
    )


class LimitedLogInMixin:
    """Log-in that counts attempts (accounts.limits) before the password is checked."""

    request: HttpRequest | None
    cleaned_data: dict
    retry_after_s: int | None = None

    def clean(self):
        username, password = self.cleaned_data.get("username"), self.cleaned_data.get("password")
        if username is not None and password:
            address = self.request.META.get("REMOTE_ADDR") if self.request is not None else None
            try:
                limits.login_attempt(address=address, username=username)
            except limits.TooManyAttempts as refused:
                self.retry_after_s = refused.retry_after_s
                raise forms.ValidationError(refused.message, code="rate_limited") from None
        cleaned = super().clean()  # type: ignore[misc]
        if username is not None:
            limits.login_succeeded(username=username)
        return cleaned


class LogInForm(LimitedLogInMixin, AuthenticationForm):
    pass


class AdminLogInForm(LimitedLogInMixin, AdminAuthenticationForm):
    pass
