"""Reports for rights holders: where their music was heard (monitors, uploads, API clips, listens).

No models of its own: it reads monitor detections and the play ledger (recognition.models.Play)
through `selectors`, parses what a report covers with `filters`, draws its chart with `chart`
and writes its CSV with `export`; `views` and `urls` are the pages (/reports/), `api` is
GET /api/v1/reports/plays and GET /api/v1/reports/plays/times (a row's plays one by one).
"""
