"""Monitors: live streams and venue devices watched around the clock, and the plays heard in them.

A Django app of its own (label `monitors`): models, the lease-taking worker, stream and device
sources, detections, their API, pages and device socket. The recognition itself is the engine's
`StreamMonitor`; this app feeds it audio and keeps what it says.
"""
