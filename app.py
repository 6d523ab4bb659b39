"""The Chalice app: wiring only (middleware and blueprints); every view lives in chalicelib.api."""

from chalice import Chalice, ConvertToMiddleware

from chalicelib import observability
from chalicelib.api import admin_metrics, captures, health, jobs, platforms, schedules, storage, videos
from chalicelib.observability import logger
from chalicelib.telegram import webhook as telegram

app = Chalice(app_name="prsnl-video")
app.register_middleware(ConvertToMiddleware(logger.inject_lambda_context(clear_state=True)))
app.register_middleware(ConvertToMiddleware(observability.traced))
app.register_middleware(observability.correlate_request, "http")

for blueprint in (captures.bp, videos.bp, jobs.bp, storage.bp, platforms.bp, health.bp, schedules.bp,
                  telegram.bp, admin_metrics.bp):
    app.register_blueprint(blueprint)
