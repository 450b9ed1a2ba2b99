"""The one reader of user YAML (mlflow_config/*.yaml, cards, contracts): safe, strict keys, errors name the file.

    data = read_yaml(path)                                   # a mapping, {} for an empty file
    check_keys(data, {"steps", "bake"}, str(path))           # "rollout.yaml: unknown key 'bak'" + did you mean
    section = mapping(data.get("analysis"), f"{path}: analysis")   # {} when absent, an error when not a mapping

Every function takes ``error``, the MlgateError subclass to raise (ConfigError by default; the
release policies raise PolicyError, cards CardError, contracts ContractError). Besides invalid
YAML, a key written twice in one mapping is refused: YAML would silently keep the last one.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mlgate.exceptions import CardError, ConfigError, MlgateError

ErrorClass = type[MlgateError]


def _error(error: ErrorClass, source: str, problem: str, hint: str) -> MlgateError:
    """``error`` about ``source``; a CardError lists problems of one card, the others take a message and a hint."""
    if issubclass(error, CardError):
        return CardError(source, [problem])
    return error(f"{source}: {problem}", hint)


def read_text(path: str | Path, *, error: ErrorClass = ConfigError) -> str:
    """The UTF-8 text of a user file (``error`` naming the file when it cannot be read)."""
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise _error(error, source, f"cannot read the file: {exc.strerror or exc}", "check the path") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _error(error, source, f"not UTF-8 text (byte {exc.start})", "save the file as UTF-8") from None


def parse_yaml(text: str, source: str, *, error: ErrorClass = ConfigError) -> Any:
    """The YAML document in ``text`` (None when empty); invalid YAML or a repeated key raises ``error``."""
    import yaml  # ~10 ms: kept out of `mlgate --help`, which needs no YAML

    loader = _strict_loader()(text)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        hint = "keep one of the two" if "written twice" in problem else "fix the syntax of the file"
        raise _error(error, source, f"not valid YAML{where}: {problem}", hint) from None
    except (ValueError, TypeError, RecursionError) as exc:  # e.g. a date such as 2024-13-45
        raise _error(error, source, f"not valid YAML: {exc}", "fix the value") from None
    finally:
        loader.dispose()


def read_yaml(path: str | Path, *, error: ErrorClass = ConfigError) -> dict[str, Any]:
    """The mapping held by a YAML file ({} when the file is empty); ``error`` names the file on any problem."""
    source = str(path)
    data = parse_yaml(read_text(path, error=error), source, error=error)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise _error(
            error,
            source,
            f"must hold a mapping of keys (key: value lines), got {_kind(data)}",
            "write it as key: value lines",
        )
    return data


def mapping(value: Any, where: str, *, error: ErrorClass = ConfigError) -> dict[str, Any]:
    """``value`` as a mapping: {} when absent (None), ``error`` at ``where`` when it is something else."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise error(f"{where}: must be a mapping of keys, got {_kind(value)}", "fix the file")
    return value


def check_keys(
    section: Mapping[Any, Any], known: Iterable[str], where: str, *, error: ErrorClass = ConfigError
) -> None:
    """Refuse any key of ``section`` outside ``known``: "<where>: unknown key 'x'", the known keys in the hint.

    ``where`` names the file and the place in it, e.g. ``"mlflow_config/owners.yaml: owners.alice"``.
    """
    allowed = sorted(known)
    unknown = sorted(str(key) for key in section if str(key) not in allowed)  # YAML keys may be numbers
    if not unknown:
        return
    guesses = {key: match[0] for key in unknown if (match := difflib.get_close_matches(key, allowed, 1))}
    hint = f"known keys: {', '.join(allowed)}"
    if len(unknown) == 1 and guesses:
        hint = f"did you mean {guesses[unknown[0]]!r}? {hint}"
    elif guesses:
        hint = f"did you mean {', '.join(f'{v!r} for {k!r}' for k, v in guesses.items())}? {hint}"
    label = "unknown key" if len(unknown) == 1 else "unknown keys"
    raise error(f"{where}: {label} {', '.join(repr(k) for k in unknown)}", hint)


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number", bool: "true/false"}.get(
        type(value), type(value).__name__
    )


@functools.cache
def _strict_loader() -> Any:
    """yaml.SafeLoader (the C one when available) that refuses a key written twice in one mapping."""
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    merge_tag = "tag:yaml.org,2002:merge"

    class StrictSafeLoader(base):  # type: ignore[misc, valid-type]
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == merge_tag:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:  # an unhashable key: SafeLoader refuses it with its own message
                    continue
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        "while reading a mapping", node.start_mark, f"key {key!r} is written twice", key_node.start_mark
                    )
            return super().construct_mapping(node, deep)

    return StrictSafeLoader
