# Cipherdrop: the two commands a newcomer needs, plus a few conveniences.
.PHONY: test run run-cluster bootstrap bench fuzz-smoke lighthouse

test:        ## set up everything and run every test
	bash scripts/test.sh

run:         ## set up everything and run the app on http://127.0.0.1:8080
	bash scripts/run.sh

run-cluster: ## three replicas on a local PostgreSQL, with the KMS and S3 as processes of their own
	bash scripts/run-cluster.sh

bootstrap:   ## install the toolchain pieces the build and the tests need (idempotent)
	bash scripts/bootstrap.sh

bench:       ## native throughput benchmark against raw aes-gcm and the official Python ESDK
	bash scripts/bench.sh

fuzz-smoke:  ## each fuzz target for FUZZ_SECONDS (default 10) seconds, as `make test` runs them
	bash scripts/fuzz-smoke.sh

lighthouse:  ## page load: Lighthouse (mobile) on the login page, goals performance 0.95, accessibility 1.0
	bash scripts/lighthouse.sh
