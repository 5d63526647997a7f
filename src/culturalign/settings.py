"""The workflow configuration: schema validation with defaults, and a typed view of it.

:func:`validate_config` checks a config mapping against ``workflow/schemas/config.schema.yaml``
(and every benchmark block against its plug-in's schema), fills in the schemas' defaults in
place, and raises :class:`~culturalign.errors.ConfigError` naming the key at fault. A string
where the schema wants a number or a boolean (how ``snakemake --config`` hands over nested
values) is read as YAML reads it.
:class:`WorkflowSettings` is the part of the config that shapes the job graph.
"""

from __future__ import annotations

import copy
import functools
import re
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from jsonschema import validators
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from culturalign.benchmarks import get_benchmark
from culturalign.constants import CELL_LANGUAGES, FRAMINGS, REASONING
from culturalign.errors import ConfigError
from culturalign.io.yaml_files import load_yaml

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "workflow" / "schemas"
"""The repository's schema folder (config, benchmark plug-ins, tables)."""


@functools.cache
def config_schema() -> dict[str, Any]:
    """``workflow/schemas/config.schema.yaml``, parsed once."""
    return load_yaml(SCHEMA_DIR / "config.schema.yaml", missing="config schema")


def schema_defaults(*block: str) -> dict[str, Any]:
    """The ``default:`` of every key of a config block (``schema_defaults("metrics")``,
    ``schema_defaults("translation", "thresholds")``): the schema is the only place a default
    is written; the settings classes take theirs from here."""
    schema = config_schema()
    for name in block:
        schema = schema["properties"][name]
    return {
        key: value["default"] for key, value in schema["properties"].items() if "default" in value
    }


def _registry() -> Registry:
    """Resolve ``$ref: other.schema.yaml`` (a file URI relative to the referring schema).

    The referenced schema's ``$schema`` is dropped so that it is validated by the same
    (default-filling) validator class rather than a fresh one for its dialect.
    """

    def retrieve(uri: str) -> Resource:
        path = Path(urllib.parse.unquote(urllib.parse.urlparse(uri).path))
        if not path.is_file():
            raise ConfigError(f"schema reference {uri}: no such file")
        contents = dict(load_yaml(path))
        contents.pop("$schema", None)
        contents["$id"] = path.as_uri()
        return DRAFT202012.create_resource(contents)

    return Registry(retrieve=retrieve)  # type: ignore[call-arg]


