"""`{% webhooks_card user %}`: a user's webhooks with their state, on the profile page."""

from django import template

from recognition.models import Webhook

register = template.Library()


@register.inclusion_tag("recognition/webhooks_card.html")
def webhooks_card(user) -> dict:
    """Render the user's webhooks, each switched-off one with the reason Earshot gave."""
    if not user.is_authenticated:
        return {"webhooks": []}
    return {"webhooks": list(Webhook.objects.filter(user=user).order_by("-created_at"))}
