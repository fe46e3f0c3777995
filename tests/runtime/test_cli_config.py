"""Node configuration: `panda-runtime --help` documents every option with its unit; flags beat
PANDA_* env, which beats the YAML file, which beats the defaults; anything invalid ends in a
one-line error naming the option and exit code 2. (Service sections: test_config_sections.)"""

from __future__ import annotations

import concurrent.futures
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml

from panda.runtime import ConfigError, constants
from panda.runtime.cli import build_command
from panda.runtime.config import DESCRIPTIONS, NodeConfig, load_config, ring_bytes_for
from panda.runtime.service import load_service_classes
from panda.services.launcher import DEFAULT_SERVICES

from .conftest import NODE_ENV, REPO_ROOT, RUNTIME_ONLY_SERVICES, spec

pytestmark = pytest.mark.multiprocess

CLI = [sys.executable, "-m", "panda.services.launcher"]       # `panda-runtime`
UNITS = {"shards", "CPU list", "bytes", "id", "path", "ms", "µs", "host:port", "module:Class",
         "partitions", "members"}
PRODUCT_CLASSES = load_service_classes(DEFAULT_SERVICES)


def product_config(path: str | None = None, flags: dict | None = None,
                   environ: dict | None = None) -> NodeConfig:
    """The config `panda-runtime` builds: the runtime's keys and its services' sections."""
    return load_config(path, flags, environ or {}, classes=PRODUCT_CLASSES,
                       services_default=DEFAULT_SERVICES)


