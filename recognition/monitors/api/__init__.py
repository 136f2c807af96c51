"""The monitors API: /api/v1/monitors, their detections and the detections' evidence."""
