# Fake kubectl's store of applied objects, as a cluster keeps them:
# $1/<namespace>/<Kind>.<name>.json. Reads manifests (YAML or JSON, one
# stream, `kind: List` too) on stdin.
#   store DIR NAMESPACE   create or replace every object
#   delete DIR NAMESPACE  remove every object named (absent: fine)
#   get DIR NAMESPACE KIND NAME   print the object as JSON, if it is there
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
        json.dump(obj, open(p, "w"), indent=2)
        print("%s/%s serverside-applied" % (obj["kind"].lower(), obj["metadata"]["name"]))
    elif command == "delete" and os.path.exists(p):
        os.remove(p)
        print('%s "%s" deleted' % (obj["kind"].lower(), obj["metadata"]["name"]))
