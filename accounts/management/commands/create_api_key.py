"""`manage.py create_api_key USERNAME --name NAME`: a new API key; the key alone on the last line."""

from django.core.management.base import BaseCommand

from accounts.models import Role, User
from accounts.services import api_key_create, user_create


class Command(BaseCommand):
    help = "Create an API key for USERNAME (a partner user is created if there is none) and print it once."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="key", help="what the key is for (shown in lists)")

    def handle(self, *args, **options):
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            user = user_create(username=options["username"], password=None, role=Role.PARTNER)
            self.stderr.write(f"Created partner user {user.username}.")
        api_key, key = api_key_create(user=user, name=options["name"])
        self.stderr.write(f"API key {api_key.name!r} ({api_key.prefix}) for {user.username}; it is shown only now:")
        self.stdout.write(key)
