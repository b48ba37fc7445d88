#!/usr/bin/env bash
# Runs every check CI runs: formatting, go vet, and all tests (fuzz seed
# corpora included) under the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."

# A fresh machine may have Go installed but not on PATH.
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  export PATH="/usr/local/go/bin:$PATH"
fi

unformatted=$(gofmt -l $(find . -name '*.go' -not -path './.git/*'))
if [ -n "$unformatted" ]; then
  echo "These files need gofmt:" >&2
  echo "$unformatted" >&2
  exit 1
fi
go vet ./...
go test -race -count=1 -timeout 30m ./...
