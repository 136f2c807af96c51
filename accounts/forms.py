"""Forms for the account pages: they validate input; the services do the writing."""

from django import forms
from django.contrib.auth.forms import UserCreationForm

from accounts.models import SELF_SERVICE_ROLES, User


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
    name = forms.CharField(max_length=50, help_text="What the key is for, e.g. the program that uses it.")
