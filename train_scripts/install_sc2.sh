#!/usr/bin/env bash
# Install StarCraft II 4.10 (Linux), the SMAC + SMACv2 maps and the smacv2 package, for --env_name smacv2.
# usage: bash train_scripts/install_sc2.sh [install_dir]     (default: $SC2PATH, else ~/StarCraftII)
# Needs wget, unzip, git and ~4 GB of disk. By unzipping you accept the StarCraft II AI and Machine
# Learning License (the archive password "iagreetotheeula" says so).
set -euo pipefail
PYTHON="${PYTHON:-python}"
SC2PATH="${1:-${SC2PATH:-$HOME/StarCraftII}}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT

if [[ ! -d "$SC2PATH/Versions" ]]; then
  echo "downloading StarCraft II 4.10 into $SC2PATH"
  wget -q --show-progress -O "$tmp/SC2.4.10.zip" https://blzdistsc2-a.akamaihd.net/Linux/SC2.4.10.zip
  unzip -q -P iagreetotheeula "$tmp/SC2.4.10.zip" -d "$tmp"
  mkdir -p "$(dirname "$SC2PATH")"
  mv "$tmp/StarCraftII" "$SC2PATH"
else
  echo "StarCraft II already in $SC2PATH"
fi

echo "installing the SMAC maps and the SMACv2 maps (10gen_*) into $SC2PATH/Maps/SMAC_Maps"
mkdir -p "$SC2PATH/Maps/SMAC_Maps"
wget -q -O "$tmp/SMAC_Maps.zip" https://github.com/oxwhirl/smac/releases/download/v0.1-beta1/SMAC_Maps.zip
unzip -q -o "$tmp/SMAC_Maps.zip" -d "$tmp/smac_maps"
find "$tmp/smac_maps" -name '*.SC2Map' -exec cp {} "$SC2PATH/Maps/SMAC_Maps/" \;
git clone -q --depth 1 https://github.com/oxwhirl/smacv2.git "$tmp/smacv2"
find "$tmp/smacv2/smacv2/env/starcraft2/maps" -name '*.SC2Map' -exec cp {} "$SC2PATH/Maps/SMAC_Maps/" \;

echo "installing smacv2 (and pysc2) with $PYTHON -m pip"
"$PYTHON" -m pip install "git+https://github.com/oxwhirl/smacv2.git"

echo
echo "done. Add this to your shell profile (pysc2 reads it):"
echo "  export SC2PATH=\"$SC2PATH\""
