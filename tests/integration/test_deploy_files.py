"""deploy/ checks (issue 5): the Kubernetes variants render with `kubectl kustomize` and validate
against the Kubernetes API models; the Dockerfile lints, its build context configures and its
runtime packages are exactly what the binary links; the systemd unit verifies and its exposure
stays low; the examples agree with docs/flags.md; the probe commands work against a camproxy.

`kubectl create --dry-run=client` cannot run here: even with --validate=false it asks an API
server for discovery. `kubectl kustomize` is offline, and the schema is python3-kubernetes'
models (strict: unknown fields fail). Tools come from deploy/validate.sh (tests/run.sh runs it);
a missing tool fails the test and names that script, nothing is skipped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from camproxy_process import proxy_binary
from testutil import free_port, http_request

kRoot = Path(__file__).resolve().parents[2]
kDeploy = kRoot / "deploy"
kKube = kDeploy / "kubernetes"
kVariants = ("secret-credentials", "tke-workload-identity")
kDockerfile = kDeploy / "container" / "Dockerfile"
kUnit = kDeploy / "systemd" / "camproxy.service"
kEnvExample = kDeploy / "examples" / "camproxy.env"
kCompose = kDeploy / "examples" / "compose.yaml"
kPodMonitor = kKube / "monitoring" / "podmonitor.yaml"
kHttpPortName = "camproxy-http"
kInstalledBinary = "/usr/bin/camproxy"
kNonRootUid = 65532
# Flags that issue 5 plans and the examples already use; drop an entry once docs/flags.md has it.
kPlannedVariables: set[str] = set()  # flags documented in docs/flags.md cover every variable used
# Fields newer than Debian's python3-kubernetes (API 1.22): native sidecars came in 1.28.
kNewerFields = {"V1Container": {"restartPolicy": "str"}}


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: run deploy/validate.sh (tests/run.sh does)", pytrace=False)
    return path


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, **kwargs)


def seconds(duration: str) -> float:
    m = re.fullmatch(r"(\d+)(ms|s|m|h)", duration)
    assert m, f"not a duration: {duration!r}"
    return int(m[1]) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m[2]]


def documented_variables() -> set[str]:
    text = (kRoot / "docs" / "flags.md").read_text()
    return set(re.findall(r"`(CAMPROXY_[A-Z_]+)`", text)) | kPlannedVariables


# -- Kubernetes -------------------------------------------------------------------------------

def render(variant: str) -> list[dict[str, Any]]:
    kubectl = require_tool("kubectl")
    version = json.loads(run([kubectl, "version", "--client", "-o", "json"]).stdout)["clientVersion"]
    minor = int(re.match(r"\d+", version["minor"])[0])
    assert (int(version["major"]), minor) >= (1, 21), \
        f"kubectl {version['gitVersion']} is too old for these kustomizations (1.21+ needed)"
    result = run([kubectl, "kustomize", str(kKube / variant)])
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def model_class(name: str):
    from kubernetes.client import models
    return getattr(models, name)


def check_against_model(value: Any, type_name: str, path: str, errors: list[str]) -> None:
    """Walks `value` as the python3-kubernetes type `type_name`: unknown fields and wrong
    scalar types are errors (what a strict API server would reject)."""
    if type_name.startswith("list["):
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list")
            return
        for i, item in enumerate(value):
            check_against_model(item, type_name[5:-1], f"{path}[{i}]", errors)
    elif type_name.startswith("dict("):
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a map")
            return
        item_type = type_name[5:-1].split(", ", 1)[1]
        for key, item in value.items():
            check_against_model(item, item_type, f"{path}.{key}", errors)
    elif type_name in ("str", "datetime"):
        if not isinstance(value, str):
            errors.append(f"{path}: expected a string, got {value!r}")
    elif type_name == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append(f"{path}: expected an integer, got {value!r}")
    elif type_name == "bool":
        if not isinstance(value, bool):
            errors.append(f"{path}: expected true or false, got {value!r}")
    elif type_name == "object":
        pass  # IntOrString, Quantity, raw extensions
    else:
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a {type_name} map")
            return
        cls = model_class(type_name)
        fields = {json_name: cls.openapi_types[attr] for attr, json_name in cls.attribute_map.items()}
        fields.update(kNewerFields.get(type_name, {}))
        for key, item in value.items():
            if key not in fields:
                errors.append(f"{path}.{key}: unknown field of {type_name}")
            else:
                check_against_model(item, fields[key], f"{path}.{key}", errors)


class _Response:
    def __init__(self, obj: dict[str, Any]):
        self.data = json.dumps(obj)


def validate_object(obj: dict[str, Any]) -> list[str]:
    from kubernetes.client import ApiClient
    group_version = obj.get("apiVersion", "")
    type_name = group_version.rsplit("/", 1)[-1].capitalize() + obj.get("kind", "")
    errors: list[str] = []
    check_against_model(obj, type_name, f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}", errors)
    try:
        ApiClient().deserialize(_Response(obj), type_name)  # the models' constructors check required fields
    except ValueError as exc:
        errors.append(f"{type_name}: {exc}")
    return errors


def pod_spec(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def sidecar(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = by_kind(objects, "Deployment").values()
    (camproxy,) = [c for c in pod_spec(deployment)["initContainers"] if c["name"] == "camproxy"]
    return camproxy


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def camproxy_settings(objects: list[dict[str, Any]]) -> dict[str, str]:
    maps = by_kind(objects, "ConfigMap")
    settings: dict[str, str] = {}
    for source in sidecar(objects).get("envFrom", []):
        settings.update(maps[source["configMapRef"]["name"]]["data"])
    return settings


@pytest.fixture(scope="module", params=kVariants)
def variant(request) -> tuple[str, list[dict[str, Any]]]:
    return request.param, render(request.param)


def test_manifests_validate_against_the_api_models(variant):
    name, objects = variant
    require_tool("kubectl")
    assert {o["kind"] for o in objects} >= {"Deployment", "ConfigMap"}
    errors = [e for o in objects for e in validate_object(o)]
    assert not errors, f"{name}:\n" + "\n".join(errors)


def test_schema_check_rejects_a_typo_a_wrong_type_and_a_missing_field():
    objects = render(kVariants[0])
    deployment = json.loads(json.dumps(by_kind(objects, "Deployment")["legacy-app"]))
    pod_spec(deployment)["initContainers"][0]["livenesProbe"] = {}
    pod_spec(deployment)["terminationGracePeriodSeconds"] = "45"
    errors = validate_object(deployment)
    assert any("livenesProbe: unknown field" in e for e in errors), errors
    assert any("terminationGracePeriodSeconds: expected an integer" in e for e in errors), errors
    del pod_spec(deployment)["containers"][0]["name"]
    assert any("`name`, must not be `None`" in e for e in validate_object(deployment))


def test_camproxy_is_a_native_sidecar_with_http_probes(variant):
    _, objects = variant
    (deployment,) = by_kind(objects, "Deployment").values()
    spec = pod_spec(deployment)
    proxy = sidecar(objects)
    assert proxy["restartPolicy"] == "Always"
    # The kubelet dials the pod IP: the probes use the read-only listener, declared as a port.
    (port,) = proxy["ports"]
    assert port["name"] == kHttpPortName and port["containerPort"] == http_listener_port(objects), port
    for probe, path in (("startupProbe", "/startup"), ("livenessProbe", "/healthz")):
        assert proxy[probe]["httpGet"] == {"path": path, "port": kHttpPortName}, proxy[probe]
    assert "readinessProbe" not in proxy, "pod readiness belongs to the app (docs/operations.md#probes)"
    security = proxy["securityContext"]
    assert security["runAsUser"] == kNonRootUid and security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False and security["capabilities"]["drop"] == ["ALL"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    resources = proxy["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"]) and "memory" in resources["limits"]
    # The admin endpoint stays on loopback (it serves /quitquitquit); only probes and scrapes leave.
    assert "CAMPROXY_ADMIN" not in camproxy_settings(objects)


def http_listener_port(objects: list[dict[str, Any]]) -> int:
    host, _, port = camproxy_settings(objects)["CAMPROXY_HTTP_ADDRESS"].rpartition(":")
    assert host == "0.0.0.0", "the kubelet and Prometheus dial the pod IP"
    return int(port)


def test_pod_carries_the_prometheus_scrape_annotations(variant):
    _, objects = variant
    (deployment,) = by_kind(objects, "Deployment").values()
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(http_listener_port(objects))
    assert annotations["prometheus.io/path"] == "/metrics"


def test_podmonitor_scrapes_the_sidecar_http_port(variant):
    _, objects = variant
    (monitor,) = yaml.safe_load_all(kPodMonitor.read_text())
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1" and monitor["kind"] == "PodMonitor"
    assert set(monitor) == {"apiVersion", "kind", "metadata", "spec"} and monitor["metadata"]["name"]
    assert set(monitor["spec"]) == {"selector", "podMetricsEndpoints"}
    (deployment,) = by_kind(objects, "Deployment").values()
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    wanted = monitor["spec"]["selector"]["matchLabels"]
    assert wanted and wanted.items() <= pod_labels.items(), (wanted, pod_labels)
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout"}, endpoint
    assert endpoint["port"] == kHttpPortName and endpoint["path"] == "/metrics"
    assert seconds(endpoint["scrapeTimeout"]) <= seconds(endpoint["interval"])


def test_grace_period_covers_the_drain(variant):
    _, objects = variant
    (deployment,) = by_kind(objects, "Deployment").values()
    settings = camproxy_settings(objects)
    drain = seconds(settings["CAMPROXY_MIN_SIGTERM_DELAY"]) + seconds(settings["CAMPROXY_MAX_SIGTERM_DELAY"])
    assert pod_spec(deployment)["terminationGracePeriodSeconds"] > drain


def test_app_uses_camproxy_on_loopback(variant):
    _, objects = variant
    (deployment,) = by_kind(objects, "Deployment").values()
    (app,) = pod_spec(deployment)["containers"]
    env = {k: v["value"] for k, v in env_of(app).items()}
    assert f"{env['DB_HOST']}:{env['DB_PORT']}" == camproxy_settings(objects)["CAMPROXY_LISTEN"]


def test_references_resolve(variant):
    _, objects = variant
    (deployment,) = by_kind(objects, "Deployment").values()
    spec = pod_spec(deployment)
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    maps, secrets = by_kind(objects, "ConfigMap"), by_kind(objects, "Secret")
    for container in spec["containers"] + spec["initContainers"]:
        for mount in container.get("volumeMounts", []):
            assert mount["name"] in volumes, mount
        for source in container.get("envFrom", []):
            assert source["configMapRef"]["name"] in maps
        for entry in container.get("env", []):
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["key"] in secrets[ref["name"]]["stringData"], ref
    for volume in volumes.values():
        if "configMap" in volume:
            assert volume["configMap"]["name"] in maps
    unknown = set(camproxy_settings(objects)) - documented_variables()
    assert not unknown, f"not in docs/flags.md: {unknown}"


def test_secret_variant_passes_the_key_from_the_secret():
    objects = render("secret-credentials")
    env = env_of(sidecar(objects))
    assert {"TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY"} <= set(env)
    assert all("value" not in env[n] for n in ("TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY"))
    assert not any(n.startswith("TKE_") for n in env)


def test_workload_identity_variant_wires_the_oidc_token():
    objects = render("tke-workload-identity")
    (deployment,) = by_kind(objects, "Deployment").values()
    spec = pod_spec(deployment)
    account = by_kind(objects, "ServiceAccount")[spec["serviceAccountName"]]
    env = {k: v["value"] for k, v in env_of(sidecar(objects)).items()}
    assert not any(n.startswith("TENCENTCLOUD_SECRET") for n in env)
    assert {"TKE_REGION", "TKE_PROVIDER_ID", "TKE_ROLE_ARN", "TKE_WEB_IDENTITY_TOKEN_FILE"} <= set(env)
    assert account["metadata"]["annotations"]["tke.cloud.tencent.com/role-arn"] == env["TKE_ROLE_ARN"]
    token_dir, token_name = env["TKE_WEB_IDENTITY_TOKEN_FILE"].rsplit("/", 1)
    (mount,) = [m for m in sidecar(objects)["volumeMounts"] if m["mountPath"] == token_dir]
    (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    (source,) = volume["projected"]["sources"]
    assert source["serviceAccountToken"] == {"audience": "sts.cloud.tencent.com",
                                             "expirationSeconds": 3600, "path": token_name}
    assert env["TKE_REGION"] == camproxy_settings(objects)["CAMPROXY_REGION"]


def test_no_real_looking_secret_in_deployment_files():
    # The demo and footprint scripts hold throwaway emulator keys on purpose; these folders not.
    for path in (p for folder in ("kubernetes", "container", "systemd", "examples")
                 for p in (kDeploy / folder).rglob("*")):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert not re.search(r"AKID[0-9A-Za-z]{32}", text), f"{path} holds something like a SecretId"


# -- Dockerfile -------------------------------------------------------------------------------

def dockerfile_instructions(path: Path) -> Iterator[tuple[str, str]]:
    logical = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not logical and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue  # comment lines inside a continued instruction
        if stripped.endswith("\\"):
            logical += stripped[:-1] + " "
            continue
        logical += stripped
        keyword, _, args = logical.partition(" ")
        yield keyword.upper(), args.strip()
        logical = ""


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, args in dockerfile_instructions(kDockerfile):
        if keyword == "FROM":
            result.append([])
        result[-1].append((keyword, args))
    return result


def apt_packages(stage: list[tuple[str, str]]) -> list[str]:
    (install,) = [args for keyword, args in stage if keyword == "RUN" and "apt-get install" in args]
    assert "--no-install-recommends" in install and "rm -rf /var/lib/apt/lists/*" in install
    words = install.split("--no-install-recommends", 1)[1].split("&&", 1)[0].split()
    return [w for w in words if not w.startswith("-")]


def test_dockerfile_lints(tmp_path):
    linter = kDeploy / "lint" / "node_modules" / ".bin" / "dockerfile-utils"
    if not linter.exists():
        pytest.fail("dockerfile-utils is missing: run deploy/validate.sh (tests/run.sh does)", pytrace=False)
    result = run([str(linter), "lint", str(kDockerfile)])
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr
    bad = tmp_path / "Dockerfile"  # the linter can fail
    bad.write_text("FROM debian:12\nRUNN true\n")
    assert run([str(linter), "lint", str(bad)]).returncode != 0


def test_dockerfile_structure():
    build, runtime = stages()
    assert build[0] == ("FROM", "debian:12 AS build")
    assert runtime[0] == ("FROM", "debian:12-slim")
    keywords = [k for stage in (build, runtime) for k, _ in stage]
    assert "EXPOSE" not in keywords and "ADD" not in keywords
    assert ("USER", f"{kNonRootUid}:{kNonRootUid}") in runtime
    assert runtime[-1] == ("ENTRYPOINT", json.dumps([kInstalledBinary]))
    copies = [args for k, args in runtime if k == "COPY"]
    assert copies == [f"--from=build /src/build/proxy/camproxy {kInstalledBinary}"]
    # The build packages are the project's own (deploy/setup-debian.sh).
    setup = (kDeploy / "setup-debian.sh").read_text()
    listed = set(re.search(r"packages=\((.*?)\n\)", setup, re.S)[1].split())
    assert set(apt_packages(build)) <= listed


def test_build_context_has_what_cmake_needs(tmp_path):
    build, _ = stages()
    sources = [args.split()[0].rstrip("/") for k, args in build if k == "COPY"]
    allowed = [line[1:].rstrip("/") for line in (kDockerfile.parent / "Dockerfile.dockerignore").read_text().splitlines()
               if line.startswith("!")]
    assert sorted(sources) == sorted(allowed), "COPY and the .dockerignore allow-list differ"
    context = tmp_path / "context"
    for source in sources:
        target = context / source
        if (kRoot / source).is_dir():
            shutil.copytree(kRoot / source, target, ignore=shutil.ignore_patterns("build*", "__pycache__"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(kRoot / source, target)
    (command,) = [args for k, args in build if k == "RUN" and args.startswith("cmake -S")]
    configure = command.split("&&", 1)[0].split()
    configure[configure.index("build")] = str(tmp_path / "build")
    result = run(configure, cwd=context)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]


def package_of(path: str) -> str:
    # Merged /usr: dpkg may have registered the file under /lib or under /usr/lib.
    bare = path.removeprefix("/usr")
    for candidate in (bare, "/usr" + bare):
        result = run(["dpkg-query", "-S", candidate])
        if result.returncode == 0:
            return result.stdout.split(":", 1)[0]
    raise AssertionError(f"no package owns {path}")


def test_runtime_packages_are_what_the_binary_links():
    binary = proxy_binary()
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", run(["readelf", "-d", binary]).stdout)
    resolved = dict(re.findall(r"^\s*(\S+) => (\S+)", run(["ldd", binary]).stdout, re.M))
    # A -DCAMPROXY_SANITIZE build also links the sanitizer runtimes; images never ship those.
    needed = [soname for soname in needed if not soname.startswith(("libasan.", "libubsan.", "libtsan."))]
    packages = {package_of(os.path.realpath(resolved[soname])) for soname in needed}
    in_slim_image = {"libc6", "libstdc++6", "libgcc-s1"}
    _, runtime = stages()
    assert set(apt_packages(runtime)) - {"ca-certificates"} == packages - in_slim_image
    assert "ca-certificates" in apt_packages(runtime)  # libcurl verifies the CAM endpoint


# -- systemd ----------------------------------------------------------------------------------

def unit_settings() -> list[tuple[str, str]]:
    pairs = []
    for line in kUnit.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            pairs.append((key, value))
    return pairs


def test_systemd_unit_verifies(tmp_path):
    analyze = require_tool("systemd-analyze")
    unit = tmp_path / "camproxy.service"
    # verify checks that ExecStart's binary exists: point it at the one just built.
    unit.write_text(kUnit.read_text().replace(kInstalledBinary, proxy_binary()))
    result = run([analyze, "verify", str(unit)])
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    result = run([analyze, "security", "--offline=true", str(unit)])
    exposure = float(re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout)[1])
    assert exposure <= 2.0, result.stdout


def test_systemd_unit_sandbox_and_stop_timeout():
    settings = unit_settings()
    for expected in [("DynamicUser", "yes"), ("ProtectSystem", "strict"), ("NoNewPrivileges", "yes"),
                     ("PrivateTmp", "yes"), ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
                     ("CapabilityBoundingSet", ""), ("MemoryDenyWriteExecute", "yes"),
                     ("SystemCallFilter", "@system-service"), ("EnvironmentFile", "/etc/camproxy/camproxy.env"),
                     ("User", "camproxy"), ("ProtectHome", "yes"), ("PrivateDevices", "yes")]:
        assert expected in settings
    env = example_env()
    drain = seconds(env["CAMPROXY_MIN_SIGTERM_DELAY"]) + seconds(env["CAMPROXY_MAX_SIGTERM_DELAY"])
    assert seconds(dict(settings)["TimeoutStopSec"]) > drain


def test_systemd_unit_uses_the_notify_protocol():
    settings = dict(unit_settings())
    assert settings["Type"] == "notify" and settings["NotifyAccess"] == "main"
    # camproxy pings at half of WATCHDOG_USEC from a 250 ms tick: a few seconds leave slack.
    assert seconds(settings["WatchdogSec"]) >= 5
    assert "ExecStartPost" not in settings, "READY=1 replaces the `camproxy wait` start-up check"
    assert settings["ExecStart"].split()[0] == kInstalledBinary


# -- examples ---------------------------------------------------------------------------------

def example_env() -> dict[str, str]:
    values = {}
    for line in kEnvExample.read_text().splitlines():
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep and re.fullmatch(r"[A-Z][A-Z0-9_]*", key), line
            # Read by systemd and by `docker run --env-file`, which keeps quotes: use none.
            assert not value.startswith(("'", '"')), line
            values[key] = value
    return values


def test_env_example_names_documented_settings():
    env = example_env()
    unknown = {k for k in env if k.startswith("CAMPROXY_")} - documented_variables()
    assert not unknown, f"not in docs/flags.md: {unknown}"
    assert {k for k in env if not k.startswith("CAMPROXY_")} == {"TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY"}


def test_compose_example_shares_the_network_namespace():
    compose = yaml.safe_load(kCompose.read_text())
    proxy, app = compose["services"]["camproxy"], compose["services"]["app"]
    assert app["network_mode"] == "service:camproxy"
    assert app["depends_on"]["camproxy"]["condition"] == "service_healthy"
    assert proxy["healthcheck"]["test"][:3] == ["CMD", kInstalledBinary, "wait"]
    assert proxy["read_only"] is True and proxy["cap_drop"] == ["ALL"]
    assert (kCompose.parent / proxy["env_file"]).exists()
    assert (kRoot / proxy["build"]["dockerfile"]).resolve() == kDockerfile
    env = example_env()
    drain = seconds(env["CAMPROXY_MIN_SIGTERM_DELAY"]) + seconds(env["CAMPROXY_MAX_SIGTERM_DELAY"])
    assert seconds(proxy["stop_grace_period"]) > drain
    assert "ports" not in proxy, "camproxy listens on loopback only"


# -- probe commands against a running camproxy --------------------------------------------------

def probe_commands() -> list[list[str]]:
    """The `camproxy wait` probes: compose's healthcheck and docs/operations.md's exec probes."""
    commands = [yaml.safe_load(kCompose.read_text())["services"]["camproxy"]["healthcheck"]["test"][1:]]
    docs = (kRoot / "docs" / "operations.md").read_text()
    commands += [json.loads(c) for c in re.findall(r"command: (\[\"/usr/bin/camproxy\", \"wait\".*\])", docs)]
    assert len(commands) == 3, commands
    return [[proxy_binary() if word == kInstalledBinary else word for word in c] for c in commands]


def test_probe_commands_work_against_camproxy(camproxy):
    proxy = camproxy()
    env = dict(os.environ, CAMPROXY_ADMIN=f"127.0.0.1:{proxy.admin_port}")
    for command in probe_commands():
        result = run(command, env=env)
        assert result.returncode == 0, (command, result.stdout, result.stderr)
    env["CAMPROXY_ADMIN"] = f"127.0.0.1:{free_port()}"  # nothing listens: the probe must fail
    assert run(probe_commands()[1], env=env).returncode != 0


def test_http_probes_work_against_camproxy(camproxy):
    proxy_spec = sidecar(render(kVariants[0]))
    port = free_port()
    camproxy("--http-address", f"127.0.0.1:{port}")
    for probe in ("startupProbe", "livenessProbe"):
        status, body = http_request("127.0.0.1", port, "GET", proxy_spec[probe]["httpGet"]["path"])
        assert status == 200, (probe, body)


# -- Debian package ---------------------------------------------------------------------------

def test_debian_maintainer_scripts_pass_shellcheck():
    scripts = [str(kDeploy / "debian" / name) for name in ("postinst", "prerm", "postrm")]
    result = run([require_tool("shellcheck"), "--shell=sh", *scripts])
    assert result.returncode == 0, result.stdout
