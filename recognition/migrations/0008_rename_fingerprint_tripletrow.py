from django.db import migrations


class Migration(migrations.Migration):
    """The model of stage 1's triplet rows is named for what it holds: Fingerprint -> TripletRow.

    Its table keeps its name (Meta.db_table = "recognition_fingerprint"), so the rename is in
    Django's state only: `manage.py sqlmigrate recognition 0008` prints `-- (no-op)` both ways,
    no ALTER TABLE and no table rewrite, so the migration takes no time however many rows the
    table holds. No foreign key or many-to-many table points at the model, so nothing else moves."""

    dependencies = [
        ("recognition", "0007_frame_sketches"),
    ]

    operations = [
        migrations.RenameModel(old_name="Fingerprint", new_name="TripletRow"),
    ]
