"""Configuration as data, obeyed everywhere: flag > environment > config file > default
for every option and every command; default config files as Radicale reads them; a bad
value is one line and exit 2; the shipped example is the generated one."""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from server import config
from server.cli.main import build_parser, flag_values, main
from tests.cli.clirun import ROOT, Result

# Valid values per option: (file, environment, flag), each differing from the one it overrides
# (log_format has two choices only).
SAMPLES: dict[str, tuple[Any, Any, Any]] = {
    "database": ("sqlite:///from-file.db", "sqlite:///from-env.db", "sqlite:///from-flag.db"),
    "host": ("10.0.0.1", "10.0.0.2", "10.0.0.3"),
    "port": (1111, 2222, 3333),
    "max_body": (111, 222, 333),
    "log_level": ("debug", "error", "critical"),
    "log_format": ("json", "text", "json"),
    "auth_delay": (0.1, 0.2, 0.3),
    "workers": (2, 3, 4),
    "threads": (5, 6, 7),
    "max_connections": (50, 60, 70),
    "timeout": (10, 20, 40),
    "keepalive": (0, 5, 9),
    "graceful_timeout": (5, 6, 7),
    "malloc_arenas": (0, 1, 4),
    "certificate": ("/etc/a.pem", "/etc/b.pem", "/etc/c.pem"),
    "key": ("/etc/a.key", "/etc/b.key", "/etc/c.key"),
    "auth": ("htpasswd", "store", "htpasswd"),
    "htpasswd_file": ("/etc/a.htpasswd", "/etc/b.htpasswd", "/etc/c.htpasswd"),
    "max_components": (100, 200, 300),
    "max_properties": (1000, 2000, 3000),
    "max_nesting": (4, 5, 6),
    "max_attendees": (10, 20, 30),
    "max_instances": (1000, 2000, 3000),
    "max_expansion_ms": (100, 200, 300),
    "max_calendars": (1, 2, 3),
    "max_personal_objects": (10, 20, 30),
    "public_url": ("https://a.example", "https://b.example", "https://c.example"),
    "max_feed_objects": (10, 20, 30),
    "max_feeds": (1, 2, 3),
    "feed_cache_mb": (0, 1, 2),
    "login_cache_entries": (0, 1, 2),
    "mask_cache_entries": (0, 1, 2),
    "export_cache_entries": (0, 1, 2),
    "overlap_cache_entries": (0, 1, 2),
    "recurrence_cache_entries": (0, 1, 2),
    "timezone_cache_entries": (0, 1, 2),
    "line_cache_entries": (0, 1, 2),
}
PASSWORD = "s3cret"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any FOLLOWUPS_* setting, and no default config files."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLLOWUPS_")}
    return {**env, config.DEFAULT_FILES_ENV: "", **extra}


