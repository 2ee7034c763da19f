"""What a newcomer meets first: the README's commands, the packaging metadata, `make test`
and the CI entry point on a bare Debian image."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from streams.cli import build_parser

REPO = Path(__file__).resolve().parents[2]


def _readme_commands() -> list[list[str]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.DOTALL):
        for line in block.splitlines():
            line = line.split("  #", 1)[0].strip()
            if line.startswith("brandpulse "):
                commands.append(shlex.split(line)[1:])
    return commands


def test_readme_says_how_to_get_the_command_and_what_to_install() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert "source .venv/bin/activate" in text and ".venv/bin/brandpulse" in text
    for prerequisite in ("python3-venv", "`make`", "package index", "disk", "promtool",
                         "amtool", "docker-compose"):
        assert prerequisite in text, prerequisite


def test_every_readme_command_parses_and_replay_needs_no_missing_file() -> None:
    commands = _readme_commands()
    assert len(commands) > 8
    parser = build_parser()
    for argv in commands:
        parser.parse_args(argv)  # SystemExit (a failed test) on an unknown option
        if argv[0] == "replay":
            assert "--synthetic" in argv or (REPO / argv[1]).exists(), argv


def test_pyproject_licence_markers_and_tzdata() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["license"] == "Apache-2.0"  # SPDX string (PEP 639)
    requires = project["build-system"]["requires"]
    setuptools = next(r for r in requires if r.startswith("setuptools"))
    assert int(re.search(r">=(\d+)", setuptools).group(1)) >= 77  # type: ignore[union-attr]
    dependencies = project["project"]["dependencies"]
    uvloop = next(d for d in dependencies if d.startswith("uvloop"))
    assert "sys_platform != 'win32'" in uvloop
    assert any(d.startswith("tzdata") for d in dependencies)


def test_make_test_reports_skip_reasons() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "pytest" in recipe and " -rs" in recipe


@pytest.mark.skipif(os.name != "posix", reason="bash script")
def test_ci_run_installs_make_and_python3_venv_on_a_bare_debian(tmp_path: Path) -> None:
    """.ci/run with nothing installed: apt-get is asked for make, python3-venv and the
    test tools, then `make test` runs. Every command is a stub recording its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    for tool in ("bash", "dirname", "id", "chmod"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    bash = shutil.which("bash")
    make = f'#!{bash}\necho "make $*" >> "{log}"\n'
    stubs = {
        # apt-get "installs" make: on a bare image there is none before.
        "apt-get": (f'#!{bash}\necho "apt-get $*" >> "{log}"\n'
                    f'case " $* " in *" make "*) printf %s {shlex.quote(make)} > '
                    f'"{bin_dir}/make"; chmod +x "{bin_dir}/make";; esac\n'),
        "python3": f'#!{bash}\necho "python3 $*" >> "{log}"\nexit 1\n',  # no venv module
    }
    for stub, script in stubs.items():
        path = bin_dir / stub
        path.write_text(script)
        path.chmod(0o755)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    result = subprocess.run([str(bin_dir / "bash"), str(REPO / ".ci" / "run")], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    install = next(c for c in calls if c.startswith("apt-get install"))
    for package in ("make", "python3-venv", "prometheus", "prometheus-alertmanager",
                    "docker-compose"):
        assert package in install.split(), install
    assert calls[-1] == "make test"


def test_evaluation_data_is_found_only_through_the_fixture(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import SHARED_DATA_ENV, shared_data_dir

    for path in (REPO / "tests").rglob("*.py"):
        if path in (REPO / "tests" / "conftest.py", Path(__file__).resolve()):
            continue
        text = path.read_text(encoding="utf-8")
        assert '"shared"' not in text and "shared/data" not in text.replace(
            "../shared/data", ""), f"{path} computes the evaluation data path itself"
    monkeypatch.setenv(SHARED_DATA_ENV, str(tmp_path))
    assert shared_data_dir() == tmp_path
    monkeypatch.setenv(SHARED_DATA_ENV, str(tmp_path / "absent"))
    assert shared_data_dir() is None  # an explicit override is never second-guessed
