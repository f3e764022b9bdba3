#!/usr/bin/env bash
# Rebuilds every shipped model in models/ from scratch: train -> quantize -> compile.
# Usage: scripts/build-models.sh [digits-classifier|two-moons|two-moons-flow|digits-mlp|digits-unet|digits-attn|ecg-unet1d ...]
# (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p edgediff
B=./target/release/edgediff

build_two_moons() {
  local d=models/two-moons s="--sampler dpmpp --steps 20 --spacing linspace"
  $B train --data two-moons --hidden 64 --depth 2 --steps 8000 --seed 0 --objective v --out $d --force
  $B quantize --model $d/float.onnx --out $d/int8.onnx $s --calib 1024 --force
  $B compile --model $d/int8.onnx --out $d/model.pack $s --force
}

# Flow matching (rectified flow): the velocity eps - x0 on x = (1 - s) x0 + s eps.
build_two_moons_flow() {
  local d=models/two-moons-flow s="--sampler flow-euler --steps 50"
  $B train --data two-moons --hidden 64 --depth 2 --steps 8000 --seed 0 --objective flow --out $d --force
  $B quantize --model $d/float.onnx --out $d/int8.onnx $s --calib 1024 --force
  $B compile --model $d/int8.onnx --out $d/model.pack $s --force
}

build_digits_mlp() {
  local d=models/digits-mlp s="--sampler dpmpp --steps 20 --spacing linspace"
  $B train --data digits --hidden 192 --depth 2 --temb 64 --steps 6000 --batch 128 --seed 0 --objective v --out $d --force
  $B quantize --model $d/float.onnx --out $d/int8.onnx $s --calib 256 --tail-scale 1 --force
  $B compile --model $d/int8.onnx --out $d/model.pack $s --force
}

build_digits_unet() {
  local d=models/digits-unet s="--sampler dpmpp --steps 20 --spacing linspace"
  $B train --data digits --arch unet --conditional --hidden 8 --temb 32 --steps 4000 --batch 64 --lr 3e-3 --seed 0 --out $d --force
  $B quantize --model $d/float.onnx --out $d/int8.onnx $s --calib 128 --guidance 2 --tail-scale 1 --force
  $B compile --model $d/int8.onnx --out $d/model.pack $s --force
}

# Trained in PyTorch (scripts/make-torch-fixtures.py unet-attn) and exported by TorchScript:
# the user's path, with no edits to the exported file.
build_digits_attn() {
  local d=models/digits-attn s="--sampler dpmpp --steps 20 --spacing linspace --prediction v"
  cp tests/fixtures/torch/unet-attn-torchscript-opset17.onnx $d/float.onnx
  $B quantize --model $d/float.onnx --out $d/int8.onnx $s --calib 128 --guidance 2 --tail-scale 1 --force
  $B compile --model $d/int8.onnx --out $d/model.pack $s --force
}

# Trained in PyTorch (scripts/make-torch-fixtures.py unet1d), exported by TorchScript, unedited.
build_ecg_unet1d() {
  local d=models/ecg-unet1d s="--sampler dpmpp --steps 20 --spacing linspace"
  cp tests/fixtures/torch/unet1d-torchscript-opset17.onnx $d/float.onnx
  $B quantize --model $d/float.onnx --out $d/int8.onnx $s --calib 128 --force
  $B compile --model $d/int8.onnx --out $d/model.pack $s --force
}

build_digits_classifier() {
  $B train-classifier --steps 3000 --seed 0 --out models/digits-classifier/classifier.bin --force
}

for m in "${@:-digits-classifier two-moons two-moons-flow digits-mlp digits-unet digits-attn ecg-unet1d}"; do
  for one in $m; do
    case $one in
      two-moons) build_two_moons ;;
      two-moons-flow) build_two_moons_flow ;;
      digits-mlp) build_digits_mlp ;;
      digits-unet) build_digits_unet ;;
      digits-attn) build_digits_attn ;;
      ecg-unet1d) build_ecg_unet1d ;;
      digits-classifier) build_digits_classifier ;;
      *) echo "unknown model $one" >&2; exit 2 ;;
    esac
  done
done
