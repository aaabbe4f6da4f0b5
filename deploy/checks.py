#!/usr/bin/env python3
"""Checks of the deployment files that need more than one command line.

deploy/check.sh calls each subcommand with the files it rendered or found.
Every subcommand prints what is wrong and exits 1, or prints nothing and
exits 0. Needs PyYAML and jsonschema (installed by check.sh), and Python 3.11
or later for tomllib.
"""

import argparse
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import yaml

# Kinds that the chart renders and the Kubernetes schemas of
# kubernetes-validate cover.
CORE_KINDS = {
    "ConfigMap", "Deployment", "Ingress", "PersistentVolumeClaim",
    "PodDisruptionBudget", "Pod", "Service", "ServiceAccount",
}
CUSTOM_KINDS = {"ServiceMonitor"}


def fail(errors):
    for error in errors:
        print(error, file=sys.stderr)
    sys.exit(1 if errors else 0)


def load_documents(path):
    return [doc for doc in yaml.safe_load_all(Path(path).read_text()) if doc]


def split_manifests(args):
    """Write each core document of the rendered files to its own file in
    OUT_DIR, so kubernetes-validate names the failing object, and validate
    the custom resources against the schemas in SCHEMA_DIR."""
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    schema_dir = Path(args.schema_dir)
    errors = []
    for rendered in args.files:
        for index, doc in enumerate(load_documents(rendered)):
            kind = doc.get("kind")
            name = doc.get("metadata", {}).get("name", "?")
            where = f"{rendered}: {kind}/{name}"
            if kind in CORE_KINDS:
                target = out_dir / f"{Path(rendered).stem}-{index:02d}-{kind}.yaml"
                target.write_text(yaml.safe_dump(doc))
            elif kind in CUSTOM_KINDS:
                group_version = doc["apiVersion"].replace("/", "-")
                schema_path = schema_dir / f"{kind.lower()}-{group_version}.json"
                if not schema_path.exists():
                    errors.append(f"{where}: no schema {schema_path} for apiVersion {doc['apiVersion']}")
                    continue
                schema = json.loads(schema_path.read_text())
                validator = jsonschema.Draft7Validator(schema)
                for error in validator.iter_errors(doc):
                    path = ".".join(str(p) for p in error.absolute_path) or "(root)"
                    errors.append(f"{where}: {path}: {error.message}")
            else:
                errors.append(f"{where}: kind {kind!r} has no schema in deploy/checks.py: add it to CORE_KINDS or give it a schema")
    fail(errors)


def toml_types(table):
    return {key: type(value).__name__ for key, value in table.items()}


def check_config(args):
    """Parse the modvault.toml of every rendered ConfigMap and compare its keys
    and value types with the example settings file, which lists every key."""
    reference_text = Path(args.reference).read_text()
    reference = tomllib.loads(reference_text)
    # Keys documented but left out so their default applies are written as
    # "# key = value" lines; they count as known keys too.
    for line in reference_text.splitlines():
        match = re.match(r"^# ([a-z_]+ = .+)$", line)
        if match:
            reference.update(tomllib.loads(match.group(1)))
    known = toml_types(reference)
    errors = []
    found = 0
    for rendered in args.files:
        for doc in load_documents(rendered):
            if doc.get("kind") != "ConfigMap" or "modvault.toml" not in doc.get("data", {}):
                continue
            found += 1
            text = doc["data"]["modvault.toml"]
            try:
                config = tomllib.loads(text)
            except tomllib.TOMLDecodeError as error:
                errors.append(f"{rendered}: modvault.toml is not valid TOML: {error}\n{text}")
                continue
            for key, kind in toml_types(config).items():
                if key not in known:
                    errors.append(f"{rendered}: modvault.toml has key {key!r}, which {args.reference} does not list")
                elif kind != known[key]:
                    errors.append(f"{rendered}: modvault.toml key {key!r} is a {kind}, expected a {known[key]} as in {args.reference}")
            for key in ("listen", "data_dir"):
                if key in config:
                    errors.append(f"{rendered}: modvault.toml sets {key!r}, which the image's MODVAULT_* variables override")
    if found != len(args.files):
        errors.append(f"found {found} ConfigMaps with modvault.toml in {len(args.files)} rendered files, expected one in each")
    fail(errors)


