"""`manage.py create_api_key USERNAME [--role ROLE] [--name NAME]`: a new API key; the key alone on the last line."""

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Role, User
from accounts.services import ApiKeyLimitReached, api_key_create, user_create


class Command(BaseCommand):
    help = (
        "Create an API key for USERNAME and print it once. A user is created if there is none, with "
        "--role (default partner); an existing user keeps their role."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="key", help="what the key is for (shown in lists)")
        parser.add_argument(
            "--role", default=None, help=f"role of a new user: {', '.join(Role.values)} (default partner)"
        )

    def handle(self, *args, **options):
        role = options["role"] or Role.PARTNER
        if role not in Role.values:
            raise CommandError(f"Unknown role {role!r}; choose one of: {', '.join(Role.values)}.")
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            user = user_create(username=options["username"], password=None, role=role)
            self.stderr.write(f"Created {Role(role).label.lower()} user {user.username}.")
        elif options["role"] and user.role != role:
            self.stderr.write(f"{user.username} exists; their role stays {user.get_role_display().lower()}.")
        try:
            api_key, key = api_key_create(user=user, name=options["name"])
        except ApiKeyLimitReached as refused:
            raise CommandError(str(refused)) from None
        self.stderr.write(f"API key {api_key.name!r} ({api_key.prefix}) for {user.username}; it is shown only now:")
        self.stdout.write(key)
