"""Pair lists in byte planes: the same big-endian int8 values, their bytes stored plane by plane.

Sorted hashes and frames change slowly in their high bytes, so with every value's first byte
together, then every second byte, and so on, PostgreSQL's lz4 compresses a list to ~3.2 bytes a
pair instead of ~5.9 (recognition.store). The values, their order and the byte count are
unchanged, so counts taken as octet_length / 8 still hold. Rewrites every list, both ways.
"""

import numpy as np
from django.db import migrations

_VALUE_BYTES = 8
_BATCH = 500


def _rewrite(schema_editor, to_planes: bool) -> None:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT track_id FROM recognition_pairlist ORDER BY track_id")
        track_ids = [track_id for (track_id,) in cursor.fetchall()]
        for start in range(0, len(track_ids), _BATCH):
            cursor.execute(
                "SELECT track_id, packed FROM recognition_pairlist WHERE track_id = ANY(%s)",
                [track_ids[start : start + _BATCH]],
            )
            for track_id, packed in cursor.fetchall():
                data = np.frombuffer(bytes(packed), dtype=np.uint8)
                shape = (-1, _VALUE_BYTES) if to_planes else (_VALUE_BYTES, -1)
                cursor.execute(
                    "UPDATE recognition_pairlist SET packed = %s WHERE track_id = %s",
                    [data.reshape(shape).T.tobytes(), track_id],
                )


def to_planes(apps, schema_editor):
    _rewrite(schema_editor, to_planes=True)


def to_values(apps, schema_editor):
    _rewrite(schema_editor, to_planes=False)


class Migration(migrations.Migration):

    dependencies = [
        ('recognition', '0005_triplet_writes'),
    ]

    operations = [
        migrations.RunPython(to_planes, to_values),
    ]
