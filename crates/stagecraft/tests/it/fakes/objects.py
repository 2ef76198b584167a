# Fake kubectl's store of applied objects, as a cluster keeps them:
# $1/<namespace>/<Kind>.<name>.json. Reads manifests (YAML or JSON, one
# stream, `kind: List` too) on stdin.
#   store DIR NAMESPACE   create or replace every object
#   delete DIR NAMESPACE  remove every object named (absent: fine)
#   get DIR NAMESPACE KIND NAME   print the object as JSON, if it is there
#   helm-manifest RELEASE   what a release of our chart renders (helm's record)
import json, os, sys
import yaml

CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}

def objects(stream):
    for doc in yaml.safe_load_all(stream):
        if not doc:
            continue
        if doc.get("kind") == "List":
            yield from doc.get("items", [])
        else:
            yield doc

def path(root, ns, obj):
    scope = "_cluster" if obj["kind"] in CLUSTER_SCOPED else obj["metadata"].get("namespace", ns)
    return os.path.join(root, scope, "%s.%s.json" % (obj["kind"], obj["metadata"]["name"]))

def helm_manifest(r):
    return ("---\n# Source: service/templates/workload.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: %s\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: %s\n      app.kubernetes.io/instance: %s\n  template:\n    metadata:\n      labels:\n        app.kubernetes.io/name: %s\n        app.kubernetes.io/instance: %s\n"
            "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: %s\nspec:\n  selector:\n    app.kubernetes.io/name: %s\n    app.kubernetes.io/instance: %s\n  ports:\n  - name: http\n    port: 80\n") % ((r,) * 8)

if sys.argv[1] == "namespaces":
    # namespaces DIR SELECTOR: a List of the namespaces with every label of
    # `key=value,key` (as `kubectl get namespaces --selector`).
    root, selector = sys.argv[2], sys.argv[3]
    wanted = [s.split("=", 1) for s in selector.split(",") if s]
    items = []
    folder = os.path.join(root, "_cluster")
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        if not name.startswith("Namespace."):
            continue
        obj = json.load(open(os.path.join(folder, name)))
        labels = obj.get("metadata", {}).get("labels") or {}
        if all(k in labels and (len(w) == 1 or labels[k] == w[1]) for w in wanted for k in [w[0]]):
            items.append(obj)
    print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    sys.exit(0)
if sys.argv[1] == "delete-namespaces":
    root = sys.argv[2]
    for name in sys.argv[3:]:
        p = os.path.join(root, "_cluster", "Namespace.%s.json" % name)
        if os.path.exists(p):
            os.remove(p)
            print('namespace "%s" deleted' % name)
    sys.exit(0)
if sys.argv[1] == "helm-manifest":
    sys.stdout.write(helm_manifest(sys.argv[2]))
    sys.exit(0)
command, root, ns = sys.argv[1], sys.argv[2], sys.argv[3]
if command == "get":
    kind, name = sys.argv[4], sys.argv[5]
    p = path(root, ns, {"kind": kind, "metadata": {"name": name}})
    if os.path.exists(p):
        sys.stdout.write(open(p).read())
    sys.exit(0)
for obj in objects(sys.stdin.read()):
    p = path(root, ns, obj)
    if command == "store":
        os.makedirs(os.path.dirname(p), exist_ok=True)
        # Server-side apply merges what other field managers set: labels
        # and annotations applied before stay unless this apply sets them.
        if os.path.exists(p):
            old = json.load(open(p)).get("metadata", {})
            meta = obj.setdefault("metadata", {})
            for key in ("labels", "annotations"):
                merged = dict(old.get(key) or {})
                merged.update(meta.get(key) or {})
                if merged:
                    meta[key] = merged
        json.dump(obj, open(p, "w"), indent=2)
        if os.environ.get("FAKE_QUIET") is None:
            print("%s/%s serverside-applied" % (obj["kind"].lower(), obj["metadata"]["name"]))
    elif command == "delete" and os.path.exists(p):
        os.remove(p)
        print('%s "%s" deleted' % (obj["kind"].lower(), obj["metadata"]["name"]))
