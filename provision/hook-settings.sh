# shellcheck shell=bash
# How the hooks installed on the VMs (flowproxy-register, builderhub-prune, builderhub-listing)
# read their settings file: parsed, never sourced, so the file can set only the names a hook asks
# for, to literal values, and cannot run anything. In the repository the hooks source this file
# from beside them; the copy a VM installs has it written in place of that line (hookScript in
# lib/provision.ts), so every installed hook stands alone.

# read_settings FILE NAME...: sets each NAME from FILE's line NAME=value (the last line counts
# without a final newline too). Returns 1, with SETTINGS_PROBLEM saying what to do, when FILE cannot
# be read or leaves a NAME unset or empty.
# shellcheck disable=SC2034 # SETTINGS_PROBLEM is read by the hook, which shellcheck sees only with -x.
read_settings() {
  local settings_file=$1 line_name line_value wanted
  shift
  SETTINGS_PROBLEM=""
  if [[ ! -r $settings_file ]]; then
    SETTINGS_PROBLEM="$settings_file is missing; rerun provisioning (pulumi up)"
    return 1
  fi
  while IFS='=' read -r line_name line_value || [[ -n $line_name ]]; do
    for wanted in "$@"; do
      if [[ $line_name == "$wanted" ]]; then printf -v "$line_name" '%s' "$line_value"; fi
    done
  done <"$settings_file"
  for wanted in "$@"; do
    if [[ -z ${!wanted:-} ]]; then
      SETTINGS_PROBLEM="$settings_file does not set $wanted; rerun provisioning (pulumi up)"
      return 1
    fi
  done
}
