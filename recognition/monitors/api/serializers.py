"""Shapes of the monitors API: explicit fields only (never __all__), outputs read-only."""

from django.core.validators import URLValidator
from rest_framework import serializers

from recognition.monitors.models import DetectionDispute, Monitor


class MonitorInputSerializer(serializers.Serializer):
    """A new monitor: a live stream's URL, or a venue device (which gets a token instead)."""

    name = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=Monitor.Kind.choices, default=Monitor.Kind.STREAM)
    source_url = serializers.URLField(
        max_length=500,
        required=False,
        allow_blank=True,
        validators=[URLValidator(schemes=["http", "https"], message="A stream URL starts with http:// or https://.")],
        help_text="http(s) URL of a live stream (Icecast, Shoutcast, HLS).",
    )

    def validate(self, attrs):
        url = attrs.get("source_url", "")
        if attrs["kind"] == Monitor.Kind.STREAM and not url:
            raise serializers.ValidationError({"source_url": "A stream monitor needs the stream's URL."})
        if attrs["kind"] == Monitor.Kind.DEVICE and url:
            raise serializers.ValidationError({"source_url": "A device monitor has no URL: the device sends audio."})
        return attrs


class MonitorUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    paused = serializers.BooleanField(required=False)


class MonitorSerializer(serializers.Serializer):
    """A monitor and what it is doing now."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=Monitor.Kind.choices)
    source_url = serializers.CharField(allow_blank=True)
    state = serializers.ChoiceField(choices=Monitor.State.choices)
    state_reason = serializers.CharField(allow_blank=True, help_text="Why it is failed or reconnecting.")
    paused = serializers.BooleanField()
    heard_last_minute_s = serializers.FloatField(help_text="Seconds of audio heard in the last minute.")
    detections_today = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    url = serializers.CharField()
    detections_url = serializers.CharField()
    device_socket_path = serializers.CharField(required=False, help_text="Devices: where the device streams audio.")
    device_token = serializers.CharField(
        required=False, help_text="Devices: the token, shown once (at creation and after a rotation)."
    )


class DeviceTokenSerializer(serializers.Serializer):
    device_token = serializers.CharField(help_text="The new token; the old one stops working at once.")


class DetectionSerializer(serializers.Serializer):
    """One continuous play of a catalog track: wall-clock times (UTC) and positions in the track."""

    id = serializers.IntegerField()
    monitor_id = serializers.IntegerField()
    track_id = serializers.IntegerField(allow_null=True, help_text="null once the track left the catalog.")
    title = serializers.CharField()
    artist = serializers.CharField(allow_blank=True)
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField()
    offset_start_s = serializers.FloatField()
    offset_end_s = serializers.FloatField()
    confidence = serializers.FloatField()
    speed = serializers.FloatField(
        allow_null=True,
        help_text="How fast the play ran against the track (1.02 = 2 % fast), once measured, when it "
        "differs from 1 by 1 % or more; else null.",
    )
    open = serializers.BooleanField(help_text="True while the track may still be playing.")
    retroactive = serializers.BooleanField(
        help_text="Found later, in the monitor's retained history, when the track was added to the catalog."
    )
    updated_at = serializers.DateTimeField()
    evidence_url = serializers.CharField(allow_null=True, help_text="~10 s of the heard audio (Ogg/Opus).")
    disputed = serializers.BooleanField(
        help_text='Marked "not this track": left out of the reports and play logs (still listed here).'
    )


class DetectionDisputeEntrySerializer(serializers.Serializer):
    """One entry of a detection's audit trail."""

    action = serializers.ChoiceField(choices=DetectionDispute.Action.choices)
    reason = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    by = serializers.ChoiceField(
        choices=["monitor_owner", "rights_holder", "staff", ""],
        allow_blank=True,
        help_text="The role the user acted in; blank once the user is gone.",
    )
    user = serializers.CharField(
        allow_null=True, help_text="Username; null for the monitor's owner when you are neither them nor staff."
    )


class DetectionDetailSerializer(DetectionSerializer):
    """One detection as the monitor's owner, the track's rights holder or staff see it: the monitor
    by name only, and the audit trail of its disputes, oldest first."""

    monitor_name = serializers.CharField()
    retroactive = serializers.BooleanField(help_text="Found later, in the monitor's retained history.")
    url = serializers.CharField()
    disputes = DetectionDisputeEntrySerializer(many=True)


class DisputeInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, help_text='Why this is "not this track".')


class PlayLogRowSerializer(serializers.Serializer):
    """One cue-sheet line of a monitor's play log."""

    detection_id = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField()
    track_id = serializers.IntegerField(allow_null=True)
    title = serializers.CharField()
    artist = serializers.CharField(allow_blank=True)
    album = serializers.CharField(allow_blank=True)
    isrc = serializers.CharField(allow_blank=True)
    played_s = serializers.FloatField(help_text="Duration played, in seconds.")
    open = serializers.BooleanField(help_text="True while the track may still be playing.")
    speed = serializers.FloatField(
        allow_null=True,
        help_text="How fast the play ran against the track (1.1 = 10 % fast) when it differs from 1 by "
        "1 % or more; else null.",
    )
