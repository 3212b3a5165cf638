#!/usr/bin/env bash
# Validates deploy/kubernetes/ offline: every built-in kind against the Kubernetes OpenAPI
# schemas that kubernetes-validate (PyPI) carries, strictly (unknown fields fail); then the
# ServiceMonitor — a Prometheus Operator CRD those schemas do not include — structurally, and
# the references between the manifests (selectors, ports, service accounts, namespace).
set -euo pipefail
cd "$(dirname "$0")/../deploy/kubernetes"

venv=${KUBERNETES_VALIDATE_VENV:-/tmp/nettune-kubernetes-validate}
if [[ ! -x $venv/bin/kubernetes-validate ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check kubernetes-validate
fi

shopt -s nullglob
manifests=(*.yaml)
[[ ${#manifests[@]} -gt 0 ]] || { echo "no manifests in deploy/kubernetes"; exit 1; }
# Built-in kinds: a missing schema is only a warning for the tool, so the CRD is checked below.
"$venv/bin/kubernetes-validate" --strict --quiet "${manifests[@]}"

"$venv/bin/python" - "${manifests[@]}" <<'PY'
import sys
import yaml

docs = []
for path in sys.argv[1:]:
    with open(path) as f:
        for d in yaml.safe_load_all(f):
            if d:
                docs.append((path, d))

errors = []
def fail(path, msg):
    errors.append(f"{path}: {msg}")

by_kind = {}
for path, d in docs:
    by_kind.setdefault(d["kind"], []).append((path, d))
    ns = d["metadata"].get("namespace")
    if d["kind"] != "Namespace" and ns != "nettune":
        fail(path, f"{d['kind']} {d['metadata']['name']} is not in namespace nettune")

def labels_match(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())

daemonsets = by_kind.get("DaemonSet", [])
accounts = {d["metadata"]["name"] for _, d in by_kind.get("ServiceAccount", [])}
for path, ds in daemonsets:
    spec = ds["spec"]["template"]["spec"]
    if spec.get("serviceAccountName") not in accounts:
        fail(path, f"service account {spec.get('serviceAccountName')} is not defined")
    for c in spec["containers"]:
        sc = c.get("securityContext", {})
        if not sc.get("readOnlyRootFilesystem"):
            fail(path, f"container {c['name']}: root file system not read-only")
        if not sc.get("privileged") and sc.get("capabilities", {}).get("drop") != ["ALL"]:
            fail(path, f"container {c['name']}: unprivileged but does not drop ALL capabilities")
        for m in c.get("volumeMounts", []):
            if m["mountPath"] in ("/proc", "/sys") and not m.get("readOnly"):
                fail(path, f"container {c['name']}: {m['mountPath']} mounted writable")

services = by_kind.get("Service", [])
for path, svc in services:
    sel = svc["spec"]["selector"]
    targets = [ds for _, ds in daemonsets
               if labels_match(sel, ds["spec"]["template"]["metadata"]["labels"])]
    if not targets:
        fail(path, f"Service {svc['metadata']['name']} selects no DaemonSet's pods")
    for port in svc["spec"]["ports"]:
        names = {p.get("name") for ds in targets
                 for c in ds["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
        if port.get("targetPort") not in names:
            fail(path, f"Service port {port.get('name')} targets {port.get('targetPort')}, not a container port")

for path, sm in by_kind.get("ServiceMonitor", []):
    if sm["apiVersion"] != "monitoring.coreos.com/v1":
        fail(path, f"ServiceMonitor apiVersion {sm['apiVersion']}")
    spec = sm.get("spec", {})
    allowed = {"selector", "namespaceSelector", "endpoints", "jobLabel", "targetLabels",
               "podTargetLabels", "sampleLimit", "targetLimit", "attachMetadata"}
    for key in spec:
        if key not in allowed:
            fail(path, f"ServiceMonitor spec.{key} is not a ServiceMonitor field")
    matched = [svc for _, svc in services
               if labels_match(spec.get("selector", {}).get("matchLabels", {}),
                               svc["metadata"].get("labels", {}))]
    if not matched:
        fail(path, "ServiceMonitor selects no Service")
    endpoint_fields = {"port", "path", "interval", "scrapeTimeout", "scheme", "relabelings",
                       "metricRelabelings", "honorLabels", "honorTimestamps", "tlsConfig"}
    for ep in spec.get("endpoints", []):
        for key in ep:
            if key not in endpoint_fields:
                fail(path, f"ServiceMonitor endpoint field {key} is not known")
        ports = {p.get("name") for svc in matched for p in svc["spec"]["ports"]}
        if ep.get("port") not in ports:
            fail(path, f"ServiceMonitor endpoint port {ep.get('port')} is not a port of the Service")

for e in errors:
    print("FAIL", e)
if errors:
    sys.exit(1)
print(f"ok   {len(docs)} resources: built-in kinds against the Kubernetes schemas, "
      f"the ServiceMonitor (CRD) structurally, references consistent")
PY
