"""Who may use which part of the recognition API."""

from rest_framework.permissions import BasePermission

from accounts.models import Role


class CanSubmitLongMedia(BasePermission):
    """Long recordings (background jobs) are for partners, creators, rights holders and staff."""

    message = "Your account may recognise clips only; long recordings need a partner or creator account."

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and (user.can_upload or user.role == Role.PARTNER))


class IsPartner(BasePermission):
    """Webhooks belong to partners and monitors (detection events), and staff, who may help them."""

    message = "Webhooks are for partner and monitor accounts."

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and user.uses_webhooks)
