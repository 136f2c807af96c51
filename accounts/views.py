"""Account pages: sign-up, log-in, profile. Log-out is Django's own view."""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts import limits
from accounts.forms import LogInForm, ProfileForm, SignUpForm
from accounts.http import AuthenticatedHttpRequest
from accounts.services import user_create, user_update_profile


@require_http_methods(["GET", "POST"])
def sign_up(request: HttpRequest) -> HttpResponse:
    form = SignUpForm(request.POST or None)
    if request.method == "POST":
        try:
            limits.sign_up_attempt(address=request.META.get("REMOTE_ADDR"), username=request.POST.get("username", ""))
        except limits.TooManyAttempts as refused:
            context = {"form": SignUpForm(), "refused": refused.message}
            response = render(request, "accounts/sign_up.html", context, status=429)
            response["Retry-After"] = str(refused.retry_after_s)
            return response
    if request.method == "POST" and form.is_valid():
        user = user_create(
            username=form.cleaned_data["username"],
            password=form.cleaned_data["password1"],
            email=form.cleaned_data["email"],
            role=form.cleaned_data["role"],
        )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome to Earshot, {user.username}.")
        return redirect("home")
    return render(request, "accounts/sign_up.html", {"form": form}, status=400 if form.errors else 200)


class LogInView(LoginView):
    """Django's log-in with attempts counted (accounts.limits); over a limit the answer is 429."""

    form_class = LogInForm
    template_name = "accounts/login.html"

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.retry_after_s is not None:
            response.status_code = 429
            response["Retry-After"] = str(form.retry_after_s)
        return response


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        user_update_profile(user=request.user, **form.cleaned_data)
        messages.success(request, "Profile saved.")
        return redirect("accounts:profile")
    return render(request, "accounts/profile.html", {"form": form}, status=400 if form.errors else 200)
