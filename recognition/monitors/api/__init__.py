"""The monitors API: /api/v1/monitors with their detections and play logs; detections, their evidence and disputes."""
