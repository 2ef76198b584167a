// Validates Gateway API objects against the upstream CRD schemas
// (@kubernetes-models/gateway-api). Reads a JSON array of objects on stdin;
// prints `valid <Kind>/<name>` per object, or the errors and exits 1.
const v1 = require("@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1");
let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  let failed = false;
  for (const object of JSON.parse(input)) {
    const Model = v1[object.kind];
    if (object.apiVersion !== "gateway.networking.k8s.io/v1" || !Model) {
      console.log(`not a Gateway API v1 object: ${object.apiVersion} ${object.kind}`);
      failed = true;
      continue;
    }
    try {
      new Model(object).validate();
      console.log(`valid ${object.kind}/${object.metadata.name}`);
    } catch (error) {
      console.log(`invalid ${object.kind}/${object.metadata.name}: ${error.message}`);
      failed = true;
    }
  }
  process.exit(failed ? 1 : 0);
});
