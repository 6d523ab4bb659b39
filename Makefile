# PRSNL Video: `make run` starts everything locally, `make test` runs every check. Python 3.11 is all it needs.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint venv clean bench smoke-platforms synth deploy bot

$(STAMP): requirements.txt layers/worker/requirements.txt requirements-dev.txt $(wildcard requirements-infra.txt)
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt $(if $(wildcard requirements-infra.txt),-r requirements-infra.txt)
	touch $(STAMP)

venv: $(STAMP)

## run: the local stack (moto, API on 127.0.0.1:8000, worker loop, sample media) in the foreground
run: $(STAMP)
	$(PY) -m chalicelib.local.stack

## test: ruff, then the whole pytest suite (skip reasons printed: without Chromium, the browser tests say they did not run)
test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -n 2 -q -rs

## bot: the Telegram bot in polling mode against `make run`'s stack (needs PRSNL_TELEGRAM_TOKEN, PRSNL_TELEGRAM_ALLOWED_USERS)
bot: $(STAMP)
	$(PY) -m chalicelib.cli bot

## smoke-platforms: capture one public URL per platform for real (skipped, and says so, without internet)
smoke-platforms: $(STAMP)
	PRSNL_SMOKE=1 $(PY) -m pytest -q -rs tests/integration/test_platform_processors_smoke.py

## synth: CloudFormation of PRSNL_STAGE (default dev) into infra/cdk.out, offline (no AWS account, no Docker)
synth: $(STAMP)
	$(PY) -m infra.cdk_app

## deploy: needs AWS credentials, Docker, CDN_PUBLIC_KEY=<public PEM file>; optional CDK_ARGS="-c alarm_email=..."
CDK := PATH="$(CURDIR)/$(VENV)/bin:$$PATH" npx --yes aws-cdk@2.1148.1
deploy: $(STAMP)
	@test -n "$(CDN_PUBLIC_KEY)" || { echo "CDN_PUBLIC_KEY=<public key PEM file> is required"; exit 1; }
	$(CDK) deploy --require-approval broadening --parameters CdnPublicKeyPem="$$(cat $(CDN_PUBLIC_KEY))" $(CDK_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .

bench: $(STAMP)
	$(PY) bench/pipeline.py

clean:
	rm -rf $(VENV) .local .pytest_cache .ruff_cache chalice.out cdk.out infra/cdk.out .chalice/deployments
