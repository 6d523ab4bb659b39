"""The Chalice app: wiring only (middleware and blueprints); every view lives in chalicelib.api."""

from chalice import Chalice, ConvertToMiddleware

from chalicelib.api import captures, health, jobs, videos
from chalicelib.observability import logger

app = Chalice(app_name="prsnl-video")
app.register_middleware(ConvertToMiddleware(logger.inject_lambda_context(clear_state=True)))

for blueprint in (captures.bp, videos.bp, jobs.bp, health.bp):
    app.register_blueprint(blueprint)
