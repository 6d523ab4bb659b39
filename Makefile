# PRSNL Video: `make run` starts everything locally, `make test` runs every check. Python 3.11 is all it needs.
# `make run` installs only what the local stack needs; `make test`, `make synth` and `make deploy` add the
# tests' and the deploy tooling (CDK, Node.js from PyPI, cfn-lint). PYTHON=python3.12 and VENV=dir work too.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run worker reset test lint venv clean bench smoke-platforms synth deploy bot

$(PY):
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11 (or set PYTHON=python3.12)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(RUN_STAMP): $(PY) requirements.txt layers/worker/requirements.txt requirements-local.txt pyproject.toml
	$(PY) -m pip install --quiet -r requirements-local.txt -e .
	touch $(RUN_STAMP)

$(DEV_STAMP): $(RUN_STAMP) requirements-dev.txt requirements-infra.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt -r requirements-infra.txt
	touch $(DEV_STAMP)

venv: $(DEV_STAMP)

## run: the local stack (moto, API on 127.0.0.1:8000, worker, sample media) in the foreground; what it saves is kept
run: $(RUN_STAMP)
	@$(PY) -m chalicelib.local.stack

## worker: start the worker again, alone, against the running `make run` (after it stopped or was killed)
worker: $(RUN_STAMP)
	@$(PY) -m chalicelib.local.worker_loop

## reset: empty what `make run` saved (videos, records, keys) after asking; `make run` must be stopped
reset:
	@read -p "Delete everything \`make run\` saved under $${PRSNL_LOCAL_DIR:-.local} (videos, records, API key)? [y/N] " answer; \
	  [ "$$answer" = y ] || [ "$$answer" = Y ] || { echo "nothing deleted"; exit 0; }; \
	  rm -rf "$${PRSNL_LOCAL_DIR:-.local}/data" "$${PRSNL_LOCAL_DIR:-.local}/stack.json" && echo "emptied"

## test: ruff, then the whole pytest suite
test: $(DEV_STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -n 2 -q

## bot: the Telegram bot in polling mode against `make run`'s stack (needs PRSNL_TELEGRAM_TOKEN, PRSNL_TELEGRAM_ALLOWED_USERS)
bot: $(RUN_STAMP)
	$(PY) -m chalicelib.cli bot

## smoke-platforms: capture one public URL per platform for real (skipped, and says so, without internet)
smoke-platforms: $(DEV_STAMP)
	PRSNL_SMOKE=1 $(PY) -m pytest -q -rs tests/integration/test_platform_processors_smoke.py

## synth: CloudFormation of PRSNL_STAGE (default dev) into infra/cdk.out, offline (no AWS account, no Docker)
synth: $(DEV_STAMP)
	$(PY) -m infra.cdk_app

## deploy: needs AWS credentials, Docker, CDN_PUBLIC_KEY=<public PEM file>; optional CDK_ARGS="-c alarm_email=..."
CDK := PATH="$(CURDIR)/$(VENV)/bin:$$PATH" npx --yes aws-cdk@2.1148.1
deploy: $(DEV_STAMP)
	@test -n "$(CDN_PUBLIC_KEY)" || { echo "CDN_PUBLIC_KEY=<public key PEM file> is required"; exit 1; }
	$(CDK) deploy --require-approval broadening --parameters CdnPublicKeyPem="$$(cat $(CDN_PUBLIC_KEY))" $(CDK_ARGS)

lint: $(DEV_STAMP)
	$(PY) -m ruff check .

bench: $(DEV_STAMP)
	$(PY) bench/pipeline.py

## clean: the venv and build output (never what `make run` saved: that is `make reset`)
clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache chalice.out cdk.out infra/cdk.out .chalice/deployments
