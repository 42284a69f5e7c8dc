"""docker-compose.yml hangs together: names, ports, volumes, profiles and commands agree."""

from __future__ import annotations

import re
import shlex
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer.main
from tests.deploy.deploy_files import (
    DEPLOYMENT_DOC,
    ENV_EXAMPLE,
    dockerfile_stages,
    env_example,
    environment_of,
    interpolate,
    load_compose,
    load_compose_raw,
    option_value,
    referenced_variables,
)

from ui.cli import app as cli_app


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _depends_on(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    depends = service.get("depends_on") or {}
    return {name: {} for name in depends} if isinstance(depends, list) else depends


def _aliases(service: dict[str, Any]) -> set[str]:
    networks = service.get("networks") or {}
    if isinstance(networks, list):
        return set()
    return {alias for net in networks.values() for alias in ((net or {}).get("aliases") or [])}


def _hosts(services) -> dict[str, list[str]]:
    """Network name -> services answering to it (service names and aliases)."""
    hosts: dict[str, list[str]] = {}
    for name, service in services.items():
        for host in {name, *_aliases(service)}:
            hosts.setdefault(host, []).append(name)
    return hosts


def _container_ports(service: dict[str, Any]) -> set[int]:
    ports = set()
    for entry in service.get("ports") or []:
        target = entry["target"] if isinstance(entry, dict) else str(entry).split(":")[-1].split("/")[0]
        ports.add(int(target))
    return ports


def _listening_port(name: str, service: dict[str, Any], compose: dict[str, Any]) -> int:
    """The port a service's process listens on, read from its command or config."""
    command = service.get("command") or []
    if port := option_value(command, "--port"):
        return int(port)
    if name.startswith("qdrant"):
        return 6333  # Qdrant's HTTP port (service.http_port), not changed here
    for config in service.get("configs") or []:
        content = compose["configs"][config["source"]]["content"]
        return int(re.search(r"listen\s+(\d+);", content).group(1))
    raise AssertionError(f"no listening port known for {name}")


# --- names ---------------------------------------------------------------------------------------


def test_every_dependency_is_a_defined_service(services):
    for name, service in services.items():
        assert set(_depends_on(service)) <= set(services), name


def test_always_on_services_need_no_profile(services):
    """A service without a profile starts in every set-up: what it needs from a profile is optional."""
    for name, service in services.items():
        if service.get("profiles"):
            continue
        for dependency, spec in _depends_on(service).items():
            if services[dependency].get("profiles"):
                assert spec.get("required") is False, f"{name} -> {dependency}"


def test_named_volumes_are_declared_and_used(compose, services):
    used = set()
    for service in services.values():
        for volume in service.get("volumes") or []:
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")
            if source and not source.startswith((".", "/", "~")):
                used.add(source)
    assert used == set(compose.get("volumes") or {})


def test_configs_are_declared(compose, services):
    used = {c["source"] for s in services.values() for c in s.get("configs") or []}
    assert used and used <= set(compose.get("configs") or {})


# --- addresses and ports -------------------------------------------------------------------------


def test_app_urls_reach_a_service_listening_on_that_port(compose, services):
    hosts = _hosts(services)
    env = environment_of(services["app"])
    urls = [env["FAGPRAT_QDRANT_URL"], env["FAGPRAT_LLM_BASE_URL"], "http://llm-proxy:8080/v1"]
    for url in urls:
        parts = urlsplit(url)
        assert parts.hostname in hosts, url
        for target in hosts[parts.hostname]:
            assert _listening_port(target, services[target], compose) == parts.port, (url, target)


def test_the_proxy_forwards_to_defined_model_servers(compose, services):
    content = compose["configs"]["llm-proxy"]["content"]
    upstreams = re.findall(r"server\s+([\w.-]+):(\d+)", content)
    assert len(upstreams) >= 2
    for host, port in upstreams:
        assert host in services
        assert _listening_port(host, services[host], compose) == int(port)
        assert host in _depends_on(services["llm-proxy"])


def test_published_ports_match_what_the_processes_listen_on(compose, services):
    for name in ("app", "bot", "llm-cpu", "llm-gpu"):
        assert _listening_port(name, services[name], compose) in _container_ports(services[name]), name
    assert {6333, 6334} <= _container_ports(services["qdrant"])


def test_health_checks_ask_the_port_the_process_listens_on(compose, services):
    image_url = urlsplit(dockerfile_stages()[-1].env()["HEALTHCHECK_URL"])
    assert image_url.port == _listening_port("app", services["app"], compose)
    assert image_url.path == "/health"
    for name in ("bot", "llm-cpu", "llm-gpu", "qdrant", "llm-proxy"):
        check = " ".join(services[name]["healthcheck"]["test"])
        port = _listening_port(name, services[name], compose)
        assert re.search(rf"\b{port}\b", check), (name, check)


def test_only_loopback_is_published_by_default(services):
    for name, service in services.items():
        for entry in service.get("ports") or []:
            assert str(entry).startswith("127.0.0.1:"), (name, entry)


def test_qdrant_takes_its_api_key_from_the_setting_the_app_uses(services):
    key = environment_of(services["qdrant"])["QDRANT__SERVICE__API_KEY"]
    assert key == environment_of(services["app"])["FAGPRAT_QDRANT_API_KEY"]
    for node in ("qdrant-2", "qdrant-3"):
        assert environment_of(services[node])["QDRANT__SERVICE__API_KEY"] == key


def test_model_server_key_matches_the_app_client(services):
    for name in ("llm-cpu", "llm-gpu", "llm-gpu-2"):
        assert environment_of(services[name])["LLAMA_API_KEY"] == environment_of(services["app"])["FAGPRAT_LLM_API_KEY"]


# --- the model server ----------------------------------------------------------------------------


def test_gpu_profile_reserves_an_nvidia_gpu_and_offloads_every_layer(services):
    gpu = services["llm-gpu"]
    assert gpu["profiles"] == ["gpu"]
    assert "cuda" in gpu["image"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert any(d["driver"] == "nvidia" and "gpu" in d["capabilities"] for d in devices)
    layers = environment_of(gpu).get("LLAMA_ARG_N_GPU_LAYERS") or option_value(gpu["command"], "-ngl", "--n-gpu-layers")
    assert layers == "all" or int(layers) >= 999


def test_cpu_profile_needs_no_gpu(services):
    cpu = services["llm-cpu"]
    assert cpu["profiles"] == ["cpu"]
    assert "cuda" not in cpu["image"]
    assert "deploy" not in cpu
    assert environment_of(cpu)["LLAMA_ARG_N_GPU_LAYERS"] == "0"


def test_both_model_servers_answer_as_llm_and_the_app_waits_for_either(services):
    assert _hosts(services)["llm"] == ["llm-cpu", "llm-gpu"]
    for name in ("llm-cpu", "llm-gpu"):
        spec = _depends_on(services["app"])[name]
        assert spec == {"condition": "service_healthy", "required": False}
    assert _depends_on(services["app"])["qdrant"]["condition"] == "service_healthy"


def test_model_servers_serve_a_mounted_gguf_with_the_openai_api(services):
    for name in ("llm-cpu", "llm-gpu", "llm-gpu-2"):
        service = services[name]
        model = option_value(service["command"], "--model", "-m")
        assert model.startswith("/models/") and model.endswith(".gguf")
        assert any(v.endswith(":/models:ro") for v in service["volumes"])
        assert "--jinja" in service["command"]  # the GGUF's own chat template
        assert option_value(service["command"], "--alias") == environment_of(services["app"])["FAGPRAT_LLM_SERVER_MODEL"]


def test_replicas_use_different_gpus(services):
    def device(name: str) -> list[str]:
        return services[name]["deploy"]["resources"]["reservations"]["devices"][0]["device_ids"]

    assert device("llm-gpu") != device("llm-gpu-2")
    assert "llm" not in _aliases(services["llm-gpu-2"])  # reached through the proxy only


def test_context_is_split_across_slots():
    """-c is shared by the --parallel slots; each must hold the app's whole prompt budget."""
    for env in (env_example(), {}):
        values = interpolate(
            {"total": "${LLM_CTX_TOTAL:-16384}", "slots": "${LLM_PARALLEL:-4}", "slot": "${LLM_CTX_PER_SLOT:-4096}"},
            env,
        )
        assert int(values["total"]) == int(values["slots"]) * int(values["slot"])
    raw = load_compose_raw()
    command = raw["x-llm"]["command"]
    assert option_value(command, "--ctx-size") == "${LLM_CTX_TOTAL:-16384}"
    assert option_value(command, "--parallel") == "${LLM_PARALLEL:-4}"
    assert raw["x-app"]["environment"]["FAGPRAT_LLM_N_CTX"] == "${LLM_CTX_PER_SLOT:-4096}"


# --- jobs, images, variables ---------------------------------------------------------------------


def test_ingest_is_a_one_shot_job_over_read_only_documents(services):
    ingest = services["ingest"]
    assert ingest["profiles"] == ["ingest"]
    assert ingest["restart"] == "no"
    assert ingest["command"][:2] == ["ingest", "/documents"]
    assert ingest["healthcheck"] == {"disable": True}
    assert any(v.endswith(":/documents:ro") for v in ingest["volumes"])
    assert _depends_on(ingest) == {"qdrant": {"condition": "service_healthy"}}


def test_images_are_pinned(services):
    builds = {s["image"] for s in services.values() if "build" in s}
    for name, service in services.items():
        image = service["image"]
        if image in builds:
            continue
        tag = image.rsplit(":", 1)[1] if ":" in image.split("/")[-1] else ""
        assert tag and tag not in {"latest", "server", "server-cuda"}, (name, image)
    llama = {services[n]["image"].rsplit("-", 1)[1] for n in ("llm-cpu", "llm-gpu", "llm-gpu-2")}
    assert len(llama) == 1 and re.fullmatch(r"b\d+", llama.pop())  # one llama.cpp release


def test_env_example_lists_exactly_the_variables_compose_uses():
    used = referenced_variables(load_compose_raw())
    listed = set(env_example())
    assert used - listed == set(), "missing from .env.example"
    assert listed - used == set(), "listed in .env.example but unused"


def test_every_env_example_variable_has_a_comment_nearby():
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        if re.match(r"^[A-Z][A-Z0-9_]*=", line):
            window = lines[max(0, index - 4) : index]
            assert any(previous.startswith("#") for previous in window), line


# --- the fagprat commands ------------------------------------------------------------------------


def _parse_cli(args: list[str]) -> dict[str, Any]:
    """Parse a `fagprat` command line with the real CLI, without running it."""
    root = typer.main.get_command(cli_app)
    with root.context_class(root) as context:
        command = root.get_command(context, args[0])
        assert command is not None, f"fagprat has no command {args[0]!r}"
        return command.make_context(args[0], args[1:], parent=context).params


@pytest.mark.parametrize("service", ["app", "bot", "ingest"])
def test_service_commands_are_valid_fagprat_commands(services, service):
    params = _parse_cli(services[service]["command"])
    assert params.get("host", "0.0.0.0") == "0.0.0.0"


def test_an_invalid_command_is_rejected():
    with pytest.raises(Exception, match="No such option: --purge"):
        _parse_cli(["ingest", "/documents", "--purge"])


def test_commands_in_the_deployment_guide_are_valid():
    """`docker compose ... run --rm <service> <fagprat arguments>` lines in docs/deployment.md."""
    if not DEPLOYMENT_DOC.is_file():
        pytest.skip("docs/deployment.md is not there")
    text = DEPLOYMENT_DOC.read_text(encoding="utf-8").replace("\\\n", " ")  # join continued lines
    pattern = re.compile(r"docker compose .*?run --rm (?:--no-deps )?(?:app|bot|ingest)(?P<args>[^\n`]*)")
    found = [m.group("args").strip() for m in pattern.finditer(text)]
    commands = [shlex.split(args) for args in found if args]
    assert commands, "the guide shows no fagprat command run through compose"
    for args in commands:
        _parse_cli(args)
