"""The catalog in the Django admin: the rights holders' tool.

A rights holder sees, edits and deletes only rows they own; the owner is set from the request on
save and is not a form field for them, so a crafted POST cannot give a row to someone else, and
another owner's row answers 404 whatever the URL. Staff see and edit everything.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ORDER_VAR
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.http import Http404, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from accounts.http import AuthenticatedHttpRequest
from accounts.models import Role, User
from catalog import selectors
from catalog.artwork import ArtworkRejected, checked_upload
from catalog.links import MAX_LINKS, links_cleaned
from catalog.models import Album, Artist, Track, isrc_validator
from catalog.services import album_artwork_set, track_artwork_set, track_update, tracks_delete
from portal.formatting import count, duration
from portal.pagination import CappedCountPaginator
from recognition.engine.audio import AudioError
from recognition.models import Play
from recognition.services import (
    DuplicateRecording,
    metadata_from_tags,
    reference_from_upload,
    track_create,
    track_ingest_upload,
    track_replace_reference,
)

# Files one "add several tracks" form takes: each is fingerprinted while the page waits.
MAX_FILES_AT_ONCE = 25


def duplicate_message(track: Track, user: User) -> str | SafeString:
    """ "Already in the catalog", with a link to the track for a user who may open it; for
    anyone else without its title, which belongs to another rights holder."""
    if user.sees_whole_catalog or track.owner_id == user.id:
        url = reverse("admin:catalog_track_change", args=[track.pk])
        return format_html('This recording is already in the catalog: <a href="{}">{}</a>.', url, track.title)
    return "This recording is already in the catalog, under another rights holder."


class OwnedRelatedFieldListFilter(admin.RelatedFieldListFilter):
    """The sidebar filter on a related owned row (album, artist): only rows the user may see.

    Django's filter lists every row of the related table, which would show a rights holder the
    titles of every other owner's albums.
    """

    def field_choices(self, field, request, model_admin):
        visible = {"album": selectors.albums_visible_to, "artist": selectors.artists_visible_to}[field.name]
        ordering = self.field_admin_ordering(field, request, model_admin) or field.related_model._meta.ordering
        return [(row.pk, str(row)) for row in visible(request.user).order_by(*ordering)]


class OwnerScopedAdmin(admin.ModelAdmin):
    """Admin of rows with an `owner`: scoped queryset, object permissions, owner from the request."""

    def _manages(self, request: AuthenticatedHttpRequest) -> bool:
        return request.user.is_active and request.user.manages_catalog

    def _may_touch(self, request: AuthenticatedHttpRequest, obj) -> bool:
        return self._manages(request) and (
            obj is None or request.user.sees_whole_catalog or obj.owner_id == request.user.id
        )

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset if request.user.sees_whole_catalog else queryset.filter(owner=request.user)

    def get_object(self, request, object_id, from_field=None):
        # The default turns "not in the queryset" into a redirect to the index; another owner's
        # row must look exactly like a row that does not exist.
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404("No such object.")
        return obj

    def has_module_permission(self, request):
        return self._manages(request)

    def has_view_permission(self, request, obj=None):
        return self._may_touch(request, obj)

    def has_add_permission(self, request):
        return self._manages(request)

    def has_change_permission(self, request, obj=None):
        return self._may_touch(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._may_touch(request, obj)

    def get_fields(self, request, obj=None):
        fields = list(super().get_fields(request, obj))
        if not request.user.sees_whole_catalog and "owner" in fields:
            fields.remove("owner")
        return fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        form.request_user_id = request.user.id
        return form

    def get_list_display(self, request):
        columns = list(super().get_list_display(request))
        return [*columns, "owner"] if request.user.sees_whole_catalog else columns

    def get_list_filter(self, request):
        filters = list(super().get_list_filter(request))
        return [*filters, "owner"] if request.user.sees_whole_catalog else filters

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "owner":
            kwargs["queryset"] = User.objects.filter(role__in=[Role.RIGHTS_HOLDER, Role.STAFF]).order_by("username")
        elif db_field.name == "album":
            kwargs["queryset"] = selectors.albums_visible_to(request.user)
        elif db_field.name == "artist":
            kwargs["queryset"] = selectors.artists_visible_to(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "artists":
            kwargs["queryset"] = selectors.artists_visible_to(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if not change and not request.user.sees_whole_catalog:
            obj.owner = request.user
        obj.save()


class OwnerConsistencyForm(forms.ModelForm):
    """Related rows (artists, album) must belong to the owner of the row being saved."""

    def _owner_id(self):
        owner = self.cleaned_data.get("owner") if "owner" in self.fields else None
        if owner is not None:
            return owner.id
        if self.instance.owner_id:
            return self.instance.owner_id
        return getattr(self, "request_user_id", None)

    def clean(self):
        cleaned = super().clean()
        owner_id = self._owner_id()
        if owner_id is None:
            return cleaned
        for name in ("artist", "album"):
            related = cleaned.get(name)
            if related is not None and related.owner_id != owner_id:
                self.add_error(name, "This belongs to another rights holder.")
        artists = cleaned.get("artists")
        if artists is not None and any(artist.owner_id != owner_id for artist in artists):
            self.add_error("artists", "Some of these artists belong to another rights holder.")
        return cleaned


class LinksField(forms.CharField):
    """Links typed one a line; cleaned by catalog.links (plain http(s), at most MAX_LINKS)."""

    widget = forms.Textarea(attrs={"rows": 4, "cols": 80})

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list | tuple) else value

    def to_python(self, value):
        return links_cleaned((super().to_python(value) or "").splitlines())


class ArtworkForm(OwnerConsistencyForm):
    """A form with an artwork upload, checked (catalog.artwork) when it is cleaned, and a box that
    removes the artwork. The admin stores it through the services after saving, which re-encode it."""

    artwork_file = forms.FileField(
        label="Artwork",
        required=False,
        help_text="A square JPEG, PNG or WebP, up to 4 MiB; it is re-encoded as a JPEG of at most 600 px.",
    )
    artwork_remove = forms.BooleanField(label="Remove the artwork", required=False)

    def clean_artwork_file(self):
        upload = self.cleaned_data.get("artwork_file")
        if upload is None:
            return None
        try:
            return checked_upload(upload)
        except ArtworkRejected as refused:
            raise ValidationError(refused.message, code=refused.code) from None

    def artwork_change(self) -> tuple[bool, bytes | None]:
        """(whether the artwork changes, the new image or None to remove it)."""
        image = self.cleaned_data.get("artwork_file")
        if image is not None:
            return True, image
        return bool(self.cleaned_data.get("artwork_remove")), None


class TrackAdminForm(ArtworkForm):
    """Track form that decodes and fingerprints an uploaded reference before anything is saved.

    With a file, the title, artists and album may be left blank: the file's tags fill them (the
    title else from the file's name), as `manage.py ingest` does.
    """

    request_user: User

    links = LinksField(
        required=False,
        help_text=f"Where listeners can hear or buy it (streaming services, the label's page): one "
        f"http(s) address a line, at most {MAX_LINKS}. Listeners see them with a match.",
    )

    class Meta:
        model = Track
        fields = ("title", "artists", "album", "isrc", "audio", "preview_allowed", "links", "owner")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["artwork_file"].help_text += " Without one, listeners see the album's."
        self.reference, self.digest = None, ""
        if "title" in self.fields:
            self.fields["title"].required = False
            self.fields["title"].help_text = "Left blank, the file's title tag (else its name) is used."
        if "artists" in self.fields:
            self.fields["artists"].help_text = "Left empty, the file's artist tag is used."
        if "album" in self.fields:
            self.fields["album"].help_text = "Left empty, the file's album tag is used."
        if "audio" in self.fields:
            self.fields["audio"].required = self.instance.pk is None
            self.fields["audio"].help_text = (
                "The reference recording (any audio or video format ffmpeg reads). "
                "It is fingerprinted when you save; the page waits until that is done."
            )

    def clean_audio(self):
        upload = self.cleaned_data.get("audio")
        if upload is None or "audio" not in self.changed_data or not hasattr(upload, "chunks"):
            return upload
        try:
            self.reference, self.digest = reference_from_upload(upload)
        except AudioError as error:
            raise forms.ValidationError(error.message, code=error.code) from None
        except DuplicateRecording as error:
            raise forms.ValidationError(duplicate_message(error.track, self.request_user), code="duplicate") from None
        return upload

    def clean(self):
        cleaned = super().clean()
        sent_a_file = bool(self.files.get(self.add_prefix("audio")))  # a refused file says why itself
        if not cleaned.get("title") and self.reference is None and not sent_a_file:
            self.add_error("title", "Give a title, or a file whose tags (or name) give one.")
        return cleaned

    def metadata(self) -> dict:
        """The metadata to save: what the form holds, blanks filled from the new file's tags."""
        data = self.cleaned_data
        given = {"title": data.get("title") or "", "isrc": data.get("isrc") or "", "album": data.get("album"),
                 "artists": list(data.get("artists") or [])}  # fmt: skip
        if self.reference is None:
            return given
        tagged = metadata_from_tags(self.reference.tags, file_name=data["audio"].name or "reference")
        return {name: value or tagged[name] for name, value in given.items()}


