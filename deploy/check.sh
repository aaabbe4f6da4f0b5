#!/usr/bin/env bash
# Checks the deployment files: Helm chart, Prometheus rules, Grafana
# dashboard, systemd unit, Dockerfile, compose file and CI examples.
#
# Run it from the repository root:  deploy/check.sh
#
# It installs the tools it needs when they are missing: Debian packages with
# apt-get (root only), helm and actionlint with `go install`, and Python
# packages into a virtual environment. Tools are kept in
# $MODVAULT_TOOLS_DIR (default ~/.cache/modvault-deploy-tools), so later runs
# skip the installs. It prints one line per check and the output of failed
# checks, and exits 1 if any check failed.
set -euo pipefail

HELM_VERSION=v3.21.4
# Minor version of the k8s.io modules that helm v3.21.4 is built with. Helm
# reads it as the default Kubernetes version, which `go install` does not set.
HELM_K8S_MINOR=36
ACTIONLINT_VERSION=v1.7.12
PYTHON_PACKAGES=(
  kubernetes-validate==1.37.0
  check-jsonschema==0.39.0
  dockerfile==3.4.0
  PyYAML==6.0.3
  jsonschema==4.26.0
)
# Oldest version that Chart.yaml's kubeVersion allows, and the newest that
# kubernetes-validate 1.37.0 has schemas for.
KUBERNETES_VERSIONS=(1.25.0 1.37.0)

if [[ ! -f deploy/check.sh || ! -d helm/modvault ]]; then
  echo "deploy/check.sh: run it from the repository root" >&2
  exit 2
fi

TOOLS_DIR=${MODVAULT_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modvault-deploy-tools}
mkdir -p "$TOOLS_DIR/bin"
export PATH="$TOOLS_DIR/bin:$TOOLS_DIR/venv/bin:$PATH"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# Keep helm's configuration and cache away from the user's.
export HELM_CONFIG_HOME="$WORK/helm/config" HELM_CACHE_HOME="$WORK/helm/cache" HELM_DATA_HOME="$WORK/helm/data"

started=$SECONDS
results=()
failures=0

# record STATUS NAME [DETAIL]: adds a line to the summary.
record() {
  results+=("$(printf '%-5s %s%s' "$1" "$2" "${3:+ ($3)}")")
}

skip() {
  record SKIP "$1" "$2"
}

# check NAME COMMAND...: runs COMMAND quietly and prints its output if it fails.
# Bash ignores `set -e` inside a command tested by `if`, so the functions that
# check runs return 1 explicitly at each step that can fail.
check() {
  local name=$1
  shift
  local log="$WORK/log.txt"
  local check_started=$SECONDS
  if "$@" >"$log" 2>&1; then
    record ok "$name" "$((SECONDS - check_started))s"
  else
    failures=$((failures + 1))
    record FAIL "$name"
    echo "---- FAIL: $name" >&2
    local command="$*"
    echo "command: ${command:0:300}" >&2
    cat "$log" >&2
  fi
}

# expect_failure MESSAGE COMMAND...: passes when COMMAND fails and its
# output contains MESSAGE.
expect_failure() {
  local message=$1
  shift
  local output
  if output=$("$@" 2>&1); then
    echo "expected the command to fail, but it succeeded:"
    echo "$output"
    return 1
  fi
  if ! grep -qF -- "$message" <<<"$output"; then
    echo "the command failed without the message: $message"
    echo "$output"
    return 1
  fi
}

# ---- Tools -----------------------------------------------------------------

install_log="$WORK/install.txt"

