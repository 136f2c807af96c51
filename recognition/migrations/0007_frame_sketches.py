import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """Frame sketches, one value per track (recognition.engine.sketch). A new table: nothing existing is
    rewritten. Tracks ingested before it have no sketch until they are ingested again
    (`manage.py sketch_tracks` sketches them from their stored audio); until then they are
    recognised by their landmarks alone."""

    dependencies = [
        ("catalog", "0001_initial"),
        ("recognition", "0006_pair_list_byte_planes"),
    ]

    operations = [
        migrations.CreateModel(
            name="FrameSketch",
            fields=[
                (
                    "track",
                    models.OneToOneField(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="catalog.track",
                    ),
                ),
                ("frames", models.BinaryField()),
            ],
            options={"db_table": "recognition_framesketch"},
        ),
        # Cascade in PostgreSQL, checked at commit, as for recognition_pairlist (0003).
        migrations.RunSQL(
            sql=(
                "ALTER TABLE recognition_framesketch ADD CONSTRAINT recognition_framesketch_track_fk "
                "FOREIGN KEY (track_id) REFERENCES catalog_track (id) ON DELETE CASCADE "
                "DEFERRABLE INITIALLY DEFERRED"
            ),
            reverse_sql="ALTER TABLE recognition_framesketch DROP CONSTRAINT recognition_framesketch_track_fk",
        ),
        # Out of line and uncompressed: substring() then reads only the chunks of a slice.
        migrations.RunSQL(
            sql="ALTER TABLE recognition_framesketch ALTER COLUMN frames SET STORAGE EXTERNAL",
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
