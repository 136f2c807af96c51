"""factory_boy factories for the portal's models."""

import factory

from accounts.models import ADMIN_ROLES, Role, User
from catalog.models import Album, Artist, Track

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    role = Role.LISTENER
    is_staff = factory.LazyAttribute(lambda u: u.role in ADMIN_ROLES or u.is_superuser)
    is_superuser = False

    @classmethod
    def _create(cls, model_class, *args, password=PASSWORD, **kwargs):
        user = model_class(*args, **kwargs)
        user.set_password(password)
        user.save()
        return user


class ArtistFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Artist

    name = factory.Sequence(lambda n: f"Artist {n}")
    owner = factory.SubFactory(UserFactory, role=Role.RIGHTS_HOLDER)


class AlbumFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Album

    title = factory.Sequence(lambda n: f"Album {n}")
    owner = factory.SubFactory(UserFactory, role=Role.RIGHTS_HOLDER)


class TrackFactory(factory.django.DjangoModelFactory):
    """A catalog row without audio (fingerprinted tracks come from the ingest service)."""

    class Meta:
        model = Track

    title = factory.Sequence(lambda n: f"Track {n}")
    owner = factory.SubFactory(UserFactory, role=Role.RIGHTS_HOLDER)
