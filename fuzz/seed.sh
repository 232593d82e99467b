#!/bin/sh
# Seeds the fuzz corpora from the awesome-compose corpus and the captured create bodies.
# Run from fuzz/: sh seed.sh
set -eu
mkdir -p corpus/compose corpus/engine
for f in ../../shared/corpus/awesome-compose/*/compose.yaml ../tests/fixtures/engine-capture/*/compose.yaml; do
  cp "$f" "corpus/compose/$(echo "$f" | tr '/.' '__')"
done
for f in ../tests/fixtures/engine-capture/*/create/*.json; do
  python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["body"]))' "$f" \
    > "corpus/engine/$(echo "$f" | tr '/.' '__')"
done
