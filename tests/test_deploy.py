"""The rendered deploy/ folder: every manifest against the Kubernetes schemas (kubernetes-validate, strict) or its
CRD's schema (tests/k8s/validate.mjs), the alert rules and the dashboard's queries with promtool, and the stages they
must pin."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from llmops_wb.config import load_settings
from llmops_wb.deploy import TaskRelease, dashboard, render, write
from llmops_wb.errors import DeployError
from llmops_wb.telemetry import Metrics

K8S = Path(__file__).resolve().parent / "k8s"
KUBERNETES = "1.32.0"
CRDS = {("monitoring.coreos.com/v1", "PrometheusRule"), ("gateway.networking.k8s.io/v1", "HTTPRoute")}
NOT_OBJECTS = ("kustomization.yaml", "alerts.rules.yaml")
SETUP = ("run `make test-tools` (part of `make test`), which installs promtool (Debian's prometheus package) and "
         "tests/k8s/node_modules (npm ci)")

# The thresholds of [deploy] and [limits] are the ones tests/k8s/alerts.test.yaml is written for.
SETTINGS = """\
[model]
max_tokens = 256
[limits]
monthly_token_budget = 1000000
[deploy]
namespace = llm-prod
name = wb
image = registry.example.com/team/llmops-wb
image_tag = 1.4.2
base_image = docker.io/library/python:3.11.11-slim-bookworm
redis_image = docker.io/library/redis:7.2.5-alpine
host = llm.example.com
router = nginx
gateway = shared-gateway
port = 8080
replicas = 3
max_replicas = 9
target_cpu_percent = 60
cpu_request = 250m
cpu_limit = 1
memory_request = 768Mi
memory_limit = 1536Mi
otlp_endpoint = http://otel.monitoring.svc:4317
daily_spend_usd = 50
latency_p99_s = 20
error_rate = 0.05
"""


def sha(ref: str) -> str:
    return hashlib.sha256(ref.encode()).hexdigest()


def release(task: str, production: str, colour: str, previous: str | None = None, canary: str | None = None,
            weight: int | None = None) -> TaskRelease:
    "A release of `task` whose sha256s are those of the refs' text, which is all render needs."
    return TaskRelease(task, production, sha(f"{task}@{production}"), colour, previous,
                       previous and sha(f"{task}@{previous}"), canary, canary and sha(f"{task}@{canary}"), weight)


SHAPES = {
    "production": [release("summarize", "v1.1.0", "blue")],
    "previous": [release("summarize", "v1.1.0", "green", previous="v1.0.0"), release("explain", "v1.0.0", "blue")],
    "canary": [release("summarize", "v1.1.0", "blue", previous="v1.0.0", canary="v1.2.0-rc.1", weight=10)],
}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "settings.ini").write_text(SETTINGS)
    return tmp_path


def settings_of(root: Path, **deploy):
    "The project's settings, with `deploy` keys set from the environment as an operator would."
    return load_settings(root, environ={f"LLMOPS_WB_DEPLOY_{k.upper()}": str(v) for k, v in deploy.items()})


def objects(files: dict[str, str], name: str | None = None) -> list[dict]:
    "The Kubernetes objects in `files` (or in the file `name` alone)."
    names = [name] if name else [n for n in files if n.endswith(".yaml") and n not in NOT_OBJECTS]
    return [doc for n in names for doc in yaml.safe_load_all(files[n])]


def find(docs: list[dict], kind: str, name: str) -> dict:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind} {name}: {len(matches)} found"
    return matches[0]


def container(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]["containers"][0]


def env(deployment: dict) -> dict[str, str]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(deployment)["env"]}


def tool(name: str, hint: str = SETUP) -> str:
    "The path of the command `name`; a missing one fails the test (these checks are the point of the tests)."
    path = shutil.which(name)
    if path is None: pytest.fail(f"{name} is not installed: {hint}")
    return path


def node_validate(docs: list[dict], tmp_path: Path) -> subprocess.CompletedProcess:
    "Validate the custom resources `docs` with tests/k8s/validate.mjs."
    if not (K8S / "node_modules" / "@kubernetes-models").is_dir():
        pytest.fail(f"tests/k8s/node_modules is missing: {SETUP}")
    path = tmp_path / "crds.json"
    path.write_text(json.dumps(docs))
    node = tool("node", "install Node.js 20 or later (Debian: nodejs), then run `make test-tools`")
    return subprocess.run([node, str(K8S / "validate.mjs"), str(path)], capture_output=True, text=True,
                          timeout=120)


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([tool("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


# -- every manifest against its schema ---------------------------------------------------------------------------------

@pytest.mark.parametrize("router", ["nginx", "gateway"])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_manifests_are_valid(root: Path, tmp_path: Path, shape: str, router: str):
    files = render(SHAPES[shape], settings_of(root, router=router))
    docs = objects(files)
    custom = [d for d in docs if (d["apiVersion"], d["kind"]) in CRDS]
    for doc in docs:
        if doc in custom: continue
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)

    checked = node_validate(custom, tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert len(checked.stdout.splitlines()) == len(custom) == 1 + (router == "gateway") * len(SHAPES[shape])

    out = root / "deploy"
    write(files, out)
    checked = promtool("check", "rules", "alerts.rules.yaml", cwd=out)
    assert checked.returncode == 0 and "SUCCESS: 4 rules found" in checked.stdout, checked.stdout + checked.stderr


def test_bundled_project_renders_valid_manifests(project: Path, tmp_path: Path):
    "The repository's own settings.ini, as `llmops-wb deploy render` would read it."
    files = render(SHAPES["canary"], load_settings(project, environ={}))
    for doc in objects(files):
        if (doc["apiVersion"], doc["kind"]) not in CRDS: kubernetes_validate.validate(doc, KUBERNETES, strict=True)
    checked = node_validate([d for d in objects(files) if (d["apiVersion"], d["kind"]) in CRDS], tmp_path)
    assert checked.returncode == 0, checked.stderr


def test_validators_reject_what_is_invalid(tmp_path: Path):
    "The checks above can fail: a typo in a core object, a bad HTTPRoute weight, a rule without an expression."
    deployment = find(objects(render(SHAPES["production"], load_settings(tmp_path, environ={}))), "Deployment",
                      "llmops-wb-summarize-blue")
    container(deployment)["readinesProbe"] = container(deployment).pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES, strict=True)

    backend = {"name": "s", "port": 80, "weight": -1}
    route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "r"},
             "spec": {"parentRefs": [{"name": "g"}], "rules": [{"backendRefs": [backend]}]}}
    checked = node_validate([route], tmp_path)
    assert checked.returncode == 1 and "weight must be >= 0" in checked.stderr, checked.stderr
    rule = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "metadata": {"name": "a"},
            "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "for": "5m"}]}]}}
    checked = node_validate([rule], tmp_path)
    assert checked.returncode == 1 and "must have required property expr" in checked.stderr, checked.stderr
    checked = node_validate([{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}], tmp_path)
    assert checked.returncode == 2 and "no schema for this kind" in checked.stderr

    unbalanced = {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "sum(rate(x[5m]) > 1"}]}]}
    (tmp_path / "bad.rules.yaml").write_text(yaml.safe_dump(unbalanced))
    assert promtool("check", "rules", "bad.rules.yaml", cwd=tmp_path).returncode != 0


# -- the alerts fire above their thresholds and stay silent below ------------------------------------------------------

def rules_test(root: Path, **deploy) -> subprocess.CompletedProcess:
    "Render with `deploy` settings and run tests/k8s/alerts.test.yaml against the rules."
    out = root / "deploy"
    write(render(SHAPES["production"], settings_of(root, **deploy)), out)
    shutil.copy(K8S / "alerts.test.yaml", out / "alerts.test.yaml")
    return promtool("test", "rules", "alerts.test.yaml", cwd=out)


def test_alerts_fire_above_their_thresholds_only(root: Path):
    checked = rules_test(root)
    assert checked.returncode == 0 and "SUCCESS" in checked.stdout, checked.stdout + checked.stderr


def test_alert_thresholds_come_from_settings(root: Path):
    checked = rules_test(root, daily_spend_usd=60, error_rate=0.2)
    assert checked.returncode != 0
    failed = checked.stdout + checked.stderr
    assert "alertname: LLMDailySpendHigh" in failed and "alertname: LLMErrorRateHigh" in failed, failed
    assert "alertname: LLMLatencyP99High" not in failed


# -- the dashboard: queries that parse, read the service's metrics and compute what their panels say -------------------

GRAFANA = {"$__rate_interval": "5m", "$__range": "1d", "$task": ".*", "$prompt_version": ".*"}  # all selected
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}
SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum")}


def promql(expr: str) -> str:
    "`expr` as Prometheus runs it once Grafana has filled in its variables."
    for variable, value in GRAFANA.items(): expr = expr.replace(variable, value)
    assert "$" not in expr, f"a Grafana variable is left in {expr}"
    return expr


def queries(board: dict) -> dict[str, str]:
    "Every panel query of `board` by a recording-rule name, dashboard:<panel title in snake case>:<refId>."
    named = {f"dashboard:{re.sub(r'[^a-z0-9]+', '_', p['title'].lower()).strip('_')}:{t['refId']}": t["expr"]
             for p in board["panels"] for t in p.get("targets", [])}
    assert len(named) == sum(len(p.get("targets", [])) for p in board["panels"]), "two queries share a name"
    return named


def variable_queries(board: dict) -> dict[str, str]:
    "The series each query variable of `board` lists its values from, as PromQL grouped by the label it lists."
    found = {}
    for variable in board["templating"]["list"]:
        if variable["type"] != "query": continue
        selector, label = re.fullmatch(r"label_values\((.+), *(\w+)\)", variable["definition"]).groups()
        found[f"dashboard:variable_{variable['name']}"] = f"group by ({label}) ({selector})"
    return found


def write_dashboard_rules(board: dict, out: Path) -> int:
    "Write every query of `board` as a recording rule into out/dashboard.rules.yaml; return how many."
    rules = [{"record": name, "expr": promql(expr)}
             for name, expr in (queries(board) | variable_queries(board)).items()]
    (out / "dashboard.rules.yaml").write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]},
                                                             sort_keys=False, width=4096))
    return len(rules)


def metric_names(expr: str) -> set[str]:
    "The metric names PromQL `expr` reads: what is left once strings, matchers, ranges, groupings and calls are gone."
    bare = re.sub(r'"[^"]*"|\{[^}]*\}|\[[^\]]*\]', "", expr)
    bare = re.sub(r"\b(by|without|on|ignoring|group_left|group_right) *\([^)]*\)", "", bare)
    return set(re.findall(r"(?<![\w:.])[A-Za-z_:][\w:]*\b(?! *\()", bare)) - PROMQL_WORDS


def exported_metrics() -> dict[str, set[str]]:
    "The names each metric of telemetry.Metrics is scraped under, by metric."
    families = Metrics((), (), ()).registry.collect()
    return {f.name: {f.name + suffix for suffix in SUFFIXES[f.type]} for f in families}


def rendered_dashboard(root: Path, **deploy) -> tuple[Path, dict]:
    "Render and write deploy/ with `deploy` settings; the folder and the dashboard it holds."
    out = root / "deploy"
    write(render(SHAPES["canary"], settings_of(root, **deploy)), out)
    return out, json.loads((out / "grafana-dashboard.json").read_text())


def test_dashboard_queries_parse(root: Path):
    out, board = rendered_dashboard(root)
    count = write_dashboard_rules(board, out)
    assert count == 21  # 19 panel queries and 2 variables
    checked = promtool("check", "rules", "dashboard.rules.yaml", cwd=out)
    assert checked.returncode == 0 and f"SUCCESS: {count} rules found" in checked.stdout, \
        checked.stdout + checked.stderr


def test_a_broken_dashboard_query_fails_the_check(root: Path):
    out, board = rendered_dashboard(root)
    ratio = next(p for p in board["panels"] if p["title"] == "Error ratio")["targets"][0]
    ratio["expr"] = ratio["expr"].replace("(sum by (task)", "(sum by task", 1)
    write_dashboard_rules(board, out)
    checked = promtool("check", "rules", "dashboard.rules.yaml", cwd=out)
    failed = checked.stdout + checked.stderr
    assert checked.returncode != 0 and "dashboard:error_ratio:A" in failed and "parse" in failed, failed


def test_dashboard_reads_the_metrics_the_service_exports(root: Path):
    "Every name the dashboard queries is one telemetry.Metrics exports, and every metric it exports has a panel."
    board = dashboard(settings_of(root))
    exported = exported_metrics()
    names = set().union(*exported.values())
    read = {name for expr in queries(board).values() for name in metric_names(expr)}
    listed = {name for expr in variable_queries(board).values() for name in metric_names(expr)}
    assert read and read <= names, f"not exported: {read - names}"
    assert listed and listed <= names, f"not exported: {listed - names}"
    assert [metric for metric, scraped in exported.items() if not scraped & read] == []

    # the check sees a misspelt metric, and not a function, keyword, label or Grafana variable
    misspelt = 'sum by (le) (rate(llm_latency_second_bucket{task=~"$task"}[$__rate_interval])) or on (le) vector(0)'
    assert metric_names(misspelt) == {"llm_latency_second_bucket"}


def test_dashboard_queries_compute_what_their_panels_say(root: Path):
    "tests/k8s/dashboard.test.yaml feeds series to the dashboard's queries and to the alerts, and checks their values."
    out, board = rendered_dashboard(root)
    write_dashboard_rules(board, out)
    shutil.copy(K8S / "dashboard.test.yaml", out / "dashboard.test.yaml")
    checked = promtool("test", "rules", "dashboard.test.yaml", cwd=out)
    assert checked.returncode == 0 and "SUCCESS" in checked.stdout, checked.stdout + checked.stderr


def test_dashboard_thresholds_come_from_settings(root: Path):
    board = dashboard(settings_of(root, latency_p99_s=8, error_rate=0.01, daily_spend_usd=12))
    steps = {p["title"]: p["fieldConfig"]["defaults"]["thresholds"]["steps"] for p in board["panels"] if "targets" in p}
    red_from = {title: s["value"] for title, panel in steps.items() for s in panel[1:] if s["color"] == "red"}
    assert red_from == {"Latency p50, p95, p99": 8, "Latency by prompt version": 8, "Cost per hour": 0.5,
                        "Spend, last 24 hours": 12, "Error ratio": 0.01}
    gauge = next(p for p in board["panels"] if p["title"] == "Token budget left")["fieldConfig"]["defaults"]
    assert (gauge["max"], gauge["thresholds"]["steps"][1]) == (1000000, {"color": "green", "value": 100000})


def test_dashboard_config_map(root: Path):
    files = render(SHAPES["production"], settings_of(root))
    [config_map] = objects(files, "grafana-dashboard.yaml")
    kubernetes_validate.validate(config_map, KUBERNETES, strict=True)
    assert (config_map["kind"], config_map["metadata"]["name"], config_map["metadata"]["namespace"]) == \
        ("ConfigMap", "wb-dashboard", "llm-prod")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["data"] == {"llmops-wb.json": files["grafana-dashboard.json"]}
    board = json.loads(files["grafana-dashboard.json"])
    assert files["grafana-dashboard.json"] == json.dumps(board, indent=2, sort_keys=True) + "\n"
    assert (board["uid"], board["title"], board["schemaVersion"]) == ("wb", "llmops-wb: wb", 39)
    resources = yaml.safe_load(files["kustomization.yaml"])["resources"]
    assert "grafana-dashboard.yaml" in resources and "grafana-dashboard.json" not in resources

    out = root / "deploy"
    write(files, out)
    (out / "grafana-dashboard.json").write_text(json.dumps({"title": "edited in Grafana"}))
    with pytest.raises(DeployError, match="grafana-dashboard.json was not rendered by llmops-wb"):
        write(files, out)


# -- what the manifests pin -------------------------------------------------------------------------------------------

def test_blue_green_switch(root: Path):
    settings = settings_of(root)
    live = release("summarize", "v1.1.0", "green", previous="v1.0.0")
    rolled_back = dataclasses.replace(live, production="v1.0.0", production_sha256=live.previous_sha256,
                                      colour="blue", previous="v1.1.0", previous_sha256=live.production_sha256)
    for stage, (production, idle) in [(live, ("green", "blue")), (rolled_back, ("blue", "green"))]:
        docs = objects(render([stage], settings), "summarize.yaml")
        assert find(docs, "Service", "wb-summarize")["spec"]["selector"]["llmops-wb/colour"] == production
        serving = find(docs, "Deployment", f"wb-summarize-{production}")
        warm = find(docs, "Deployment", f"wb-summarize-{idle}")
        assert env(serving)["PROMPT_VERSION"] == f"summarize@{stage.production}"
        assert env(serving)["PROMPT_SHA256"] == stage.production_sha256 == sha(f"summarize@{stage.production}")
        assert env(warm)["PROMPT_VERSION"] == f"summarize@{stage.previous}"
        assert (serving["spec"]["replicas"], warm["spec"]["replicas"]) == (3, 1)
        autoscaler = find(docs, "HorizontalPodAutoscaler", "wb-summarize")
        assert autoscaler["spec"]["scaleTargetRef"]["name"] == f"wb-summarize-{production}"
        assert (autoscaler["spec"]["minReplicas"], autoscaler["spec"]["maxReplicas"]) == (3, 9)
        for deployment in (serving, warm):
            labels = deployment["spec"]["template"]["metadata"]["labels"]
            assert labels["llmops-wb/prompt-version"] == env(deployment)["PROMPT_VERSION"].split("@")[1]


def test_production_only_renders_one_colour_and_no_canary(root: Path):
    docs = objects(render(SHAPES["production"], settings_of(root)), "summarize.yaml")
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [
        ("Deployment", "wb-summarize-blue"), ("Service", "wb-summarize"), ("HorizontalPodAutoscaler", "wb-summarize"),
        ("Ingress", "wb-summarize")]
    backend = find(docs, "Ingress", "wb-summarize")["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    assert backend["service"]["name"] == "wb-summarize"
    gateway = settings_of(root, router="gateway")
    route = find(objects(render(SHAPES["production"], gateway)), "HTTPRoute", "wb-summarize")
    assert [r["backendRefs"] for r in route["spec"]["rules"]] == [[{"name": "wb-summarize", "port": 8080}]]


def test_canary_nginx(root: Path):
    docs = objects(render(SHAPES["canary"], settings_of(root)), "summarize.yaml")
    stable, canary = find(docs, "Ingress", "wb-summarize"), find(docs, "Ingress", "wb-summarize-canary")
    assert "annotations" not in stable["metadata"]
    assert canary["metadata"]["annotations"] == {
        "nginx.ingress.kubernetes.io/canary": "true", "nginx.ingress.kubernetes.io/canary-weight": "10",
        "nginx.ingress.kubernetes.io/canary-weight-total": "100",
        "nginx.ingress.kubernetes.io/canary-by-header": "X-Canary"}
    for ingress, service in [(stable, "wb-summarize"), (canary, "wb-summarize-canary")]:
        assert ingress["spec"]["ingressClassName"] == "nginx"
        rule = ingress["spec"]["rules"][0]
        path = rule["http"]["paths"][0]
        assert (rule["host"], path["path"], path["pathType"]) == ("llm.example.com", "/v1/tasks/summarize", "Prefix")
        assert path["backend"]["service"]["name"] == service
    assert find(docs, "Service", "wb-summarize-canary")["spec"]["selector"]["llmops-wb/colour"] == "canary"
    assert env(find(docs, "Deployment", "wb-summarize-canary"))["PROMPT_VERSION"] == "summarize@v1.2.0-rc.1"
    assert find(docs, "HorizontalPodAutoscaler", "wb-summarize-canary")["spec"]["scaleTargetRef"]["name"] == \
        "wb-summarize-canary"


def test_canary_gateway(root: Path):
    stages = [release("summarize", "v1.1.0", "blue", canary="v1.2.0", weight=25)]
    docs = objects(render(stages, settings_of(root, router="gateway")), "summarize.yaml")
    assert not [d for d in docs if d["kind"] == "Ingress"]
    route = find(docs, "HTTPRoute", "wb-summarize")
    assert route["spec"]["parentRefs"] == [{"name": "shared-gateway"}]
    assert route["spec"]["hostnames"] == ["llm.example.com"]
    weighted = route["spec"]["rules"][-1]
    assert weighted["matches"] == [{"path": {"type": "PathPrefix", "value": "/v1/tasks/summarize"}}]
    assert [(b["name"], b["weight"]) for b in weighted["backendRefs"]] == \
        [("wb-summarize", 75), ("wb-summarize-canary", 25)]
    by_header = {r["matches"][0]["headers"][0]["value"]: r["backendRefs"][0]["name"]
                 for r in route["spec"]["rules"][:-1]}
    assert by_header == {"always": "wb-summarize-canary", "never": "wb-summarize"}


def test_every_container_is_configured_from_settings(root: Path):
    files = render(SHAPES["canary"] + [release("explain", "v1.0.0", "green")], settings_of(root))
    deployments = [d for d in objects(files) if d["kind"] == "Deployment" and d["metadata"]["name"] != "wb-redis"]
    assert len(deployments) == 4
    for deployment in deployments:
        values = env(deployment)
        assert values["PROMPT_VERSION"].startswith(deployment["metadata"]["labels"]["llmops-wb/task"] + "@v")
        assert values["PROMPT_SHA256"] == sha(values["PROMPT_VERSION"])
        assert (values["MAX_TOKENS_PER_REQUEST"], values["MONTHLY_TOKEN_BUDGET"]) == ("256", "1000000")
        assert values["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel.monitoring.svc:4317"
        assert values["OTEL_SERVICE_NAME"].startswith("wb-")
        assert values["LLMOPS_WB_LIMITS_STORE"] == "redis"
        assert values["LLMOPS_WB_LIMITS_REDIS_URL"] == "redis://wb-redis:6379/0"
        # the review queue and its reviewers come from the Secret wb-review, which the operator makes
        assert values.pop("LLMOPS_WB_REVIEW_STORE") == {"secretKeyRef": {"name": "wb-review", "key": "store"}}
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        assert volumes["reviewers"]["secret"]["secretName"] == "wb-review"
        assert values["LLMOPS_WB_REVIEW_TOKENS_FILE"] == "/app/reviewers/tokens"
        # the service accepts only LLMOPS_WB_ variables that are settings: anything else stops it at start
        load_settings(root, environ=values | {"LLMOPS_WB_REVIEW_STORE": "postgresql://queue.example/reviews"})

        spec = container(deployment)
        assert spec["image"] == "registry.example.com/team/llmops-wb:1.4.2"
        assert spec["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
        assert spec["resources"] == {"requests": {"cpu": "250m", "memory": "768Mi"},
                                     "limits": {"cpu": "1", "memory": "1536Mi"}}
        assert (spec["readinessProbe"]["httpGet"]["path"], spec["livenessProbe"]["httpGet"]["path"]) == \
            ("/readyz", "/healthz")
        assert spec["securityContext"]["allowPrivilegeEscalation"] is False
        assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
        assert deployment["metadata"]["namespace"] == "llm-prod"

    redis = find(objects(files, "redis.yaml"), "Deployment", "wb-redis")
    assert container(redis)["image"] == "docker.io/library/redis:7.2.5-alpine"
    assert find(objects(files, "redis.yaml"), "Service", "wb-redis")["spec"]["ports"][0]["port"] == 6379


def test_kustomization_lists_every_manifest(root: Path):
    files = render(SHAPES["previous"], settings_of(root))
    kustomization = yaml.safe_load(files["kustomization.yaml"])
    assert kustomization["namespace"] == "llm-prod"
    manifests = [n for n in files if n.endswith(".yaml") and n not in NOT_OBJECTS]
    assert sorted(kustomization["resources"]) == sorted(manifests)
    assert sorted(files) == ["Containerfile", "alerts.rules.yaml", "alerts.yaml", "explain.yaml",
                             "grafana-dashboard.json", "grafana-dashboard.yaml", "kustomization.yaml", "redis.yaml",
                             "summarize.yaml"]


def test_nothing_is_latest(root: Path):
    for shape in SHAPES.values():
        for router in ("nginx", "gateway"):
            for name, text in render(shape, settings_of(root, router=router)).items():
                assert "latest" not in text.lower(), name
    with pytest.raises(DeployError, match="'latest' is not a version"):
        release("summarize", "latest", "blue")


def test_containerfile(root: Path):
    settings = settings_of(root)
    lines = render(SHAPES["production"], settings)["Containerfile"].splitlines()
    assert [line.split()[1] for line in lines if line.startswith("FROM ")] == [settings["deploy.base_image"]] * 2
    assert "FROM docker.io/library/python:3.11.11-slim-bookworm AS builder" in lines
    user = next(line for line in lines if line.startswith("USER "))
    assert user.split()[1].split(":")[0].isdigit() and not user.split()[1].startswith("0")
    assert "EXPOSE 8080" in lines
    assert lines[-1] == 'CMD ["llmops-wb", "serve", "--host", "0.0.0.0", "--port", "8080"]'
    assert json.loads(lines[-1].removeprefix("CMD ")) == ["llmops-wb", "serve", "--host", "0.0.0.0", "--port", "8080"]
    assert any("-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON" in line
               for line in lines)
    assert {"COPY prompts/ prompts/", "COPY settings.ini ./"} <= set(lines)


# -- what cannot be rendered ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("change, message", [
    ({"canary": "v1.2.0", "canary_sha256": "2" * 64, "canary_weight": 0}, "weight 0 is not a percentage from 1 to 99"),
    ({"canary": "v1.2.0", "canary_sha256": "2" * 64, "canary_weight": 100}, "weight 100 is not a percentage"),
    ({"canary": "v1.2.0", "canary_sha256": "2" * 64}, "weight None is not a percentage"),
    ({"canary_weight": 10}, "a canary weight (10) without a canary version"),
    ({"colour": "red"}, "colour 'red' is not blue or green"),
    ({"production": "latest"}, "summarize production: 'latest' is not a version"),
    ({"previous": "latest", "previous_sha256": "0" * 64}, "summarize previous: 'latest' is not a version"),
    ({"canary": "latest", "canary_sha256": "2" * 64, "canary_weight": 5}, "summarize canary: 'latest' is not"),
    ({"production_sha256": "abc"}, "'abc' is not the sha256 of a prompt file"),
])
def test_releases_that_cannot_be_deployed(change: dict, message: str):
    with pytest.raises(DeployError) as raised:
        dataclasses.replace(SHAPES["production"][0], **change)
    assert message in str(raised.value)
    assert raised.value.exit_code == 2


def test_nothing_to_render(root: Path):
    with pytest.raises(DeployError) as raised: render([], settings_of(root))
    assert raised.value.message == "no production version of any task: promote one first"
    assert raised.value.hint == "llmops-wb promote task@vX.Y.Z --to production"


def test_settings_kubernetes_would_refuse(root: Path):
    with pytest.raises(DeployError, match="cpu_request 4 is above cpu_limit 1"):
        render(SHAPES["production"], settings_of(root, cpu_request=4))
    with pytest.raises(DeployError, match="max_replicas 2 is below replicas 3"):
        render(SHAPES["production"], settings_of(root, max_replicas=2))


def test_write_replaces_what_it_rendered(root: Path):
    out, settings = root / "deploy", settings_of(root)
    written = write(render(SHAPES["previous"], settings), out)
    assert sorted(p.name for p in written) == sorted(p.name for p in out.iterdir())
    (out / "NOTES.md").write_text("ours\n")
    write(render(SHAPES["production"], settings), out)  # explain is no longer released
    assert not (out / "explain.yaml").exists() and (out / "NOTES.md").read_text() == "ours\n"
    (out / "redis.yaml").write_text("# edited by hand\n")
    with pytest.raises(DeployError, match="redis.yaml was not rendered by llmops-wb"):
        write(render(SHAPES["production"], settings), out)
