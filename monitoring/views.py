from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone()[0] == 1
    except Exception:  # any failure of the probe is the answer, not an error
        return False


@require_GET
def healthz(request):
    """Liveness and readiness: 200 when the database answers `SELECT 1`, else 503."""
    database = "ok" if _database_ok() else "unavailable"
    healthy = database == "ok"
    body = {"status": "ok" if healthy else "error", "database": database}
    if not healthy:
        body["failing"] = ["database"]
    response = JsonResponse(body, status=200 if healthy else 503)
    response["Cache-Control"] = "no-store"
    return response
