# PRSNL Video: `make run` starts everything locally, `make test` runs every check. Python 3.11 is all it needs.
# `make run` installs only what the local stack needs; `make test`, `make synth` and `make deploy` add the
# tests' and the deploy tooling (CDK, Node.js from PyPI, cfn-lint). PYTHON=python3.12 and VENV=dir work too.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run worker reset test test-reliability lint venv clean bench smoke-platforms update-yt-dlp synth deploy bot

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

## test: ruff, then the whole pytest suite (skip reasons printed: without Chromium, the browser tests say they did not run)
test: $(DEV_STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -n 2 -q -rs

## test-reliability: the fault suite (killed workers, races, 100 captures from a failing server, a failing Bot API)
test-reliability: $(DEV_STAMP)
	PRSNL_FAULT_CAPTURES=100 $(PY) -m pytest -q -p no:cacheprovider tests/reliability

## bot: the Telegram bot in polling mode against `make run`'s stack (needs PRSNL_TELEGRAM_TOKEN, PRSNL_TELEGRAM_ALLOWED_USERS)
bot: $(RUN_STAMP)
	$(PY) -m chalicelib.cli bot

## smoke-platforms: the canary's captures for real, through our pipeline into a local stack, a line per platform
## (without internet it says it skipped and exits 0; PRSNL_SMOKE=1 makes that a failure)
smoke-platforms: $(DEV_STAMP)
	$(PY) -m chalicelib.local.smoke

## update-yt-dlp: pin the newest yt-dlp release (layers/worker/requirements.txt: the one pin for the worker image,
## make run and the tests), install it, then run the platform tests and the smoke
YTDLP_PIN := layers/worker/requirements.txt
PLATFORM_TESTS := tests/unit/test_platforms_processors.py tests/unit/test_platforms_urls.py \
	tests/integration/test_platform_processors.py tests/integration/test_platform_extractors.py \
	tests/integration/test_impersonation_guard.py tests/integration/test_pipeline_posts.py \
	tests/integration/test_pipeline_retries.py tests/integration/test_canary.py
update-yt-dlp: $(DEV_STAMP)
	@latest=$$($(PY) -m pip index versions yt-dlp 2>/dev/null | sed -n 's/^yt-dlp (\(.*\))$$/\1/p'); \
	test -n "$$latest" || { echo "PyPI did not answer: yt-dlp's newest release is unknown"; exit 1; }; \
	sed -i.bak -E "s/^(yt-dlp\[[^]]*\])==.*/\1==$$latest/" $(YTDLP_PIN) && rm -f $(YTDLP_PIN).bak; \
	echo "yt-dlp pinned at $$latest in $(YTDLP_PIN)"
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pytest -q -p no:cacheprovider $(PLATFORM_TESTS)
	$(MAKE) smoke-platforms

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
