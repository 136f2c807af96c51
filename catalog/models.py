"""The music catalog: artists, albums and tracks, each owned by one rights holder."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Upper

from portal.storage import RandomKey

isrc_validator = RegexValidator(
    r"^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$",
    "An ISRC is 12 characters: country (2 letters), registrant (3), year (2 digits) and 5 digits, "
    "without dashes, e.g. USRC17607839.",
)


class OwnedModel(models.Model):
    """A catalog row that belongs to one rights holder; only they and staff may see or edit it."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Artist(OwnedModel):
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="artist_unique_name_per_owner")]
        # Search matches anywhere in a name (`icontains`, i.e. UPPER(name) LIKE '%…%'): a trigram
        # index on the same expression serves the leading wildcard (docs/decisions.md).
        indexes = [GinIndex(OpClass(Upper("name"), name="gin_trgm_ops"), name="artist_name_trgm")]

    def __str__(self) -> str:
        return self.name


class Album(OwnedModel):
    title = models.CharField(max_length=300)
    artist = models.ForeignKey(Artist, null=True, blank=True, on_delete=models.SET_NULL, related_name="albums")
    release_year = models.PositiveSmallIntegerField(null=True, blank=True)
    label = models.CharField(max_length=200, blank=True)
    # A square JPEG re-encoded by catalog.artwork, never the uploaded bytes (catalog.services).
    artwork = models.FileField(upload_to=RandomKey("artwork"), blank=True, max_length=300, editable=False)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title


class FingerprintStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class Track(OwnedModel):
    """A recording in the catalog and the reference audio it is recognised by.

    `sha256` is the digest of the reference file's bytes: the same file ingested twice is the
    same track. `hash_count` is the number of fingerprint rows written with it, in the same
    transaction, so it doubles as an integrity check (see recognition.store).
    """

    title = models.CharField(max_length=300)
    artists = models.ManyToManyField(Artist, blank=True, related_name="tracks")
    album = models.ForeignKey(Album, null=True, blank=True, on_delete=models.SET_NULL, related_name="tracks")
    isrc = models.CharField("ISRC", max_length=12, blank=True, validators=[isrc_validator])
    duration_s = models.FloatField("duration (s)", null=True, blank=True)
    audio = models.FileField(upload_to=RandomKey("tracks"), blank=True, max_length=300)
    sha256 = models.CharField("SHA-256", max_length=64, null=True, blank=True, unique=True, editable=False)
    fingerprint_status = models.CharField(
        max_length=10, choices=FingerprintStatus.choices, default=FingerprintStatus.PENDING, editable=False
    )
    fingerprint_error = models.TextField(blank=True, editable=False)
    hash_count = models.PositiveIntegerField(default=0, editable=False)
    # What a listener sees with a match (catalog.selectors.track_cards): the track's own artwork,
    # else its album's; the owner's links (streaming services, the label's page); and, only when
    # the owner allows it, a short excerpt of the reference cut by catalog.services.
    artwork = models.FileField(upload_to=RandomKey("artwork"), blank=True, max_length=300, editable=False)
    links = ArrayField(models.URLField(max_length=500), size=8, default=list, blank=True)
    preview_allowed = models.BooleanField(
        "allow a preview",
        default=False,
        help_text="Listeners who identify this track may play a 30 s excerpt of its reference recording.",
    )
    preview = models.FileField(upload_to=RandomKey("previews"), blank=True, max_length=300, editable=False)

    class Meta:
        ordering = ["title", "id"]
        indexes = [
            models.Index(fields=["owner", "title"]),
            GinIndex(OpClass(Upper("title"), name="gin_trgm_ops"), name="track_title_trgm"),
            # The search's walk reads tracks in this order until a page is full (selectors.TrackSearch).
            models.Index(fields=["title", "id"], name="track_title_order"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def artist_names(self) -> str:
        return ", ".join(artist.name for artist in self.artists.all())


def _track_artist_link(link) -> str:
    return f"{link.artist} on “{link.track}”"


# Django's automatic row of Track.artists has no __str__ of its own ("Track_artists object (8)"
# on the admin's delete confirmations); a readable one, without a model and migration of our own.
Track.artists.through.__str__ = _track_artist_link  # type: ignore[method-assign]
Track.artists.through._meta.verbose_name = "artist credit"
Track.artists.through._meta.verbose_name_plural = "artist credits"
