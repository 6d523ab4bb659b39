"""The Chalice app: wiring only (middleware and blueprints); every view lives in chalicelib.api and chalicelib.web."""

from chalice import Chalice, ConvertToMiddleware

from chalicelib import observability
from chalicelib.api import (
    admin_metrics,
    captures,
    docs,
    fallback,
    health,
    jobs,
    me,
    platforms,
    schedules,
    storage,
    videos,
)
from chalicelib.observability import logger
from chalicelib.telegram import webhook as telegram
from chalicelib.web import library, watch

app = Chalice(app_name="prsnl-video")
app.register_middleware(ConvertToMiddleware(logger.inject_lambda_context(clear_state=True)))
app.register_middleware(ConvertToMiddleware(observability.traced))
app.register_middleware(observability.correlate_request, "http")

for blueprint in (captures.bp, videos.bp, jobs.bp, storage.bp, platforms.bp, health.bp, schedules.bp,
                  telegram.bp, admin_metrics.bp, docs.bp, library.bp, watch.bp, me.bp):
    app.register_blueprint(blueprint)
fallback.register(app)  # last: it answers what the routes above do not