def _with_defaults(validator_class: type) -> type:
    """A validator class that fills in ``default:`` values (deep copies) as it validates."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):  # noqa: ANN001
        if isinstance(instance, MutableMapping):
            for name, subschema in properties.items():
                wanted = isinstance(subschema, Mapping) and "default" in subschema
                if wanted and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(validator_class, {"properties": set_defaults})


_DefaultingValidator = _with_defaults(jsonschema.Draft202012Validator)


def _key_path(path: Iterable[Any], prefix: str = "") -> str:
    parts = [prefix] if prefix else []
    parts += [str(part) for part in path]
    return ".".join(parts) or "(top level)"


def _allowed_keys(schema: Mapping[str, Any], base: Path | None) -> set[str]:
    """Property names a schema declares, those of the schemas it includes (allOf) too."""
    keys = set((schema.get("properties") or {}).keys())
    for part in schema.get("allOf") or []:
        ref = part.get("$ref") if isinstance(part, Mapping) else None
        if ref and base is not None and (base / ref).is_file():
            included = load_yaml(base / ref)
            keys |= _allowed_keys(included, (base / ref).parent)
        elif isinstance(part, Mapping):
            keys |= _allowed_keys(part, base)
    return keys


def _message(error: jsonschema.ValidationError, base: Path | None = None) -> str:
    if error.validator == "additionalProperties" or error.validator == "unevaluatedProperties":
        allowed = sorted(_allowed_keys(error.schema, base))
        extra = re.findall(r"'([^']+)'", error.message.split("(")[-1]) or [error.message]
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return f"unknown key(s) {', '.join(extra)}{hint}"
    if error.validator == "required":
        return error.message.replace("is a required property", "is required")
    return error.message


_JSON_TYPES: Mapping[str, Callable[[Any], bool]] = {
    "integer": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "number": lambda value: isinstance(value, int | float) and not isinstance(value, bool),
    "boolean": lambda value: isinstance(value, bool),
    "null": lambda value: value is None,
    "array": lambda value: isinstance(value, list),
    "object": lambda value: isinstance(value, dict),
}


_DECIMAL = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _type_errors(errors: Iterable[jsonschema.ValidationError]) -> Iterator[Any]:
    """The ``type`` errors among ``errors`` and their sub-errors (``anyOf`` branches)."""
    for error in errors:
        if error.validator == "type":
            yield error
        yield from _type_errors(error.context or ())


def _read_scalar_strings(
    block: MutableMapping[str, Any], errors: Sequence[jsonschema.ValidationError]
) -> bool:
    """Read as YAML every string where the schema wants no string but a number, a boolean
    or null, when YAML reads it as one; say whether any was.

    ``snakemake --config 'metrics={bootstrap_resamples: 99}'`` hands nested values over as strings
    (Snakemake parses them with YAML's base loader), so ``99`` would otherwise be refused
    as ``'99' is not of type 'integer'``; a config file gives the same value the same way.
    A number in exponent form without a dot (``1e-3``), which YAML 1.1 leaves a string, is
    read as a number too.
    """
    changed = False
    for error in _type_errors(errors):
        wanted = error.validator_value
        wanted = [wanted] if isinstance(wanted, str) else list(wanted)
        path = list(error.absolute_path)
        if not isinstance(error.instance, str) or "string" in wanted or not path:
            continue
        try:
            value = yaml.safe_load(error.instance)
        except yaml.YAMLError:
            continue
        if isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
            value = float(value)  # YAML 1.1 reads 1e-3 (no dot) as a string
        if not any(_JSON_TYPES[kind](value) for kind in wanted if kind in _JSON_TYPES):
            continue
        parent: Any = block
        for key in path[:-1]:
            parent = parent[key]
        if parent[path[-1]] == error.instance:
            parent[path[-1]] = value
            changed = True
    return changed


def validate_block(
    block: MutableMapping[str, Any],
    schema_path: str | Path,
    where: str = "",
) -> MutableMapping[str, Any]:
    """Validate ``block`` against the schema file, filling defaults in place.

    ``where`` prefixes the key path in error messages (e.g. ``benchmarks.menavalues``).
    """
    schema_path = Path(schema_path).resolve()
    schema = load_yaml(schema_path)
    schema = {**schema, "$id": schema_path.as_uri()}
    validator = _DefaultingValidator(schema, registry=_registry())
    errors = list(validator.iter_errors(block))
    if _read_scalar_strings(block, errors):
        errors = list(validator.iter_errors(block))
    # a key that failed inside an included schema also counts as "unevaluated": report the
    # failure itself
    specific = [e for e in errors if e.validator != "unevaluatedProperties"]
    if errors:
        error = jsonschema.exceptions.best_match(specific or errors)
        # additionalProperties errors sit on the parent; others on the key itself
        raise ConfigError(
            f"config key {_key_path(error.absolute_path, where)}: "
            f"{_message(error, schema_path.parent)}"
        )
    return block


def validate_config(
    config: MutableMapping[str, Any], schema_dir: str | Path = SCHEMA_DIR
) -> MutableMapping[str, Any]:
    """Validate the whole config in place (defaults filled); every benchmark block too."""
    schema_dir = Path(schema_dir)
    validate_block(config, schema_dir / "config.schema.yaml")

    for key, block in config["benchmarks"].items():
        plugin = get_benchmark(block.get("plugin") or key, where=f"benchmarks.{key}.plugin")
        # a plug-in outside this package may name its schema by an absolute path
        schema = Path(plugin.schema)
        schema = schema if schema.is_absolute() else schema_dir / "benchmarks" / schema
        validate_block(block, schema, f"benchmarks.{key}")
    return config


@dataclass(frozen=True)
class BenchmarkSettings:
    """One selected benchmark: its plug-in, the validated config block and its cells."""

    key: str
    plugin: str
    block: Mapping[str, Any]
    languages: tuple[str, ...]
    framings: tuple[str, ...]
    reasoning: tuple[str, ...]
    questions: tuple[str, ...] | None
    populations: tuple[str, ...] | None

    @classmethod
    def from_config(
        cls, key: str, block: Mapping[str, Any], default_cells: Mapping[str, Sequence[str]]
    ) -> BenchmarkSettings:
        """The effective cells: the block's own ``cells`` (each value must apply to the
        benchmark) or the top-level ``cells`` restricted to what applies."""
        plugin_name = block.get("plugin") or key
        plugin = get_benchmark(plugin_name, where=f"benchmarks.{key}.plugin")
        own = block.get("cells") or {}
        dims: dict[str, tuple[str, ...]] = {}
        for dim, supported in (
            ("languages", plugin.cells.languages),
            ("framings", plugin.cells.framings),
            ("reasoning", plugin.cells.reasoning),
        ):
            if dim in own:
                bad = [value for value in own[dim] if value not in supported]
                if bad:
                    raise ConfigError(
                        f"config key benchmarks.{key}.cells.{dim}: {', '.join(bad)} does not "
                        f"apply to the {plugin_name} benchmark (it supports "
                        f"{', '.join(supported)})"
                    )
                dims[dim] = tuple(own[dim])
            else:
                dims[dim] = tuple(v for v in default_cells[dim] if v in supported)
            if not dims[dim]:
                raise ConfigError(
                    f"config key cells.{dim}: none of {', '.join(default_cells[dim])} applies "
                    f"to the {plugin_name} benchmark (it supports {', '.join(supported)}); set "
                    f"benchmarks.{key}.cells.{dim}"
                )
        subset = block.get("subset") or {}
        return cls(
            key=key,
            plugin=plugin_name,
            block=block,
            languages=dims["languages"],
            framings=dims["framings"],
            reasoning=dims["reasoning"],
            questions=_optional_tuple(subset.get("questions")),
            populations=_optional_tuple(subset.get("populations")),
        )

    def cell_dicts(self, models: Sequence[str]) -> list[dict[str, str]]:
        """Every (model, language, framing, reasoning) cell, as wildcard dicts."""
        return [
            {"model": model, "language": language, "framing": framing, "reasoning": reasoning}
            for model in models
            for language in self.languages
            for framing in self.framings
            for reasoning in self.reasoning
        ]

    def prompt_cells(self) -> list[dict[str, str]]:
        """Every (language, framing, reasoning) prompts table."""
        return [
            {"language": language, "framing": framing, "reasoning": reasoning}
            for language in self.languages
            for framing in self.framings
            for reasoning in self.reasoning
        ]


@dataclass(frozen=True)
class WorkflowSettings:
    """The parts of the config that shape the job graph."""

    benchmarks: Mapping[str, BenchmarkSettings]
    model_keys: tuple[str, ...]
    translation_keys: tuple[str, ...] = ()
    """Models of config ``translation`` (forward, back), which need not be in run.models."""

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> WorkflowSettings:
        """From a validated config (see :func:`validate_config`)."""
        run = config.get("run") or {}
        defined = dict(config.get("benchmarks") or {})
        chosen = run.get("benchmarks")
        if chosen is None:
            chosen = list(defined)
        _check_known("run.benchmarks", chosen, defined, "benchmark", "benchmarks")
        models = tuple(config.get("models") or {})
        chosen_models = run.get("models")
        if chosen_models is not None:
            _check_known("run.models", chosen_models, models, "model", "models")
            models = tuple(chosen_models)
        default_cells = config.get("cells") or {
            "languages": CELL_LANGUAGES, "framings": FRAMINGS, "reasoning": REASONING
        }  # fmt: skip
        benchmarks = {
            key: BenchmarkSettings.from_config(key, defined[key], default_cells) for key in chosen
        }
        return cls(
            benchmarks=benchmarks,
            model_keys=models,
            translation_keys=translation_models(config),
        )

    def cells(self, benchmark: str) -> list[dict[str, str]]:
        """Every (model, language, framing, reasoning) cell of one benchmark."""
        return self.benchmarks[benchmark].cell_dicts(self.model_keys)

    def jobs(self) -> Iterator[dict[str, str]]:
        """Every generate job's wildcards (benchmark, model, language, framing, reasoning)."""
        for key in self.benchmarks:
            for cell in self.cells(key):
                yield {"benchmark": key, **cell}

    def values(self, dimension: str) -> tuple[str, ...]:
        """Every value of a cell dimension used by any selected benchmark."""
        seen: dict[str, None] = {}
        for settings in self.benchmarks.values():
            for value in getattr(settings, dimension):
                seen[value] = None
        return tuple(seen)


def translation_models(config: Mapping[str, Any]) -> tuple[str, ...]:
    """The model keys config ``translation`` uses (forward, then back; none when off)."""
    block = config.get("translation") or {}
    forward = block.get("model")
    if not forward:
        if block.get("back_model"):
            raise ConfigError("config key translation.back_model needs translation.model")
        return ()
    keys = tuple(dict.fromkeys([forward, block.get("back_model") or forward]))
    for name, key in (("model", forward), ("back_model", block.get("back_model") or forward)):
        _check_known(f"translation.{name}", [key], config.get("models") or {}, "model", "models")
    return keys


def _check_known(key: str, chosen: Sequence[str], known: Iterable[str], what: str, section: str):
    known = list(known)
    unknown = [value for value in chosen if value not in known]
    if unknown:
        raise ConfigError(
            f"config key {key}: unknown {what} key(s) {', '.join(unknown)} "
            f"(defined under {section}: {', '.join(known) or 'none'})"
        )


def _optional_tuple(values: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if values is None else tuple(values)