@admin.register(Track)
class TrackAdmin(OwnerScopedAdmin):
    form = TrackAdminForm
    list_display = (
        "title",
        "artist_list",
        "album",
        "isrc",
        "duration",
        "fingerprint_status",
        "hash_count",
        "updated_at",
    )
    list_filter = ("fingerprint_status", ("album", OwnedRelatedFieldListFilter))
    search_fields = ("title", "artists__name", "isrc")
    search_help_text = "Words of the title or an artist's name, or an ISRC."
    # The count stops at 1,000 ("more than 1,000 tracks"), and no count of the whole catalog:
    # a common word matches hundreds of thousands of tracks (docs/decisions.md).
    paginator = CappedCountPaginator
    show_full_result_count = False
    readonly_fields = (
        "artwork_shown",
        "duration_s",
        "sha256",
        "fingerprint_status",
        "hash_count",
        "fingerprint_error",
        "created_at",
        "updated_at",
    )
    filter_horizontal = ("artists",)
    list_select_related = ("album",)
    actions = ["delete_selected"]
    change_list_template = "admin/catalog/track/change_list.html"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("artists")

    def get_search_results(self, request, queryset, search_term):
        """An exact ISRC, or words of a title or an artist's name as the API searches them
        (selectors.TrackSearch: the trigram indexes for a rare word, the title order for a common
        one when the list is in title order)."""
        words = search_term.strip()
        if not words:
            return queryset, False
        if isrc_validator.regex.fullmatch(words.upper()):
            return queryset.filter(isrc=words.upper()), False
        # A rights holder's own tracks are few: the union (an owner never walks the whole catalog).
        owner = None if request.user.sees_whole_catalog else request.user
        search = selectors.TrackSearch(words=words, owner=owner)
        in_title_order = not request.GET.get(ORDER_VAR)
        return search.filtered(queryset, stop=self.list_per_page + 1, in_title_order=in_title_order), False

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        form.request_user = request.user  # who may see the track a duplicate is of
        return form

    def get_urls(self):
        add_many = path("add-many/", self.admin_site.admin_view(self.add_many_view), name="catalog_track_add_many")
        return [add_many, *super().get_urls()]

    def add_many_view(self, request: AuthenticatedHttpRequest) -> HttpResponse:
        """Add several reference files at once, each through the service a single add uses, with
        one result per file: added, a duplicate of a track, or refused with the reason."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = AddManyForm(request.POST or None, request.FILES or None, user=request.user)
        results = []
        if request.method == "POST" and form.is_valid():
            owner = form.cleaned_data.get("owner") or request.user
            artist = form.cleaned_data["artist"].strip()
            for upload in form.cleaned_data["references"]:
                outcome = track_ingest_upload(
                    upload=upload, owner=owner, artist_names=[artist] if artist else [],
                    album_title=form.cleaned_data["album"].strip() or None,
                )  # fmt: skip
                results.append(_result_row(upload.name, outcome, request.user))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Add several tracks",
            "form": form,
            "results": results,
            "added": sum(row["status"] == "added" for row in results),
            "max_files": MAX_FILES_AT_ONCE,
        }
        return TemplateResponse(request, "admin/catalog/track/add_many.html", context)

    def get_deleted_objects(self, objs, request):
        """Name what goes with each track, readably: its fingerprint hashes, its audio file, its
        artist credits and its plays in the reports (Django would list the credits as
        "Track_artists object (8)" and say nothing of the hashes, which PostgreSQL deletes)."""
        _, _, perms_needed, protected = super().get_deleted_objects(objs, request)
        tracks = list(objs)
        heard = Play.objects.filter(track__in=tracks).values("track").annotate(n=models.Count("pk"))
        plays = dict(heard.values_list("track", "n"))
        deleted: list = []
        for track in tracks:
            url = reverse("admin:catalog_track_change", args=[track.pk])
            deleted.append(format_html('Track: <a href="{}">{}</a>', url, track.title))
            deleted.append(_what_goes_with(track, plays.get(track.pk, 0)))
        summary = {
            "tracks": count(len(tracks)),
            "fingerprint hashes": count(sum(track.hash_count for track in tracks)),
            "audio files": count(sum(1 for track in tracks if track.audio)),
        }
        if plays:
            summary["plays in reports"] = count(sum(plays.values()))
        return deleted, summary, perms_needed, protected

    @admin.display(description="artists")
    def artist_list(self, track: Track) -> str:
        return track.artist_names

    @admin.display(description="artwork shown")
    def artwork_shown(self, track: Track) -> str:
        cards = selectors.track_cards([track.pk]) if track.pk else {}
        url = cards.get(track.pk, {}).get("artwork_url")
        if not url:
            return "none (nor on its album)"
        return format_html('<img src="{}" alt="" width="120" height="120">', url)

    @admin.display(description="duration", ordering="duration_s")
    def duration(self, track: Track) -> str:
        if track.duration_s is None:
            return "—"
        minutes, seconds = divmod(round(track.duration_s), 60)
        return f"{minutes}:{seconds:02d}"

    def save_model(self, request, obj, form, change):
        # Through the services every interface uses. An edit locks the row and writes only the
        # metadata, so a form saved after another request deleted the track or replaced its
        # reference answers 404 or keeps the new reference, instead of writing back what it read.
        data = form.cleaned_data
        metadata = {**form.metadata(), "links": data["links"], "preview_allowed": data["preview_allowed"]}
        if change:
            track = track_update(track=obj, owner=data.get("owner"), **metadata)
            if form.reference is not None:
                track_replace_reference(track=track, reference=form.reference, digest=form.digest, audio=data["audio"])
        else:
            track = track_create(
                owner=data.get("owner") or request.user, reference=form.reference, digest=form.digest,
                audio=data["audio"], **metadata,
            )  # fmt: skip
            obj.pk = track.pk  # the admin logs and redirects with its own object
        changes_artwork, image = form.artwork_change()
        if changes_artwork:
            track_artwork_set(track=track, image=image)
        obj.refresh_from_db()
        if form.reference is not None:
            seconds = duration(track.duration_s)
            messages.info(request, f"Fingerprinted {count(track.hash_count)} hashes from {seconds} of audio.")

    def save_related(self, request, form, formsets, change):
        """Nothing more to save: the services wrote the artists (form.save_m2m would again)."""

    def delete_model(self, request, obj):
        tracks_delete(tracks=[obj])

    def delete_queryset(self, request, queryset):
        tracks_delete(tracks=queryset)


def _what_goes_with(track: Track, plays: int) -> list[str]:
    """The lines under a track on its delete confirmation."""
    lines = [f"its {count(track.hash_count)} fingerprint hashes (it will no longer be recognised)"]
    if track.audio:
        lines.append(f"its audio file {(track.audio.name or '').rsplit('/', 1)[-1]}")
    credits = [artist.name for artist in track.artists.all()]
    if credits:
        lines.append(f"its artist credits ({', '.join(credits)}; the artists stay)")
    if plays:
        lines.append(f"its {count(plays)} plays in the reports")
    return lines


def _result_row(name: str | None, outcome, user: User) -> dict:
    """One file's line of an "add several tracks" result."""
    row: dict = {"name": name or "file", "status": outcome.status, "reason": outcome.reason, "link": ""}
    if outcome.status == "added":
        row["link"] = reverse("admin:catalog_track_change", args=[outcome.track.pk])
        row["title"] = outcome.track.title
    elif outcome.status == "duplicate":
        row["reason"] = duplicate_message(outcome.track, user)
    return row


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one field (Django's documented recipe)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(one, initial) for one in data]
        return [single(data, initial)]


class AddManyForm(forms.Form):
    """Several reference files; their tags give each its title, artists and album."""

    references = MultipleFileField(
        label="Files",
        help_text=f"Up to {MAX_FILES_AT_ONCE} audio or video files. Each is fingerprinted while the page waits.",
    )
    artist = forms.CharField(
        max_length=200, required=False, help_text="For files whose tags name no artist (optional)."
    )
    album = forms.CharField(max_length=300, required=False, help_text="For files whose tags name no album (optional).")

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        if user.sees_whole_catalog:
            self.fields["owner"] = forms.ModelChoiceField(
                User.objects.filter(role__in=[Role.RIGHTS_HOLDER, Role.STAFF]).order_by("username"),
                required=False,
                help_text="The rights holder the tracks belong to (you, when left empty).",
            )

    def clean_references(self):
        files = self.cleaned_data["references"]
        if len(files) > MAX_FILES_AT_ONCE:
            raise forms.ValidationError(f"Send at most {MAX_FILES_AT_ONCE} files at once.")
        return files


@admin.register(Artist)
class ArtistAdmin(OwnerScopedAdmin):
    form = OwnerConsistencyForm
    list_display = ("name", "updated_at")
    search_fields = ("name",)
    fields = ("name", "owner")


class AlbumAdminForm(ArtworkForm):
    class Meta:
        model = Album
        fields = ("title", "artist", "release_year", "label", "owner")


@admin.register(Album)
class AlbumAdmin(OwnerScopedAdmin):
    form = AlbumAdminForm
    list_display = ("title", "artist", "release_year", "label", "has_artwork")
    search_fields = ("title", "artist__name", "label")
    list_filter = ("release_year", ("artist", OwnedRelatedFieldListFilter))
    fields = ("title", "artist", "release_year", "label", "artwork_file", "artwork_remove", "owner")

    @admin.display(description="artwork", boolean=True)
    def has_artwork(self, album: Album) -> bool:
        return bool(album.artwork)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        changes_artwork, image = form.artwork_change()
        if changes_artwork:
            album_artwork_set(album=obj, image=image)
