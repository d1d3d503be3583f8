#!/bin/bash
# Generator alone against a warm local broker: its CPU with failures-only reports (new) and with a report per record (old).
cd /work/main
export PULSE_PRODUCER_BATCH_SIZE=131072 PULSE_PRODUCER_LINGER_MS=10 PULSE_PRODUCER_COMPRESSION=none
build() { pnpm run build:native >/dev/null 2>&1 && npx tsc -b >/dev/null 2>&1 || { echo "build failed"; exit 1; }; }
gen() { /usr/bin/time -f "$1 user %U sys %S wall %e" node --initial-old-space-size=64 packages/cli/dist/main.js generate --rate 100000 --duration 40 --mix clicks=1,purchases=0,sensors=0 --seed ab 2>&1 >/dev/null | grep -E "user .* sys|behind" | tail -2; }
pnpm -s pulse kafka start --fresh >/dev/null 2>&1 && pnpm -s pulse topics >/dev/null 2>&1
gen warmup
for i in 1 2 3; do
  git checkout HEAD -- . && build && gen new-$i
  git checkout 595a742 -- crates/pulse-kafka packages/loadgen && build && gen old-$i
done
git checkout HEAD -- . && build
pnpm -s pulse kafka stop >/dev/null 2>&1
echo ALL DONE
