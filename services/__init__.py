"""The domain: functions that take a session and the acting user, scope every query and
raise domain errors. Nothing here imports FastAPI."""
