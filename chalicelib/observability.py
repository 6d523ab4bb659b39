"""Powertools logger, tracer and metrics: the only module-level singletons (they do no I/O at import)."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics

NAMESPACE = "PRSNL/Video"

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "prsnl"))
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE))