def check_notes(args):
    """Check the NOTES text rendered by the zz-notes check template."""
    errors = []
    for rendered in args.files:
        notes = [d for d in load_documents(rendered) if d.get("metadata", {}).get("name") == "notes-check"]
        if len(notes) != 1:
            errors.append(f"{rendered}: expected one notes-check ConfigMap, found {len(notes)}")
            continue
        text = notes[0]["data"]["NOTES.txt"]
        if "export GOPROXY=http" not in text:
            errors.append(f"{rendered}: NOTES.txt does not tell the GOPROXY value:\n{text}")
        if "{{" in text or "<no value>" in text:
            errors.append(f"{rendered}: NOTES.txt has unrendered template text:\n{text}")
    fail(errors)


# Values that Grafana substitutes in the dashboard's queries, replaced by
# valid PromQL so promtool can parse each query.
GRAFANA_VARIABLES = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
    "$instance": ".*",
}


def dashboard_queries(dashboard):
    def walk(panels):
        for panel in panels:
            yield panel
            yield from walk(panel.get("panels", []))
    for panel in walk(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            yield panel, target


def check_dashboard(args):
    """Check the Grafana dashboard: unique panel ids, the datasource variable
    on every panel and query, and PromQL that promtool accepts."""
    path = Path(args.dashboard)
    dashboard = json.loads(path.read_text())
    errors = []

    ids = [p["id"] for p in dashboard["panels"]]
    if len(ids) != len(set(ids)):
        errors.append(f"{path}: panel ids are not unique: {ids}")

    rules = []
    for panel, target in dashboard_queries(dashboard):
        title = panel.get("title", "?")
        for owner in (panel, target):
            uid = owner.get("datasource", {}).get("uid")
            if uid != "${datasource}":
                errors.append(f"{path}: panel {title!r}: datasource uid is {uid!r}, expected '${{datasource}}'")
        expr = target.get("expr", "")
        if not expr:
            errors.append(f"{path}: panel {title!r}: query {target.get('refId')} has no expr")
            continue
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        if "$" in expr:
            errors.append(f"{path}: panel {title!r}: unknown Grafana variable in {expr!r}")
            continue
        rules.append({"record": f"dashboard:query_{len(rules)}", "expr": expr,
                      "labels": {"panel": title}})

    out = Path(args.out)
    out.write_text(yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}))
    result = subprocess.run(["promtool", "check", "rules", str(out)], capture_output=True, text=True)
    if result.returncode != 0:
        errors.append(f"{path}: promtool rejected a query:\n{result.stdout}{result.stderr}")
    fail(errors)


def gitlab_scripts(args):
    """Write the script blocks of GitLab CI files into one shell file per job
    for shellcheck."""
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in args.files:
        for job, spec in yaml.safe_load(Path(path).read_text()).items():
            if not isinstance(spec, dict):
                continue
            lines = ["#!/bin/bash", "set -e"]
            for section in ("before_script", "script", "after_script"):
                for line in spec.get(section, []):
                    lines.append(line)
            target = out_dir / f"{Path(path).name}.{job}.sh"
            target.write_text("\n".join(lines) + "\n")
            print(target)