def write_yaml(tmp_path: Path, data: dict, name: str = "node.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return str(path)


# -- --help -------------------------------------------------------------------------------
def test_help_documents_every_option_with_its_unit():
    result = subprocess.run([*CLI, "--help"], capture_output=True, text=True, timeout=30,
                            check=False)
    assert result.returncode == 0, result.stderr
    text = "".join(result.stdout.split())          # wrapping may split at a hyphen
    command = build_command(PRODUCT_CLASSES, DEFAULT_SERVICES)
    options = [p for p in command.params if isinstance(p, click.Option)]
    assert {o.name for o in options} >= {"smp", "cpuset", "memory_bytes", "reserve_memory_bytes",
                                         "overprovisioned", "blocked_reactor_notify_ms",
                                         "ring_bytes", "message_bytes_max", "config_file"}
    for option in options:
        assert option.opts[0] in text, option.opts[0]
        assert option.help and "".join(option.help.split()) in text, option.opts[0]
        if option.is_flag or isinstance(option.type, click.Choice):
            continue                         # a switch or a closed set has no unit
        unit = option.help.rsplit("[", 1)[-1].rstrip("]")
        assert option.help.endswith("]") and unit in UNITS, (option.opts[0], option.help)


def test_every_config_property_has_a_default_and_a_line_of_documentation():
    config = NodeConfig()
    for name in NodeConfig.__struct_fields__:
        assert DESCRIPTIONS.get(name), name
        assert hasattr(config, name)
    assert config.services == []            # the bare runtime runs only what it is given
    assert product_config().services == list(DEFAULT_SERVICES)
    assert config.ring_bytes is None        # sized from smp by ring_bytes_for
    assert ring_bytes_for(2, None) == constants.RING_BYTES_DEFAULT
    assert ring_bytes_for(64, None) * 63 <= constants.RINGS_PER_SHARD_BYTES_MAX
    assert ring_bytes_for(64, 1 << 20) == 1 << 20


# -- precedence ---------------------------------------------------------------------------
def test_defaults_apply_without_file_env_or_flags():
    config = load_config(None, {}, environ={})
    assert config == NodeConfig()


def test_the_file_beats_the_defaults(tmp_path):
    path = write_yaml(tmp_path, {"smp": 3, "ring_bytes": "128K", "memory_bytes": "2G",
                                 "overprovisioned": True, "admin": {"addr": "127.0.0.1:1"}})
    config = product_config(path)
    assert (config.smp, config.ring_bytes, config.memory_bytes) == (3, 128 << 10, 2 << 30)
    assert config.overprovisioned is True and config.admin.addr == "127.0.0.1:1"
    assert config.message_bytes_max == constants.MESSAGE_BYTES_MAX_DEFAULT   # untouched


def test_env_beats_the_file_and_flags_beat_both(tmp_path):
    path = write_yaml(tmp_path, {"smp": 3, "ring_bytes": "128K", "node_id": 5,
                                 "log_level": "warning"})
    environ = {"PANDA_SMP": "4", "PANDA_RING_BYTES": "256K", "PANDA_OVERPROVISIONED": "true",
               "PANDA_SERVICES": "a.b:C,d.e:F"}
    config = load_config(path, {"smp": 6, "log_level": None}, environ=environ)
    assert config.smp == 6                       # flag > env > file
    assert config.ring_bytes == 256 << 10        # env > file
    assert config.node_id == 5                   # file > default
    assert config.log_level == "warning"         # an unset flag (None) does not override
    assert config.overprovisioned is True
    assert config.services == ["a.b:C", "d.e:F"]


def test_the_cli_flag_beats_the_config_file_in_a_running_node(panda_node, tmp_path):
    path = write_yaml(tmp_path, {"smp": 1, "overprovisioned": True, "ring_bytes": "64K"})
    node = panda_node(smp=2, services=[spec("Probe")], args=["--config", path], env=NODE_ENV)
    assert node.call("probe", "whoami", shard=1)[:2] == [1, 2]   # --smp 2 beat smp: 1
    assert len(node.shard_pids()) == 2
    assert node.stop() == 0


# -- invalid values -----------------------------------------------------------------------
@pytest.mark.parametrize("data, names", [
    ({"bogus_option": 1}, "bogus_option"),
    ({"smp": "two"}, "$.smp"),
    ({"overprovisioned": "maybe"}, "$.overprovisioned"),
    ({"smp": 0}, "$.smp"),
    ({"ring_bytes": 100_000}, "$.ring_bytes"),
    ({"ring_bytes": "1K"}, "$.ring_bytes"),
    ({"memory_bytes": "lots"}, "$.memory_bytes"),
    ({"cpuset": "0-x"}, "$.cpuset"),
    ({"cpuset": ","}, "$.cpuset"),
    ({"services": ["no_colon"]}, "$.services"),
])
def test_an_invalid_file_raises_a_config_error_naming_the_option(tmp_path, data, names):
    with pytest.raises(ConfigError) as info:
        load_config(write_yaml(tmp_path, data), {}, environ={})
    assert names in str(info.value)


def test_an_invalid_env_value_names_the_option():
    with pytest.raises(ConfigError, match=r"\$\.smp"):
        load_config(None, {}, environ={"PANDA_SMP": "many"})


def test_unreadable_or_malformed_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(str(tmp_path / "missing.yaml"), {}, environ={})
    bad = tmp_path / "bad.yaml"
    bad.write_text("smp: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(str(bad), {}, environ={})
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(str(listing), {}, environ={})


def _bad_files(tmp_path: Path) -> dict[str, str]:
    files = {
        "unknown": {"bogus_option": 1}, "type": {"smp": "two"}, "ring": {"ring_bytes": 100_000},
        "cpuset": {"cpuset": "1-b"}, "service": {"services": ["no_colon"]},
    }
    out = {key: write_yaml(tmp_path, data, f"{key}.yaml") for key, data in files.items()}
    malformed = tmp_path / "malformed.yaml"
    malformed.write_text("smp: [1,\n  ring_bytes: 2\n")
    out["malformed"] = str(malformed)
    return out


# (argv, what the one-line error must name)
def _cases(files: dict[str, str]) -> list[tuple[list[str], str]]:
    return [
        (["--smp", "0"], "--smp"),
        (["--memory", "lots"], "--memory"),
        (["--ring-bytes", "100K"], "ring_bytes"),
        (["--blocked-reactor-notify-ms", "0"], "--blocked-reactor-notify-ms"),
        (["--cpuset", "x"], "cpuset"),
        (["--cpuset", "0-1023", "--smp", "1"], "cpuset"),
        (["--smp", "64"], "smp"),
        (["--log-level", "loud"], "--log-level"),
        (["--no-such-flag"], "--no-such-flag"),
        (["--service", "no.such.module:Thing"], "no.such.module:Thing"),
        (["--service", "panda.runtime:NotAClass"], "NotAClass"),
        (["--memory", "20M", "--smp", "2", "--overprovisioned"], "memory"),
        (["--config", files["unknown"]], "bogus_option"),
        (["--config", files["type"]], "$.smp"),
        (["--config", files["ring"]], "$.ring_bytes"),
        (["--config", files["cpuset"]], "$.cpuset"),
        (["--config", files["service"]], "$.services"),
        (["--config", files["malformed"]], "malformed.yaml"),
    ]


def _run_cli(argv: list[str], cwd: Path) -> tuple[list[str], int | None, str, str]:
    env = {"PYTHONPATH": REPO_ROOT, "PATH": "/usr/bin:/bin"}      # no PANDA_* from the test
    if "--config" not in argv:        # the file cases fail before (or by replacing) the services
        env["PANDA_SERVICES"] = RUNTIME_ONLY_SERVICES
    try:
        result = subprocess.run([*CLI, *argv, "--admin-addr", "127.0.0.1:1"], cwd=cwd, env=env,
                                capture_output=True, text=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        return argv, None, "", "did not exit within 30 s"
    return argv, result.returncode, result.stdout, result.stderr


def test_invalid_flags_and_config_exit_2_with_a_one_line_error(tmp_path):
    cases = _cases(_bad_files(tmp_path))
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:   # one per core here
        results = list(pool.map(lambda case: _run_cli(case[0], tmp_path), cases))
    failures = []
    for (argv, name), (_, code, out, err) in zip(cases, results):
        lines = err.strip().splitlines()
        if code != 2 or len(lines) != 1 or name not in lines[0] or out:
            failures.append(f"{argv}: exit {code}, stdout {out!r}, stderr {err!r}")
        elif not lines[0].startswith("panda-runtime: error: "):
            failures.append(f"{argv}: {lines[0]!r}")
    assert not failures, "\n".join(failures)
