"""Static file storage: hashed, compressed names once collected; plain names before that."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticStorage(CompressedManifestStaticFilesStorage):
    """WhiteNoise's manifest storage that falls back to the unhashed name of an uncollected file.

    Tests and a fresh checkout render templates before `collectstatic` has run; they get the
    plain file name (served by WhiteNoise from the app folders) instead of an error.
    """

    manifest_strict = False

    def stored_name(self, name):
        try:
            return super().stored_name(name)
        except ValueError:
            return name
