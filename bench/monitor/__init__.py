"""Monitors on live stations: detection delay, accuracy, CPU, capacity and faults (issue 34, G23).

    .venv/bin/python -m bench.monitor [--quick]   # make bench-monitor: ~25 min (--quick: ~5 min)
    .venv/bin/python -m bench.monitor faults      # make faults-monitor: worker killed, station and
                                                  # PostgreSQL restarted (~8 min)

On a scratch database, half of the corpus's recordings are indexed; loopback stations (paced
Icecast-style MP3 and live HLS, bench/streams.py) play looped playlists of catalog excerpts (20-40 s,
cut or crossfaded), music never indexed, speech-like sound and silence at real-time pace
(`playlists`). Real `manage.py monitor_worker` processes listen through monitors created with the
API of a live Daphne, and pollers read the API and the database (`rig`). `scoring` judges what they
saw against what went on air. Results: bench/results/monitor.json and monitor_faults.json.
"""