apt_install() {
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "cannot install $* here: apt-get as root is needed" >&2
    return 1
  fi
  if [[ ! -f "$TOOLS_DIR/apt-updated" ]]; then
    apt-get update -qq || return 1
    touch "$TOOLS_DIR/apt-updated"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

install_tools() {
  local packages=()
  command -v promtool >/dev/null || packages+=(prometheus)
  command -v systemd-analyze >/dev/null || packages+=(systemd)
  command -v shellcheck >/dev/null || packages+=(shellcheck)
  if ((${#packages[@]})); then
    apt_install "${packages[@]}" || return 1
  fi

  if [[ "$(helm version --template '{{.Version}}' 2>/dev/null)" != "$HELM_VERSION" ]]; then
    CGO_ENABLED=0 GOBIN="$TOOLS_DIR/bin" go install -trimpath -ldflags "-s -w \
      -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
      -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 \
      -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$HELM_K8S_MINOR \
      -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 \
      -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$HELM_K8S_MINOR" \
      "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" || return 1
  fi

  if [[ "$(actionlint -version 2>/dev/null | head -n 1)" != "$ACTIONLINT_VERSION" ]]; then
    GOBIN="$TOOLS_DIR/bin" go install -ldflags "-s -w -X main.version=$ACTIONLINT_VERSION" \
      "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION" || return 1
  fi

  # The stamp names the exact package list, so a changed pin reinstalls.
  local stamp="$TOOLS_DIR/venv/installed-${PYTHON_PACKAGES[*]// /_}"
  stamp=${stamp//[^A-Za-z0-9_.=\/-]/_}
  if [[ ! -f "$stamp" ]]; then
    rm -rf "$TOOLS_DIR/venv"
    python3 -m venv "$TOOLS_DIR/venv" || return 1
    "$TOOLS_DIR/venv/bin/pip" install -q --disable-pip-version-check "${PYTHON_PACKAGES[@]}" || return 1
    touch "$stamp"
  fi

  local tool
  for tool in helm actionlint promtool systemd-analyze shellcheck kubernetes-validate check-jsonschema; do
    if ! command -v "$tool" >/dev/null; then
      echo "$tool is still missing after the install step"
      return 1
    fi
  done
}

tools_started=$SECONDS
if install_tools >"$install_log" 2>&1; then
  record ok "tools installed or found" "$((SECONDS - tools_started))s"
else
  echo "---- FAIL: installing the tools" >&2
  cat "$install_log" >&2
  exit 1
fi
PYTHON="$TOOLS_DIR/venv/bin/python"

# ---- Helm chart --------------------------------------------------------------

CHART=helm/modvault
FULL_VALUES=helm/ci/full-values.yaml

check "helm lint (default values)" helm lint --strict "$CHART"
check "helm lint (helm/ci/full-values.yaml)" helm lint --strict "$CHART" -f "$FULL_VALUES"

# Rendered variants: defaults, every option, and the choices that the full
# values cannot make at the same time.
declare -A VARIANTS=(
  [default]=""
  [full]="-f $FULL_VALUES"
  [existing-claim]="--set persistence.existingClaim=modvault-store --set serviceAccount.create=false --set tests.enabled=false"
  [no-persistence]="--set persistence.enabled=false --set persistence.emptyDirSizeLimit=5Gi --set podDisruptionBudget.enabled=true --set podDisruptionBudget.minAvailable=0 --set podDisruptionBudget.maxUnavailable=null"
  [no-storage-class]="--set persistence.storageClass=- --set service.type=NodePort --set service.nodePort=30080 --set listenHost=::"
)
rendered=()
for variant in default full existing-claim no-persistence no-storage-class; do
  # shellcheck disable=SC2086 # the variant's options are split on purpose
  check "helm template ($variant)" helm template modvault "$CHART" ${VARIANTS[$variant]} --output-dir "$WORK/rendered-$variant"
  if [[ -d "$WORK/rendered-$variant" ]]; then
    find "$WORK/rendered-$variant" -name '*.yaml' -print0 | sort -z | xargs -0 cat >"$WORK/$variant.yaml"
    rendered+=("$WORK/$variant.yaml")
  fi
done

check "helm template fails for replicaCount 3 with local storage" \
  expect_failure "several replicas need shared object storage" \
  helm template modvault "$CHART" --set replicaCount=3
check "helm template fails for the reserved storage type s3" \
  expect_failure 'storage.type "s3" is reserved' \
  helm template modvault "$CHART" --set storage.type=s3
check "values.schema.json rejects an unknown config key" \
  expect_failure "additional properties" \
  helm template modvault "$CHART" --set config.upstrem=https://example.com

if ((${#rendered[@]})); then
  check "custom resources match helm/ci/schemas, core kinds split out" \
    "$PYTHON" deploy/checks.py split-manifests --out-dir "$WORK/manifests" --schema-dir helm/ci/schemas "${rendered[@]}"
  for version in "${KUBERNETES_VERSIONS[@]}"; do
    check "rendered manifests match Kubernetes $version schemas (strict)" \
      kubernetes-validate --strict --quiet --kubernetes-version "$version" "$WORK"/manifests/*.yaml
  done
  check "rendered modvault.toml parses and matches deploy/modvault.toml keys" \
    "$PYTHON" deploy/checks.py config --reference deploy/modvault.toml "${rendered[@]}"
fi

# NOTES.txt is not part of `helm template` output, so a copy of the chart
# renders its text into a ConfigMap.
notes_chart="$WORK/notes-chart/modvault"
mkdir -p "$(dirname "$notes_chart")"
cp -r "$CHART" "$notes_chart"
cat >"$notes_chart/templates/zz-notes-check.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata:
  name: notes-check
data:
  NOTES.txt: {{ include "modvault.notes" . | toJson }}
EOF
# check_notes NAME [HELM OPTIONS...]
check_notes() {
  local out="$WORK/notes-$1.yaml"
  shift
  helm template modvault "$notes_chart" "$@" --show-only templates/zz-notes-check.yaml >"$out" || return 1
  "$PYTHON" deploy/checks.py notes "$out"
}
check "NOTES.txt renders the GOPROXY value (default values)" check_notes default
check "NOTES.txt renders the GOPROXY value (full values)" check_notes full -f "$FULL_VALUES"

# ---- Prometheus and Grafana ------------------------------------------------------

check "promtool check rules deploy/prometheus/alerts.yml" promtool check rules deploy/prometheus/alerts.yml
check "promtool test rules deploy/prometheus/alerts.test.yml" promtool test rules deploy/prometheus/alerts.test.yml
check "promtool check config deploy/prometheus/prometheus.yml" promtool check config deploy/prometheus/prometheus.yml
check "Grafana dashboard: panel ids, datasource, PromQL" \
  "$PYTHON" deploy/checks.py dashboard --out "$WORK/dashboard-rules.yml" deploy/grafana/modvault-dashboard.json
skip "Grafana rendering of the dashboard" "needs a Grafana server; only its JSON and queries are checked"

# ---- systemd -----------------------------------------------------------------------

# verify rejects an ExecStart= binary that does not exist, and
# /usr/local/bin/modvault is not installed on a build machine, so the copy that
# is checked runs /bin/true instead.
unit_dir="$WORK/systemd"
mkdir -p "$unit_dir"
sed 's#^ExecStart=/usr/local/bin/modvault #ExecStart=/bin/true #' deploy/modvault.service >"$unit_dir/modvault.service"
# verify exits 0 after warnings such as an unknown key, so any output fails.
systemd_verify() {
  local output
  output=$(systemd-analyze verify "$1" 2>&1) || { echo "$output"; return 1; }
  if [[ -n "$output" ]]; then
    echo "$output"
    return 1
  fi
}
check "systemd-analyze verify deploy/modvault.service" systemd_verify "$unit_dir/modvault.service"
# The threshold is on systemd's 0-100 scale: 20 is an exposure of 2.0.
check "systemd-analyze security: exposure at most 2.0" \
  systemd-analyze security --offline=yes --threshold=20 "$unit_dir/modvault.service"

# ---- Container image -------------------------------------------------------------

check "Dockerfile final stage and .dockerignore" \
  "$PYTHON" deploy/checks.py dockerfile --dockerignore .dockerignore deploy/Dockerfile
check "docker-compose.yml matches the compose specification" \
  check-jsonschema --builtin-schema vendor.compose-spec deploy/docker-compose.yml
skip "docker build and docker compose up" "no Docker engine on this machine; tests/deploy_assets.rs runs the binary with the Dockerfile's command and environment instead"

# ---- CI examples -----------------------------------------------------------------

mapfile -t github_workflows < <(find deploy/ci/github -name '*.yml' | sort)
mapfile -t gitlab_files < <(find deploy/ci/gitlab -name '*.yml' | sort)
check "actionlint deploy/ci/github" actionlint -shellcheck "$(command -v shellcheck)" "${github_workflows[@]}"
check "GitHub workflows match the workflow schema" \
  check-jsonschema --builtin-schema vendor.github-workflows "${github_workflows[@]}"
check "GitLab CI files match the .gitlab-ci.yml schema" \
  check-jsonschema --builtin-schema vendor.gitlab-ci "${gitlab_files[@]}"
shellcheck_gitlab_scripts() {
  local list="$WORK/gitlab-scripts.txt" scripts
  "$PYTHON" deploy/checks.py gitlab-scripts --out-dir "$WORK/gitlab-scripts" "$@" >"$list" || return 1
  mapfile -t scripts <"$list"
  if ((${#scripts[@]} == 0)); then
    echo "no GitLab CI jobs found in $*"
    return 1
  fi
  shellcheck -s bash "${scripts[@]}"
}
check "shellcheck of the GitLab CI scripts" shellcheck_gitlab_scripts "${gitlab_files[@]}"
skip "running the CI examples" "needs GitHub or GitLab runners"

# Chart templates are not YAML before rendering, so only the chart's own
# YAML files are parsed.
mapfile -t yaml_files < <(find deploy helm/ci -name '*.yml' -o -name '*.yaml' | sort)
yaml_files+=(helm/modvault/Chart.yaml helm/modvault/values.yaml)
check "YAML parse of deploy/ and helm/ files" "$PYTHON" deploy/checks.py yaml "${yaml_files[@]}"
check "shellcheck deploy/check.sh" shellcheck deploy/check.sh

skip "helm install and helm test" "no Kubernetes cluster on this machine"

# ---- Summary -----------------------------------------------------------------------

printf '%s\n' "${results[@]}"
echo "deploy/check.sh: $failures failed, $((SECONDS - started))s in all"
((failures == 0))
