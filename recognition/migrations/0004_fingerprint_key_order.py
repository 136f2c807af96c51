"""Primary key of the triplet rows: (hash, offset, track) instead of (hash, track, offset).

The same rows are unique either way, and stage 1 only ever searches the key by its first
column. The order changes the size: with the 4-byte offset before the 8-byte track id nothing
is padded, so each index entry is 24 bytes instead of 32, and the key (the largest part of
the hash store) shrinks by ~22 %: 52 -> 41 bytes a row as left by ingests, 41 -> 32 rebuilt
(docs/scaling.md). Changing the constraint rebuilds the index, compact, in one statement.
"""

from django.db import migrations, models

_SWAP = (
    "ALTER TABLE recognition_fingerprint DROP CONSTRAINT recognition_fingerprint_pkey, "
    "ADD CONSTRAINT recognition_fingerprint_pkey PRIMARY KEY ({})"
)


class Migration(migrations.Migration):

    dependencies = [
        ('recognition', '0003_pair_lists'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    sql=_SWAP.format("hash, offset_frames, track_id"),
                    reverse_sql=_SWAP.format("hash, track_id, offset_frames"),
                ),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name='fingerprint',
                    name='pk',
                    field=models.CompositePrimaryKey(
                        'hash', 'offset_frames', 'track', blank=True, editable=False, primary_key=True, serialize=False
                    ),
                ),
            ],
        ),
    ]
