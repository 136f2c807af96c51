"""Shapes of the catalog API. The owner, hashes and digest are the server's: never client input."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from catalog import selectors
from catalog.links import MAX_LINK_CHARS, MAX_LINKS, links_cleaned
from catalog.models import isrc_validator


class TrackSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    title = serializers.CharField(read_only=True)
    artists = serializers.SerializerMethodField()
    album = serializers.SerializerMethodField()
    isrc = serializers.CharField(read_only=True)
    duration_s = serializers.FloatField(read_only=True, allow_null=True)
    fingerprint_status = serializers.CharField(read_only=True)
    hash_count = serializers.IntegerField(read_only=True)
    year = serializers.SerializerMethodField(help_text="The album's release year.")
    artwork_url = serializers.SerializerMethodField(
        help_text="The artwork listeners see (the track's own, else its album's): a square JPEG."
    )
    links = serializers.ListField(child=serializers.URLField(), read_only=True)
    preview_allowed = serializers.BooleanField(read_only=True)
    preview_url = serializers.SerializerMethodField(
        help_text="A 30 s MP3 excerpt of the reference, while previews are allowed and the reference is stored."
    )
    owned_by_me = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def get_artists(self, track) -> list[str]:
        return [artist.name for artist in track.artists.all()]

    def get_album(self, track) -> str | None:
        return track.album.title if track.album else None

    def get_year(self, track) -> int | None:
        return track.album.release_year if track.album else None

    def get_artwork_url(self, track) -> str | None:
        return selectors.track_artwork_url(track) or None

    def get_preview_url(self, track) -> str | None:
        return selectors.track_preview_url(track) or None

    def get_owned_by_me(self, track) -> bool:
        request = self.context.get("request")
        return bool(request and request.user.is_authenticated and track.owner_id == request.user.id)


class TrackSearchSerializer(serializers.Serializer):
    """Query parameters of the track search; CharField refuses NUL bytes, which PostgreSQL cannot hold."""

    q = serializers.CharField(max_length=200, required=False, allow_blank=True, trim_whitespace=True)
    isrc = serializers.CharField(max_length=12, required=False, allow_blank=True, trim_whitespace=True)
    mine = serializers.BooleanField(required=False, default=False)


class TrackWriteSerializer(serializers.Serializer):
    """Metadata a rights holder may set. Unknown fields (owner, hash_count, sha256...) are ignored."""

    title = serializers.CharField(max_length=300)
    artists = serializers.ListField(child=serializers.CharField(max_length=200), required=False, max_length=20)
    album = serializers.CharField(max_length=300, required=False, allow_blank=True)
    isrc = serializers.CharField(max_length=12, required=False, allow_blank=True, validators=[isrc_validator])
    links = serializers.ListField(
        child=serializers.URLField(max_length=MAX_LINK_CHARS),
        required=False,
        max_length=MAX_LINKS,
        help_text="Where listeners can hear or buy it (streaming services, the label's page); replaces the links.",
    )
    preview_allowed = serializers.BooleanField(
        required=False, help_text="Let listeners who identify it play a 30 s excerpt of its reference."
    )

    def validate_links(self, links: list[str]) -> list[str]:
        try:
            return links_cleaned(links)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages) from None


class TrackCreateSerializer(TrackWriteSerializer):
    audio = serializers.FileField(help_text="The reference recording; it is fingerprinted before the answer.")


class TrackAudioSerializer(serializers.Serializer):
    audio = serializers.FileField()


class TrackArtworkSerializer(serializers.Serializer):
    image = serializers.FileField(help_text="A JPEG, PNG or WebP, up to 4 MiB and 36 million pixels.")


class AlbumSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    title = serializers.CharField(read_only=True)
    artist = serializers.SerializerMethodField()
    release_year = serializers.IntegerField(read_only=True, allow_null=True)
    label = serializers.CharField(read_only=True)
    artwork_url = serializers.SerializerMethodField(
        help_text="The album's artwork through the API (GET it with your key): a square JPEG, or null."
    )
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def get_artist(self, album) -> str | None:
        return album.artist.name if album.artist else None

    def get_artwork_url(self, album) -> str | None:
        return selectors.album_artwork_url(album) or None


class AlbumArtworkSerializer(TrackArtworkSerializer):
    """The same image as a track's artwork, under its own name in the schema."""
