#!/usr/bin/env python3
"""helm.py - Helm's own engine (Helm v4's Go SDK, through PyPI's helm-python-sdk, which
bundles it as a shared library: no helm binary, no network) for the lab and the chart
tests.

    helm.py render CHART VALUES.json [RELEASE [NAMESPACE]]   rendered manifests, JSON
                                                             {template path: text} on stdout
    helm.py install CHART VALUES.json RELEASE NAMESPACE KUBECONFIG
    helm.py uninstall RELEASE NAMESPACE KUBECONFIG

VALUES.json may be "-" (stdin) or "{}" literally. scripts/kube-testenv.sh build installs
the SDK into a virtualenv in its cache ($CACHE/helm-venv); run this with that python.
"""
import json
import sys

import helm_python as helm


def values(arg):
    if arg == "-":
        return json.load(sys.stdin)
    if arg.lstrip().startswith("{"):
        return json.loads(arg)
    with open(arg) as f:
        return json.load(f)


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "render" and len(argv) >= 4:
        chart = helm.Chart.load(argv[2])
        out = chart.render(values(argv[3]), name=argv[4] if len(argv) > 4 else "herald",
                           namespace=argv[5] if len(argv) > 5 else "herald-system",
                           is_install=True)
        json.dump(out, sys.stdout)
        return 0
    if cmd == "install" and len(argv) == 7:
        cfg = helm.Config(kubeconfig_path=argv[6], namespace=argv[5])
        rel = cfg.install(helm.Chart.load(argv[2]), argv[4], values(argv[3]),
                          namespace=argv[5], create_namespace=True, timeout=300)
        print(json.dumps({k: rel.get(k) for k in ("name", "namespace", "version")}, default=str))
        return 0
    if cmd == "uninstall" and len(argv) == 5:
        cfg = helm.Config(kubeconfig_path=argv[4], namespace=argv[3])
        cfg.uninstall(argv[2], timeout=120)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
