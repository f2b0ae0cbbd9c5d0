#!/usr/bin/env python3
"""endpointslice-mirror.py - the lab cluster's stand-in writer of discovery.k8s.io/v1
EndpointSlices.

Kubernetes 1.20 (the version Debian's sources build) writes EndpointSlices as
discovery.k8s.io/v1beta1 only; Herald reads v1, which arrived in 1.21. lab/k8s serves v1
through the CRD scripts/kube-testenv.sh uses, and this process fills it: it watches the
core v1 Endpoints that 1.20's endpoints controller maintains (from the real pods'
readiness) and writes, per Endpoints subset, one v1 slice labelled
kubernetes.io/service-name=<service> and managed-by herald-lab-mirror, with each
address's node name and ready condition. Nothing else in the cluster is replaced.

    endpointslice-mirror.py KUBECTL KUBECONFIG   (KUBECTL is unused, kept for the caller)
"""
import json
import re
import ssl
import sys
import time
import urllib.error
import urllib.request

MANAGED_BY = "herald-lab-mirror"


def kubeconfig(path):
    text = open(path).read()
    server = re.search(r"server: (\S+)", text).group(1)
    ca = re.search(r"certificate-authority: (\S+)", text).group(1)
    token = re.search(r"token: (\S+)", text).group(1)
    return server, ca, token


SERVER, CA, TOKEN = kubeconfig(sys.argv[2])
CTX = ssl.create_default_context(cafile=CA)


def request(method, path, body=None, timeout=30):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(SERVER + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + TOKEN)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    return urllib.request.urlopen(req, context=CTX, timeout=timeout)


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, file=sys.stderr, flush=True)


def slices_for(ep):
    """The v1 slices an Endpoints object maps to (pure)."""
    meta = ep["metadata"]
    out = []
    for k, subset in enumerate(ep.get("subsets") or []):
        endpoints = []
        for ready, key in ((True, "addresses"), (False, "notReadyAddresses")):
            for a in subset.get(key) or []:
                e = {"addresses": [a["ip"]],
                     "conditions": {"ready": ready, "serving": ready, "terminating": False}}
                if a.get("nodeName"):
                    e["nodeName"] = a["nodeName"]
                if a.get("targetRef"):
                    e["targetRef"] = a["targetRef"]
                endpoints.append(e)
        ports = [{k2: p[k2] for k2 in ("name", "port", "protocol", "appProtocol") if k2 in p}
                 for p in subset.get("ports") or []]
        out.append({
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{meta['name']}-mirror-{k}",
                "namespace": meta["namespace"],
                "labels": {"kubernetes.io/service-name": meta["name"],
                           "endpointslice.kubernetes.io/managed-by": MANAGED_BY},
            },
            "addressType": "IPv4",
            "endpoints": endpoints,
            "ports": ports,
        })
    return out


def existing(ns, name):
    path = (f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices"
            f"?labelSelector=kubernetes.io/service-name%3D{name},"
            f"endpointslice.kubernetes.io/managed-by%3D{MANAGED_BY}")
    with request("GET", path) as r:
        return {s["metadata"]["name"]: s for s in json.load(r)["items"]}


def sync(ep, deleted=False):
    ns, name = ep["metadata"]["namespace"], ep["metadata"]["name"]
    want = {} if deleted else {s["metadata"]["name"]: s for s in slices_for(ep)}
    have = existing(ns, name)
    base = f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices"
    for sname, s in want.items():
        if sname in have:
            old = have[sname]
            if all(old.get(k) == s.get(k) for k in ("endpoints", "ports")):
                continue
            s["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            request("PUT", f"{base}/{sname}", s).close()
        else:
            request("POST", base, s).close()
        log(f"{ns}/{sname}: {len(s['endpoints'])} endpoints")
    for sname in have.keys() - want.keys():
        request("DELETE", f"{base}/{sname}").close()
        log(f"{ns}/{sname}: deleted")


def main():
    while True:
        try:
            with request("GET", "/api/v1/endpoints") as r:
                lst = json.load(r)
            for ep in lst["items"]:
                sync(ep)
            rv = lst["metadata"]["resourceVersion"]
            with request("GET", f"/api/v1/endpoints?watch=1&resourceVersion={rv}", timeout=600) as r:
                for line in r:
                    ev = json.loads(line)
                    if ev["type"] in ("ADDED", "MODIFIED", "DELETED"):
                        sync(ev["object"], deleted=ev["type"] == "DELETED")
                    elif ev["type"] == "ERROR":
                        break
        except (urllib.error.URLError, OSError, ValueError) as e:
            log("retrying after:", e)
            time.sleep(1)


if __name__ == "__main__":
    main()
