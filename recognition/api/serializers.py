"""Shapes of the recognition API: explicit fields only (never __all__), outputs read-only."""

from rest_framework import serializers

from portal.openapi import ErrorDetailSerializer


def speed_field() -> serializers.FloatField:
    """A match's or a play's speed, as every API that reports one describes it."""
    return serializers.FloatField(
        allow_null=True,
        help_text="How fast the audio ran against the track (its time factor: 1.1 = played 10 % fast), "
        "when it differs from 1 by 1 % or more; null as recorded.",
    )


def pitch_field() -> serializers.FloatField:
    """A match's or a play's pitch shift, as every API that reports one describes it."""
    return serializers.FloatField(
        allow_null=True,
        help_text="How far the audio's pitch was moved from the track's, in semitones (negative: down), "
        "when 0.5 or more; null as recorded.",
    )


class MatchSerializer(serializers.Serializer):
    track_id = serializers.IntegerField()
    title = serializers.CharField()
    artist = serializers.CharField(allow_blank=True)
    offset_s = serializers.FloatField(help_text="Where the clip starts in the track, in seconds.")
    confidence = serializers.FloatField(help_text="1 minus the bound on the chance of a false match.")
    speed = speed_field()
    pitch_semitones = pitch_field()


class SegmentSerializer(MatchSerializer):
    start_s = serializers.FloatField(help_text="Start of the segment in the input, in seconds.")
    end_s = serializers.FloatField(help_text="End of the segment in the input, in seconds.")


class RecognitionSerializer(serializers.Serializer):
    """A recognition: its status, its best match (or null) and, for long media, every segment."""

    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["pending", "running", "done", "failed"])
    match = MatchSerializer(allow_null=True)
    segments = SegmentSerializer(many=True)
    duration_s = serializers.FloatField(allow_null=True)
    created_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    error = ErrorDetailSerializer(required=False, help_text="Why a failed recognition failed.")
    url = serializers.CharField(required=False)


class RecognitionInputSerializer(serializers.Serializer):
    """A clip or recording: any audio or video format, in the multipart field `file`."""

    file = serializers.FileField()


class WebhookInputSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=500)


class WebhookUpdateSerializer(serializers.Serializer):
    active = serializers.BooleanField(help_text="`true` switches a webhook that was switched off on again.")


class WebhookSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.URLField()
    active = serializers.BooleanField()
    failures_in_row = serializers.IntegerField(help_text="Failed attempts since the last delivered one.")
    disabled_reason = serializers.CharField(allow_blank=True, help_text="Why Earshot switched the webhook off.")
    disabled_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    secret = serializers.CharField(
        required=False, help_text="Shown once, when the webhook is created or its secret rotated."
    )


class WebhookDeliverySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    recognition = serializers.UUIDField(source="recognition_id")
    event = serializers.CharField()
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
