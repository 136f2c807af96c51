"""Shapes of the catalog API. The owner, hashes and digest are the server's: never client input."""

from rest_framework import serializers

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
    owned_by_me = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def get_artists(self, track) -> list[str]:
        return [artist.name for artist in track.artists.all()]

    def get_album(self, track) -> str | None:
        return track.album.title if track.album else None

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


class TrackCreateSerializer(TrackWriteSerializer):
    audio = serializers.FileField(help_text="The reference recording; it is fingerprinted before the answer.")


class TrackAudioSerializer(serializers.Serializer):
    audio = serializers.FileField()
