// Validates the custom resources that kubernetes-validate has no schema for, against the schemas of their CRDs
// (Gateway API v1.0.0, Prometheus Operator v0.65), as compiled into the @kubernetes-models packages.
//   node validate.mjs FILE.json    FILE holds one object or an array of them
// Prints one line per valid object; exits 1 on the first invalid object and 2 on a kind it has no schema for.
import { readFileSync } from "node:fs";
import { HTTPRoute } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";

const MODELS = new Map([HTTPRoute, PrometheusRule].map((model) => [`${model.apiVersion} ${model.kind}`, model]));

const [file] = process.argv.slice(2);
if (!file) {
  console.error("usage: node validate.mjs FILE.json");
  process.exit(2);
}
const data = JSON.parse(readFileSync(file, "utf8"));
for (const doc of Array.isArray(data) ? data : [data]) {
  const key = `${doc?.apiVersion} ${doc?.kind}`;
  const name = `${key} ${doc?.metadata?.name ?? "(no name)"}`;
  const Model = MODELS.get(key);
  if (!Model) {
    console.error(`${name}: no schema for this kind; known: ${[...MODELS.keys()].join(", ")}`);
    process.exit(2);
  }
  try {
    new Model(doc).validate();
  } catch (error) {
    console.error(`${name}: ${error.message}`);
    process.exit(1);
  }
  console.log(`${name}: valid`);
}
