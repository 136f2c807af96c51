"""`manage.py create_api_key USERNAME [--role ROLE] [--name NAME] [--scope SCOPE]…`: a new API key;
the key alone on the last line."""

from django.core.management.base import BaseCommand, CommandError

from accounts.models import API_ROLES, ApiScope, Role, User
from accounts.services import ApiKeyRefused, api_key_create, user_create


class Command(BaseCommand):
    help = (
        "Create an API key for USERNAME and print it once. A user is created if there is none, with "
        "--role (default partner); an existing user keeps their role. Listeners hold no keys."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="key", help="what the key is for (shown in lists)")
        parser.add_argument(
            "--role", default=None, help=f"role of a new user: {', '.join(Role.values)} (default partner)"
        )
        parser.add_argument(
            "--scope",
            action="append",
            choices=ApiScope.values,
            help="a part of the API the key opens; repeat for several (default: every scope)",
        )

    def handle(self, *args, **options):
        role = options["role"] or Role.PARTNER
        if role not in Role.values:
            raise CommandError(f"Unknown role {role!r}; choose one of: {', '.join(Role.values)}.")
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            if role not in API_ROLES:
                raise CommandError(f"A {Role(role).label.lower()} account holds no API keys; give it another role.")
            user = user_create(username=options["username"], password=None, role=role)
            self.stderr.write(f"Created {Role(role).label.lower()} user {user.username}.")
        elif options["role"] and user.role != role:
            self.stderr.write(f"{user.username} exists; their role stays {user.get_role_display().lower()}.")
        try:
            api_key, key = api_key_create(user=user, name=options["name"], scopes=options["scope"])
        except ApiKeyRefused as refused:
            raise CommandError(str(refused)) from None
        scopes = ", ".join(api_key.scopes)
        self.stderr.write(
            f"API key {api_key.name!r} ({api_key.prefix}, scopes: {scopes}) for {user.username}; it is shown only now:"
        )
        self.stdout.write(key)