def check_dockerfile(args):
    """Check the final stage of the Dockerfile with the parser of the Docker
    build front end (the `dockerfile` package)."""
    import dockerfile

    commands = dockerfile.parse_file(args.dockerfile)
    froms = [i for i, c in enumerate(commands) if c.cmd.upper() == "FROM"]
    final = commands[froms[-1]:]
    by_cmd = {}
    for command in final:
        by_cmd.setdefault(command.cmd.upper(), []).append(command)
    errors = []
    for required in ("USER", "HEALTHCHECK", "ENTRYPOINT", "CMD", "VOLUME", "ENV", "EXPOSE"):
        if required not in by_cmd:
            errors.append(f"{args.dockerfile}: the final stage has no {required}")
    if "USER" in by_cmd:
        user = by_cmd["USER"][-1].value[0]
        if user.split(":")[0] in ("0", "root"):
            errors.append(f"{args.dockerfile}: the final stage runs as root ({user})")
    for cmd in ("ENTRYPOINT", "CMD"):
        if cmd in by_cmd and not by_cmd[cmd][-1].json:
            errors.append(f"{args.dockerfile}: {cmd} must use the exec (JSON) form, so SIGTERM reaches modvault")
    env = {}
    for command in by_cmd.get("ENV", []):
        values = command.value
        env.update(zip(values[0::2], values[1::2]))
    if env.get("MODVAULT_DATA_DIR") != "/var/lib/modvault":
        errors.append(f"{args.dockerfile}: MODVAULT_DATA_DIR is {env.get('MODVAULT_DATA_DIR')!r}, expected '/var/lib/modvault'")
    if not re.fullmatch(r"0\.0\.0\.0:\d+", env.get("MODVAULT_LISTEN", "")):
        errors.append(f"{args.dockerfile}: MODVAULT_LISTEN is {env.get('MODVAULT_LISTEN')!r}, expected 0.0.0.0:PORT")
    volumes = [v for c in by_cmd.get("VOLUME", []) for v in c.value]
    if "/var/lib/modvault" not in volumes:
        errors.append(f"{args.dockerfile}: /var/lib/modvault is not a VOLUME")
    labels = [v for c in by_cmd.get("LABEL", []) for v in c.value[0::2]]
    for label in ("org.opencontainers.image.title", "org.opencontainers.image.licenses", "org.opencontainers.image.version"):
        if label not in labels:
            errors.append(f"{args.dockerfile}: label {label} is missing")
    ignore = Path(args.dockerignore).read_text().split()
    if "target/" not in ignore and "target" not in ignore:
        errors.append(f"{args.dockerignore}: target/ is not excluded from the build context")
    fail(errors)


def parse_yaml(args):
    errors = []
    for path in args.files:
        try:
            list(yaml.safe_load_all(Path(path).read_text()))
        except yaml.YAMLError as error:
            errors.append(f"{path}: invalid YAML: {error}")
    fail(errors)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    subparser = commands.add_parser("split-manifests")
    subparser.add_argument("--out-dir", required=True)
    subparser.add_argument("--schema-dir", required=True)
    subparser.add_argument("files", nargs="+")
    subparser.set_defaults(func=split_manifests)

    subparser = commands.add_parser("config")
    subparser.add_argument("--reference", required=True)
    subparser.add_argument("files", nargs="+")
    subparser.set_defaults(func=check_config)

    subparser = commands.add_parser("notes")
    subparser.add_argument("files", nargs="+")
    subparser.set_defaults(func=check_notes)

    subparser = commands.add_parser("dashboard")
    subparser.add_argument("--out", required=True)
    subparser.add_argument("dashboard")
    subparser.set_defaults(func=check_dashboard)

    subparser = commands.add_parser("gitlab-scripts")
    subparser.add_argument("--out-dir", required=True)
    subparser.add_argument("files", nargs="+")
    subparser.set_defaults(func=gitlab_scripts)

    subparser = commands.add_parser("dockerfile")
    subparser.add_argument("--dockerignore", required=True)
    subparser.add_argument("dockerfile")
    subparser.set_defaults(func=check_dockerfile)

    subparser = commands.add_parser("yaml")
    subparser.add_argument("files", nargs="+")
    subparser.set_defaults(func=parse_yaml)

    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
