"""Machine translation of question text, with back-translation checks.

Native cells need every question's text (and, when the benchmark lists its options, the
option texts) in each population's language. Human translation tables always win; for what
they lack, rule ``translate`` asks a configured model (any engine, local or API) and rule
``review_translations`` scores each round trip (source -> target -> source) against the
original with chrF and BLEU (``sacrebleu``) and flags what falls below the thresholds.

Three steps, each a function here:

1. :func:`plan_translations`: every (question, language) the native cells need, and whether
   it is to be translated (no human text) or, optionally, checked (a human text whose round
   trip is scored all the same).
2. :func:`forward_translate` and :func:`back_translate`: one language's rows, greedy,
   batched, through a persistent request cache (a rerun sends nothing); a translation whose
   option list or numbers did not survive is *rejected* (never used, and never replaced by
   the English text).
3. :func:`review`: round-trip scores, flags, and the merged translation table the prompts
   step reads (human rows first, machine rows beside them with their provenance).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from culturalign.engines.base import ChatEngine, ChatRequest, GenerationRequest, cpu_threads
from culturalign.engines.model_builds import model_revision, weight_bytes
from culturalign.engines.request_cache import RequestCache
from culturalign.errors import ConfigError
from culturalign.generation.cell import chat_prompt_ids
from culturalign.io.files import write_csv_atomic
from culturalign.io.hashing import sha256_text
from culturalign.io.yaml_files import load_yaml
from culturalign.prompts.building import prompt_targets
from culturalign.prompts.templates import check_template
from culturalign.settings import schema_defaults

LOG = logging.getLogger(__name__)

PROVENANCES: tuple[str, ...] = (
    "original",
    "human-validated",
    "team-written",
    "human",
    "machine-translated",
)
"""Where a prompt's question text comes from: the benchmark's own text, a human translation
(validated, written by the project team, or unspecified), or a machine translation."""
MACHINE = "machine-translated"
STATUSES: tuple[str, ...] = ("ok", "rejected")
OPTION_SEPARATOR = "|"

PLAN_COLUMNS: tuple[str, ...] = (
    "question_id",
    "language",
    "action",
    "source_language",
    "source_text",
    "source_options",
    "text",
    "options",
    "provenance",
)
"""``action``: ``translate`` (no human text) or ``check`` (score a human text's round trip);
``source_options`` / ``options``: option texts in code order joined by `` | `` (empty when
the benchmark does not list its options); ``text`` / ``options`` / ``provenance``: the human
translation of a ``check`` row."""

LANGUAGE_COLUMNS: tuple[str, ...] = (
    "question_id",
    "language",
    "text",
    "options",
    "provenance",
    "status",
    "reason",
    "source_language",
    "source_text",
    "source_options",
    "back_text",
    "back_options",
    "similarity",
    "model",
    "model_revision",
    "back_model",
    "back_model_revision",
    "translated_at",
)
"""One language's machine translations (and checked human ones): the translation-table
columns first, then the round trip's texts and who made them when."""

REVIEW_COLUMNS: tuple[str, ...] = (
    "question_id",
    "language",
    "provenance",
    "status",
    "roundtrip_passed",
    "flagged",
    "reason",
    "chrf",
    "bleu",
    "options_chrf",
    "similarity",
    "source_text",
    "back_text",
    "source_options",
    "back_options",
    "text",
    "options",
    "model",
    "model_revision",
    "back_model",
    "back_model_revision",
    "translated_at",
)

TABLE_COLUMNS: tuple[str, ...] = (
    "question_id",
    "language",
    "text",
    "options",
    "provenance",
    "status",
    "roundtrip_passed",
    "chrf",
    "bleu",
    "model",
    "model_revision",
    "translated_at",
)
"""The merged translation table (``translations/table.tsv``) the prompts step reads."""


# ----------------------------------------------------------------------------- prompts


@dataclass(frozen=True)
class TranslationPrompts:
    """How a translation is asked for, per language pair (``{source}-{target}``, else
    ``default``): ``text`` with placeholders {source}, {target}, {text}; ``options`` with
    {source}, {target}, {options} (a numbered list, one option per line)."""

    path: Path
    default: Mapping[str, str]
    pairs: Mapping[str, Mapping[str, str]]

    def template(self, source: str, target: str, kind: str) -> str:
        """The template of ``kind`` (text | options) for one language pair."""
        pair = self.pairs.get(f"{source}-{target}") or {}
        return pair.get(kind) or self.default[kind]

    def render(self, source: str, target: str, kind: str, body: str) -> str:
        """The prompt asking to translate ``body`` (a text, or a numbered option list)."""
        names = {"source": language_name(source), "target": language_name(target)}
        return self.template(source, target, kind).format(**names, **{kind: body})


_PROMPT_FIELDS = {"text": {"source", "target", "text"}, "options": {"source", "target", "options"}}


def load_translation_prompts(path: str | Path) -> TranslationPrompts:
    """Load and check ``resources/prompts/translation.yaml`` (errors name file and key)."""
    path = Path(path)
    data = load_yaml(path, "translation.prompts", "translation prompts") or {}
    if not isinstance(data, dict) or not isinstance(data.get("default"), dict):
        raise ConfigError(f"{path}: needs a mapping `default` with keys text and options")
    blocks = {"default": data["default"]}
    pairs = data.get("pairs") or {}
    if not isinstance(pairs, dict):
        raise ConfigError(f"{path}: key pairs must map source-target (e.g. en-de) to templates")
    for pair, block in pairs.items():
        if not re.fullmatch(r"[a-z]{2,3}-[a-z]{2,3}", str(pair)) or not isinstance(block, dict):
            raise ConfigError(f"{path}: key pairs.{pair}: expected e.g. en-de: {{text: ...}}")
        blocks[f"pairs.{pair}"] = block
    for name, block in blocks.items():
        unknown = set(block) - set(_PROMPT_FIELDS)
        if unknown:
            raise ConfigError(f"{path}: key {name}: unknown key(s) {', '.join(sorted(unknown))}")
        for kind, fields in _PROMPT_FIELDS.items():
            if kind in block or name == "default":
                check_template(block.get(kind), f"{path}: key {name}.{kind}", fields, fields)
    return TranslationPrompts(path=path, default=data["default"], pairs=pairs)


def language_name(code: str) -> str:
    """English name of a language code (CLDR via babel), else the code itself."""
    from babel import Locale, UnknownLocaleError

    try:
        return Locale("en").languages.get(code.split("-")[0], code)
    except (UnknownLocaleError, ValueError):
        return code


# -------------------------------------------------------------------------------- plan


def join_options(options: Iterable[str] | None) -> str:
    """Option texts as the translation table stores them (`` | ``-separated)."""
    return f" {OPTION_SEPARATOR} ".join(options) if options else ""


def split_options(value: Any) -> list[str]:
    """The inverse of :func:`join_options` (empty for a missing value)."""
    if not isinstance(value, str) or not value.strip():
        return []
    return [part.strip() for part in value.split(OPTION_SEPARATOR)]


def numbered_list(options: Sequence[str]) -> str:
    """Options as the numbered list the translation prompt shows (``1. text`` per line)."""
    return "\n".join(f"{number}. {text}" for number, text in enumerate(options, start=1))


def plan_translations(
    questions: pd.DataFrame,
    pairs: pd.DataFrame,
    populations: pd.DataFrame,
    framings: Sequence[str],
    human: Any | None,
    *,
    question_ids: Sequence[str] | None = None,
    selected_populations: Sequence[str] | None = None,
    check_human: bool = False,
    where: str = "subset",
) -> pd.DataFrame:
    """Every (question, language) the native cells of ``framings`` need (columns
    :data:`PLAN_COLUMNS`), in question then language order.

    A pair the human table (a :class:`culturalign.prompts.translation_tables.Translations`,
    or None) has is left out unless ``check_human``; the benchmark's own language never
    needs a translation.
    """
    wanted: dict[tuple[str, str], Any] = {}
    for framing in framings:
        for target in prompt_targets(
            questions, pairs, populations, "native", framing, question_ids=question_ids,
            selected_populations=selected_populations, where=where,
        ):  # fmt: skip
            question, language = target.question, target.language
            own = getattr(question, "original_language", None)
            if language == "en" or language == own:
                continue
            wanted.setdefault((question.question_id, language), question)
    rows = []
    for (question_id, language), question in wanted.items():
        shown = bool(getattr(question, "show_options", False))
        options = [str(option["text"]) for option in question.options] if shown else []
        entry = None if human is None else human.entry(question_id, language)
        if entry is not None and not check_human:
            continue
        source_text = question.text_en
        if not isinstance(source_text, str) or not source_text.strip():
            raise ConfigError(
                f"question {question_id}: no English text to translate into {language}"
            )
        rows.append(
            {
                "question_id": question_id,
                "language": language,
                "action": "translate" if entry is None else "check",
                "source_language": "en",
                "source_text": source_text,
                "source_options": join_options(options),
                "text": "" if entry is None else entry.text,
                "options": "" if entry is None else join_options(entry.options),
                "provenance": MACHINE if entry is None else entry.provenance,
            }
        )
    return pd.DataFrame(rows, columns=list(PLAN_COLUMNS))


# --------------------------------------------------------------------------- checking

_NUMBER = re.compile(r"\d+")
_OPTION_LINE = re.compile(r"^\s*\(?(\d+)\s*[.):]\s*(.*?)\s*$")


def parse_option_list(reply: str, expected: int) -> tuple[list[str] | None, str | None]:
    """The option texts of a translated numbered list, or ``(None, reason)``.

    Lines ``N. text`` (or ``N) text``) are read, other lines ignored; the numbers must be
    exactly 1..expected in order, each with a text, none containing ``|``."""
    found = []
    for line in reply.splitlines():
        match = _OPTION_LINE.match(line)
        if match:
            found.append((int(match.group(1)), match.group(2)))
    numbers = [number for number, _ in found]
    if numbers != list(range(1, expected + 1)):
        shown = ", ".join(map(str, numbers)) or "none"
        return None, f"option list broken: numbers {shown} (expected 1-{expected})"
    texts = [text for _, text in found]
    if any(not text for text in texts):
        return None, "option list broken: an option lost its text"
    if any(OPTION_SEPARATOR in text for text in texts):
        return None, f"option list broken: an option text contains '{OPTION_SEPARATOR}'"
    return texts, None


def lost_numbers(source: str, translation: str) -> list[str]:
    """Numbers (ASCII digits) of ``source`` that ``translation`` no longer contains."""
    kept = set(_NUMBER.findall(translation))
    return sorted(set(_NUMBER.findall(source)) - kept, key=int)


def check_translation(
    source_text: str, text: str, source_options: Sequence[str], options_reply: str | None
) -> tuple[list[str], str | None]:
    """Option texts of a forward translation and the reason it is rejected (None = usable)."""
    if not text.strip():
        return [], "empty translation"
    if text.strip() == source_text.strip():
        return [], "translation identical to the source text"
    lost = lost_numbers(source_text, text)
    if lost:
        return [], f"numbers lost: {', '.join(lost)}"
    if not source_options:
        return [], None
    options, reason = parse_option_list(options_reply or "", len(source_options))
    if options is not None and [o.casefold() for o in options] == [
        o.strip().casefold() for o in source_options
    ]:
        return [], "option list identical to the source (not translated)"
    return options or [], reason


# -------------------------------------------------------------------------- translating


TextGenerator = Callable[[Sequence[str]], list[str]]
"""Answers a batch of user messages greedily (see :func:`engine_generator`)."""


def engine_generator(engine: Any, max_tokens: int, seed: int = 0) -> TextGenerator:
    """Greedy text completion through any engine: token ids for local engines and
    ``vllm-server``, chat messages for chat APIs."""

    def generate(prompts: Sequence[str]) -> list[str]:
        if not prompts:
            return []
        if isinstance(engine, ChatEngine):
            results = engine.chat(
                [ChatRequest(prompt, max_tokens) for prompt in prompts], logprobs=0, seed=seed
            )
            return [result.text.strip() for result in results]
        template = engine.spec.chat_template_text()
        requests = [
            GenerationRequest(tuple(chat_prompt_ids(engine.tokenizer, prompt, template)),
                              max_tokens)
            for prompt in prompts
        ]  # fmt: skip
        results = engine.generate(requests, logprobs=0, logprob_positions=1, seed=seed)
        return [result.text.strip() for result in results]

    return generate


def model_identity(spec: Any, max_tokens: int) -> dict[str, Any]:
    """What determines a model's greedy answer, for the cache key (never an API key): the
    weights' revision (or, for a local directory without one, its config's hash and weight
    bytes), an API model's name and endpoint, the dtype, an override chat template."""
    revision = model_revision(spec.path, spec.revision) if spec.path else spec.revision
    local = Path(spec.path) if spec.path else None
    fingerprint = None
    if revision is None and local is not None and (local / "config.json").is_file():
        fingerprint = {
            "config_sha256": sha256_text((local / "config.json").read_text(encoding="utf-8")),
            "weight_bytes": weight_bytes({"path": spec.path}),
        }
    template = spec.chat_template_text()
    return {
        "task": "translate",
        "path": spec.path or None,
        "revision": revision,
        "fingerprint": fingerprint,
        "api_model": spec.model,
        "base_url": spec.base_url,
        "dtype": spec.dtype,
        "chat_template_sha256": None if template is None else sha256_text(template),
        "max_tokens": int(max_tokens),
        "greedy": True,
    }


class CachedGenerator:
    """A :data:`TextGenerator` behind the persistent request cache: only prompts never
    answered by this model (same weights' revision, template, max_tokens) reach the engine,
    which is started on first need."""

    def __init__(
        self,
        cache_path: str | Path,
        identity: Mapping[str, Any],
        start: Callable[[], TextGenerator],
    ) -> None:

        self.cache = RequestCache(cache_path)
        self.identity = dict(identity)
        self._start = start
        self._generate: TextGenerator | None = None
        self.sent = 0
        self.cached = 0

    def __call__(self, prompts: Sequence[str]) -> list[tuple[str, str]]:
        """``(text, answered_at)`` per prompt (the time it was first answered, UTC)."""
        answers: dict[int, tuple[str, str]] = {}
        missing: list[int] = []
        for index, prompt in enumerate(prompts):
            hit = self.cache.get({**self.identity, "prompt": prompt})
            if hit is not None and isinstance(hit.get("text"), str):
                answers[index] = (hit["text"], str(hit.get("at", "")))
            else:
                missing.append(index)
        self.cached += len(prompts) - len(missing)
        unique = list(dict.fromkeys(prompts[index] for index in missing))
        if unique:
            if self._generate is None:
                self._generate = self._start()
            now = datetime.now(timezone.utc).isoformat(timespec="seconds")
            texts = self._generate(unique)
            self.sent += len(unique)
            for prompt, text in zip(unique, texts, strict=True):
                self.cache.put({**self.identity, "prompt": prompt}, {"text": text, "at": now})
            by_prompt = dict(zip(unique, texts, strict=True))
            for index in missing:
                answers[index] = (by_prompt[prompts[index]], now)
        return [answers[index] for index in range(len(prompts))]

    @property
    def started(self) -> bool:
        """Whether the engine was needed (something was not cached)."""
        return self._generate is not None

    def close(self) -> None:
        self.cache.close()


@dataclass(frozen=True)
class Translator:
    """One model's side of the round trip: its generator and how it is named."""

    generate: Callable[[Sequence[str]], list[tuple[str, str]]]
    model: str
    revision: str | None


def _ask(
    rows: Sequence[dict[str, Any]],
    prompts: TranslationPrompts,
    translator: Translator,
    back: bool,
) -> list[tuple[tuple[str, str], str | None]]:
    """One batch: each row's text and, when it has options, its option list, forward
    (source -> language, from ``source_text`` / ``source_options``) or back (from ``text`` /
    ``options``). Per row ``((text reply, answered at), option-list reply or None)``."""
    text_key, options_key = ("text", "options") if back else ("source_text", "source_options")
    asks: list[str] = []
    for row in rows:
        source, target = row["source_language"], row["language"]
        if back:
            source, target = target, source
        asks.append(prompts.render(source, target, "text", row[text_key]))
        options = split_options(row[options_key])
        if options:
            asks.append(prompts.render(source, target, "options", numbered_list(options)))
    replies = iter(translator.generate(asks))
    answers = []
    for row in rows:
        text = next(replies)
        answers.append((text, next(replies)[0] if split_options(row[options_key]) else None))
    return answers


def forward_translate(
    plan: pd.DataFrame, prompts: TranslationPrompts, forward: Translator
) -> list[dict[str, Any]]:
    """Translate the plan's ``translate`` rows (question text and option list, one batch)
    and check each; ``check`` rows pass through. Rows as dicts of :data:`LANGUAGE_COLUMNS`
    without the round trip."""
    rows = [dict(row) for row in plan.to_dict("records")]
    to_translate = [row for row in rows if row["action"] == "translate"]
    answers = _ask(to_translate, prompts, forward, back=False)
    for row, ((text, at), options_reply) in zip(to_translate, answers, strict=True):
        source_options = split_options(row["source_options"])
        options, reason = check_translation(row["source_text"], text, source_options,
                                            options_reply)  # fmt: skip
        row.update(
            text=text,
            options=join_options(options) if reason is None else (options_reply or ""),
            status="ok" if reason is None else "rejected",
            reason=reason or "",
            model=forward.model,
            model_revision=forward.revision,
            translated_at=at,
        )
    for row in rows:
        if row["action"] == "check":
            row.update(status="ok", reason="", model="", model_revision=None, translated_at="")
    return rows


def back_translate(
    rows: list[dict[str, Any]],
    prompts: TranslationPrompts,
    backward: Translator,
    similarity: Callable[[Sequence[str], Sequence[str]], list[float]] | None = None,
) -> pd.DataFrame:
    """Translate every usable text (machine or checked human) back into its source language
    and return the language's table (:data:`LANGUAGE_COLUMNS`). ``source_options`` becomes
    the numbered list the round trip of the options is scored against."""
    usable = [row for row in rows if row["status"] == "ok"]
    for row, ((text, _), options_reply) in zip(
        usable, _ask(usable, prompts, backward, back=True), strict=True
    ):
        row["back_text"], row["back_options"] = text, options_reply or ""
        row["back_model"], row["back_model_revision"] = backward.model, backward.revision
    for row in rows:
        for column in ("back_text", "back_options", "back_model"):
            row.setdefault(column, "")
        row.setdefault("back_model_revision", None)
        row["similarity"] = None
        options = split_options(row["source_options"])
        row["source_options"] = numbered_list(options) if options else ""
    if similarity is not None and usable:
        scores = similarity([row["source_text"] for row in usable],
                            [row["back_text"] for row in usable])  # fmt: skip
        for row, score in zip(usable, scores, strict=True):
            row["similarity"] = float(score)
    return pd.DataFrame(rows, columns=list(LANGUAGE_COLUMNS))


# ------------------------------------------------------------------------------ review


_THRESHOLD_DEFAULTS = schema_defaults("translation", "thresholds")


@dataclass(frozen=True)
class Thresholds:
    """Round trips scoring below any of these are flagged for human review (chrF and BLEU
    on sacrebleu's 0-100 scale; similarity is a cosine, only when an embedding model is
    configured)."""

    chrf: float = float(_THRESHOLD_DEFAULTS["chrf"])
    bleu: float = float(_THRESHOLD_DEFAULTS["bleu"])
    similarity: float = float(_THRESHOLD_DEFAULTS["similarity"])

    @classmethod
    def from_config(cls, values: Mapping[str, Any] | None) -> Thresholds:
        values = dict(values or {})
        return cls(**{key: float(value) for key, value in values.items()})


def roundtrip_scores(source: str, back: str) -> tuple[float, float]:
    """``(chrF, BLEU)`` of a back-translation against its source, as
    ``sacrebleu.sentence_chrf(back, [source]).score`` and ``sentence_bleu`` (defaults)."""
    import sacrebleu

    return (
        float(sacrebleu.sentence_chrf(back, [source]).score),
        float(sacrebleu.sentence_bleu(back, [source]).score),
    )


def review(machine: pd.DataFrame, thresholds: Thresholds) -> pd.DataFrame:
    """Round-trip scores and flags for every row of the per-language tables (columns
    :data:`REVIEW_COLUMNS`): flagged rows first (rejected, then lowest chrF)."""
    records = []
    for row in machine.to_dict("records"):
        reasons = []
        chrf = bleu = options_chrf = None
        similarity = row.get("similarity")
        similarity = None if similarity is None or pd.isna(similarity) else float(similarity)
        if row["status"] == "rejected":
            reasons.append(f"rejected: {row['reason']}")
        else:
            chrf, bleu = roundtrip_scores(row["source_text"], row["back_text"] or "")
            if row["source_options"]:
                options_chrf = roundtrip_scores(row["source_options"], row["back_options"] or "")[0]
            if chrf < thresholds.chrf:
                reasons.append(f"chrF {chrf:.1f} < {thresholds.chrf:g}")
            if bleu < thresholds.bleu:
                reasons.append(f"BLEU {bleu:.1f} < {thresholds.bleu:g}")
            if options_chrf is not None and options_chrf < thresholds.chrf:
                reasons.append(f"options chrF {options_chrf:.1f} < {thresholds.chrf:g}")
            if similarity is not None and similarity < thresholds.similarity:
                reasons.append(f"similarity {similarity:.2f} < {thresholds.similarity:g}")
        passed = row["status"] == "ok" and not reasons
        records.append(
            {
                **{column: row.get(column) for column in REVIEW_COLUMNS if column in row},
                "roundtrip_passed": passed,
                "flagged": not passed,
                "reason": "; ".join(reasons),
                "chrf": chrf,
                "bleu": bleu,
                "options_chrf": options_chrf,
                "similarity": similarity,
            }
        )
    frame = pd.DataFrame(records, columns=list(REVIEW_COLUMNS))
    if frame.empty:
        return frame
    order = frame.assign(
        _rejected=frame["status"] != "rejected", _chrf=frame["chrf"].fillna(-1.0)
    ).sort_values(["flagged", "_rejected", "_chrf", "language", "question_id"],
                  ascending=[False, True, True, True, True], kind="stable")  # fmt: skip
    return order.drop(columns=["_rejected", "_chrf"]).reset_index(drop=True)


def merged_table(human: Any | None, reviewed: pd.DataFrame) -> pd.DataFrame:
    """The translation table the native prompts read (columns :data:`TABLE_COLUMNS`): every
    human row (with its round-trip result when checked), then the machine rows, rejected ones
    included with status ``rejected`` so that their prompts are left out, never asked in
    English."""
    checked = {
        (row.question_id, row.language): row
        for row in reviewed.itertuples(index=False)
        if row.provenance != MACHINE
    }
    rows = []
    if human is not None:
        for entry in human.entries():
            found = checked.get((entry.question_id, entry.language))
            rows.append(
                {
                    "question_id": entry.question_id,
                    "language": entry.language,
                    "text": entry.text,
                    "options": join_options(entry.options),
                    "provenance": entry.provenance,
                    "status": "ok",
                    "roundtrip_passed": "" if found is None else _flag(found.roundtrip_passed),
                    "chrf": None if found is None else found.chrf,
                    "bleu": None if found is None else found.bleu,
                    "model": "",
                    "model_revision": "",
                    "translated_at": "",
                }
            )
    for row in reviewed.itertuples(index=False):
        if row.provenance != MACHINE:
            continue
        rows.append(
            {
                "question_id": row.question_id,
                "language": row.language,
                "text": row.text,
                "options": row.options if row.status == "ok" else "",
                "provenance": MACHINE,
                "status": row.status,
                "roundtrip_passed": _flag(row.roundtrip_passed),
                "chrf": row.chrf,
                "bleu": row.bleu,
                "model": row.model,
                "model_revision": row.model_revision or "",
                "translated_at": row.translated_at,
            }
        )
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def _flag(value: Any) -> str:
    """A boolean as the translation table writes it."""
    return "true" if bool(value) else "false"


def write_tsv(frame: pd.DataFrame, path: str | Path) -> None:
    """A translation-format table, atomically (tab-separated, quoted where needed)."""
    write_csv_atomic(frame, path, sep="\t", index=False)


def read_language_table(path: str | Path) -> pd.DataFrame:
    """One language's table as :func:`back_translate` returned it (rule translate)."""
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    missing = [column for column in LANGUAGE_COLUMNS if column not in frame.columns]
    if missing:
        raise ConfigError(f"{path}: missing column(s) {', '.join(missing)}")
    frame["similarity"] = pd.to_numeric(frame["similarity"].replace("", None))
    return frame


# -------------------------------------------------------------------------- similarity


def embedding_similarity(
    model_path: str, threads: int = 1
) -> Callable[[Sequence[str], Sequence[str]], list[float]]:
    """Cosine similarity of mean-pooled last hidden states of a transformers model (e.g. a
    multilingual sentence encoder saved locally)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.set_num_threads(cpu_threads(threads))
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModel.from_pretrained(model_path, torch_dtype=torch.float32).eval()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"  # a decoder's states then ignore the padding after them

    def embed(texts: Sequence[str]) -> Any:
        batch = tokenizer(list(texts), padding=True, truncation=True, max_length=512,
                          return_tensors="pt")  # fmt: skip
        with torch.no_grad():
            hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def similarity(left: Sequence[str], right: Sequence[str]) -> list[float]:
        started = time.perf_counter()
        scores = torch.nn.functional.cosine_similarity(embed(left), embed(right)).tolist()
        LOG.info("similarity of %d pairs in %.1f s", len(scores), time.perf_counter() - started)
        return [float(score) for score in scores]

    return similarity