def followups(*args: str, env: dict[str, str] | None = None, stdin: str = "") -> Result:
    proc = subprocess.run([sys.executable, "-W", "error", "-m", "server.cli", *args], cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=120, env=env or clean_env())
    return Result(proc.returncode, proc.stdout, proc.stderr)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(path: Path, **options: Any) -> Path:
    path.write_text("[followups]\n" + "".join(f"{k} = {v}\n" for k, v in options.items()), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def no_machine_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process tests see neither the machine's config files nor its FOLLOWUPS_* variables."""
    for name in list(os.environ):
        if name.startswith("FOLLOWUPS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv(config.DEFAULT_FILES_ENV, "")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """(URL, login) of a SQLite store with one user, made with the CLI."""
    url = f"sqlite:///{tmp_path_factory.mktemp('config') / 'followups.db'}"
    for args, stdin in ((["init"], ""), (["user", "add", "cfg", "--name", "Con Fig", "--email", "cfg@example.com"], ""),
                        (["user", "passwd", "cfg"], PASSWORD + "\n")):
        result = followups("--database", url, *args, stdin=stdin)
        assert result.code == 0, result.err
    return url, "cfg"


# -- config.load: precedence, per option -------------------------------------------------


@pytest.mark.parametrize("key", sorted(config.SCHEMA))
def test_precedence_flag_beats_env_beats_file_beats_default(key: str, tmp_path: Path) -> None:
    in_file, in_env, in_flag = SAMPLES[key]
    path = write_config(tmp_path / "config", **{key: in_file})
    env = {config.SCHEMA[key]["env"]: str(in_env)}
    assert getattr(config.load(None, {}, {}), key) == config.SCHEMA[key]["value"]
    assert getattr(config.load(path, {}, {}), key) == in_file
    assert getattr(config.load(path, {}, env), key) == in_env
    assert getattr(config.load(path, {key: in_flag}, env), key) == in_flag
    assert getattr(config.load(None, {key: in_flag}, {}), key) == in_flag


def test_every_option_has_samples_and_a_generated_serve_flag() -> None:
    assert set(SAMPLES) == set(config.SCHEMA)
    (commands,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    serve = commands.choices["serve"]
    generated = {a.option_strings[0]: a for a in serve._actions if a.dest in config.SCHEMA}
    assert set(generated) == {config.flag(key) for key in config.SCHEMA}
    assert all(a.default is argparse.SUPPRESS for a in generated.values())


def test_flags_have_no_argparse_defaults() -> None:
    args = build_parser().parse_args(["serve"])
    assert flag_values(args) == {}
    assert not hasattr(args, "config")
    args = build_parser().parse_args(["--config", "a.ini", "--database", "x.db", "serve", "--host", "0.0.0.0",
                                      "--port", "8080", "--max-body", "5", "--demo"])
    assert flag_values(args) == {"database": "x.db", "host": "0.0.0.0", "port": 8080, "max_body": 5}
    assert args.config == "a.ini" and args.demo is True
    assert build_parser().parse_args(["--config", "a.ini", "serve", "--config", "b.ini"]).config == "b.ini"


def test_empty_environment_variables_are_unset(tmp_path: Path) -> None:
    path = write_config(tmp_path / "config", port=1111)
    assert config.load(path, {}, {"FOLLOWUPS_PORT": ""}).port == 1111


# -- which config file -------------------------------------------------------------------


def test_default_file_discovery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "etc-config", tmp_path / "home-config"
    monkeypatch.setattr(config, "DEFAULT_FILES", (str(first), str(second)))
    environ: dict[str, str] = {}
    assert config.find_file(None, environ).path is None
    assert "built-in defaults" in config.find_file(None, environ).describe()
    write_config(second, port=2222)
    assert config.find_file(None, environ).path == second
    assert config.resolve(None, {}, environ)[0].port == 2222
    write_config(first, port=1111)
    assert config.find_file(None, environ).path == first
    named = write_config(tmp_path / "named", port=3333)
    assert config.find_file(None, {config.CONFIG_ENV: str(named)}).path == named
    flagged = write_config(tmp_path / "flagged", port=4444)
    assert config.find_file(str(flagged), {config.CONFIG_ENV: str(named)}).path == flagged
    assert config.find_file("", environ).path is None
    # The tests' own override of the default list.
    assert config.find_file(None, {config.DEFAULT_FILES_ENV: str(second)}).path == second
    assert config.find_file(None, {config.DEFAULT_FILES_ENV: ""}).path is None


def test_a_named_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match="not found"):
        config.find_file(str(tmp_path / "missing"), {})
    with pytest.raises(config.ConfigError, match=config.CONFIG_ENV):
        config.find_file(None, {config.CONFIG_ENV: str(tmp_path / "missing")})


# -- main(): every command, in process -----------------------------------------------------


def test_main_resolves_settings_for_serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[config.Settings, config.ConfigFile]] = []

    def fake_serve(settings: config.Settings, config_file: config.ConfigFile, demo: bool = False) -> int:
        seen.append((settings, config_file))
        return 0

    monkeypatch.setattr("server.dav.server.serve", fake_serve)
    path = write_config(tmp_path / "config", database="sqlite:///file.db", host="10.0.0.1", port=1111, max_body=5)
    monkeypatch.setenv("FOLLOWUPS_PORT", "2222")
    monkeypatch.setenv("FOLLOWUPS_MAX_BODY", "6")
    assert main(["--config", str(path), "serve", "--max-body", "7"]) == 0
    assert main(["serve", "--config", str(path)]) == 0
    monkeypatch.setenv(config.CONFIG_ENV, str(path))
    assert main(["--database", "sqlite:///flag.db", "serve"]) == 0
    (a, file_a), (b, _), (c, file_c) = seen
    assert (a.database, a.host, a.port, a.max_body, a.log_level) == \
        ("sqlite:///file.db", "10.0.0.1", 2222, 7, "warning")
    assert (b.port, b.max_body) == (2222, 6)
    assert (c.database, c.host) == ("sqlite:///flag.db", "10.0.0.1")
    assert file_a.origin == "--config" and file_c.origin == config.CONFIG_ENV


# -- the CLI: every command, one-line errors -----------------------------------------------


def test_other_commands_use_the_config_files_database(store: tuple[str, str], tmp_path: Path) -> None:
    url, login = store
    path = write_config(tmp_path / "config", database=url)
    listed = followups("--config", str(path), "user", "list", "--json")
    assert listed.code == 0, listed.err
    assert [u["login"] for u in listed.json()] == [login]
    from_env = followups("user", "list", "--json", env=clean_env(FOLLOWUPS_CONFIG=str(path)))
    assert [u["login"] for u in from_env.json()] == [login]
    empty = f"sqlite:///{tmp_path / 'other.db'}"
    assert followups("--database", empty, "init").code == 0
    assert followups("--config", str(path), "--database", empty, "user", "list", "--json").json() == []
    assert followups("--config", str(path), "user", "list", "--json",
                     env=clean_env(FOLLOWUPS_DATABASE=empty)).json() == []


def test_bad_port_in_the_environment_is_one_line_exit_2(tmp_path: Path) -> None:
    result = followups("--database", f"sqlite:///{tmp_path / 'x.db'}", "serve", env=clean_env(FOLLOWUPS_PORT="abc"))
    assert result.code == 2
    line = result.error_line()
    assert "port" in line and "FOLLOWUPS_PORT" in line and "'abc'" in line


@pytest.mark.parametrize("where", ["flag", "env", "file"])
def test_port_out_of_range_is_one_line_exit_2(where: str, tmp_path: Path) -> None:
    args = ["--database", f"sqlite:///{tmp_path / 'x.db'}", "serve"]
    env = clean_env()
    if where == "flag":
        args += ["--port", "65536"]
    elif where == "env":
        env["FOLLOWUPS_PORT"] = "-1"
    else:
        args += ["--config", str(write_config(tmp_path / "config", port=70000))]
    result = followups(*args, env=env)
    assert result.code == 2
    assert "port" in result.error_line()


@pytest.mark.parametrize("before_command", [True, False])
def test_a_missing_config_file_is_one_line_exit_2(before_command: bool, tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.conf")
    args = ["--config", missing, "serve"] if before_command else ["serve", "--config", missing]
    result = followups(*args)
    assert result.code == 2
    assert missing in result.error_line() and "not found" in result.error_line()


def test_a_missing_FOLLOWUPS_CONFIG_file_is_one_line_exit_2(tmp_path: Path) -> None:
    result = followups("user", "list", env=clean_env(FOLLOWUPS_CONFIG=str(tmp_path / "missing.conf")))
    assert result.code == 2
    assert "FOLLOWUPS_CONFIG" in result.error_line()


@pytest.mark.parametrize("text, expected", [
    ("[followups]\nprot = 1\n", "unknown option 'prot'"),
    ("[server]\nport = 1\n", "unknown section [server]"),
    ("port = 1\n", "no section headers"),
])
def test_a_bad_config_file_is_one_line_exit_2(text: str, expected: str, tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(text, encoding="utf-8")
    result = followups("--config", str(path), "user", "list")
    assert result.code == 2
    assert expected in result.error_line() and str(path) in result.error_line()


def test_the_example_config_is_the_generated_one() -> None:
    """config/followups.conf is ``config.example()``: regenerate it with
    ``python -c "from server import config; print(config.example(), end='')" > config/followups.conf``."""
    assert (ROOT / "config" / "followups.conf").read_text(encoding="utf-8") == config.example()
    assert config.load(ROOT / "config" / "followups.conf", {}, {}) == config.load(None, {}, {})


# -- a real server -------------------------------------------------------------------------


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    """Start ``followups ARGS... `` as a server; returns (CalDAV URL, its stderr so far)."""
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str, env: dict[str, str] | None = None) -> tuple[str, str]:
        out, err = tmp_path / f"serve{len(procs)}.out", tmp_path / f"serve{len(procs)}.err"
        with out.open("w") as stdout, err.open("w") as stderr:
            proc = subprocess.Popen([sys.executable, "-m", "server.cli", *args], cwd=ROOT, stdout=stdout,
                                    stderr=stderr, text=True, env=env or clean_env())
        procs.append(proc)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = re.search(r"CalDAV URL: (\S+)", out.read_text())
            if found:
                return found.group(1), err.read_text()
            assert proc.poll() is None, err.read_text()
            time.sleep(0.1)
        raise AssertionError(f"no URL printed: {err.read_text()}")

    try:
        yield start
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def test_serve_listens_on_FOLLOWUPS_PORT(serve: Any, store: tuple[str, str]) -> None:
    url, _ = store
    port = free_port()
    base, err = serve("--database", url, "serve", env=clean_env(FOLLOWUPS_PORT=str(port)))
    assert base == f"http://127.0.0.1:{port}/"
    assert "no config file" in err and "built-in defaults" in err
    answer = requests.request("PROPFIND", base, headers={"Depth": "0"}, timeout=30)
    assert answer.status_code == 401


@pytest.mark.parametrize("before_command", [True, False])
def test_serve_uses_the_config_files_database_and_port(before_command: bool, serve: Any, store: tuple[str, str],
                                                         tmp_path: Path) -> None:
    url, login = store
    port = free_port()
    path = write_config(tmp_path / "config", database=url, port=port, auth_delay=0)
    args = ["--config", str(path), "serve"] if before_command else ["serve", "--config", str(path)]
    base, err = serve(*args)
    assert base == f"http://127.0.0.1:{port}/"
    assert f"config file {path}" in err
    answer = requests.request("PROPFIND", f"{base}{login}/", auth=(login, PASSWORD), headers={"Depth": "0"},
                              timeout=30)
    assert answer.status_code == 207, answer.text


def test_the_readme_deploy_steps_with_the_shipped_config(serve: Any, tmp_path: Path) -> None:
    """README, Deploy: copy config/followups.conf to the default place, set the
    database and port, `followups init`, `followups serve --workers 2`.
    The default place is redirected into tmp_path; everything else is as written."""
    default = tmp_path / "etc" / "followup-caldav" / "config"
    default.parent.mkdir(parents=True)
    shipped = (ROOT / "config" / "followups.conf").read_text(encoding="utf-8")
    port = free_port()
    database = f"sqlite:///{tmp_path / 'crm.db'}"
    edited = re.sub(r"(?m)^database *=.*$", f"database = {database}", shipped)
    edited = re.sub(r"(?m)^port *=.*$", f"port = {port}", edited)
    assert edited.count(database) == 1 and edited.count(f"port = {port}") == 1
    default.write_text(edited, encoding="utf-8")
    env = clean_env(**{config.DEFAULT_FILES_ENV: f"{tmp_path / 'nowhere'}{os.pathsep}{default}"})

    for args, stdin in ((["init"], ""), (["user", "add", "admin", "--name", "Ad Min", "--email", "a@example.com"], ""),
                        (["user", "passwd", "admin"], PASSWORD + "\n")):
        result = followups(*args, env=env, stdin=stdin)
        assert result.code == 0, result.err
    assert (tmp_path / "crm.db").exists()
    base, err = serve("serve", "--workers", "2", env=env)
    assert base == f"http://127.0.0.1:{port}/"
    assert f"config file {default} (default)" in err
    assert "(2 process(es)" in err
    answer = requests.request("PROPFIND", f"{base}admin/", auth=("admin", PASSWORD), headers={"Depth": "0"},
                              timeout=30)
    assert answer.status_code == 207, answer.text
