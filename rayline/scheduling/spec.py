"""Schedule specs: which training config runs, on which trigger, and how missed runs, overlapping
runs and failures are handled.

A spec arrives from `serve_config.yaml` (`args.schedules`) or from the web UI's request body;
`parse_schedule` validates either and names the source, the field and the allowed values.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rayline.config import ConfigError, TrainConfig, load_config, parse_config
from rayline.scheduling.cron import Cron

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
EVERY_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
MIN_EVERY = timedelta(seconds=60)
TRIGGERS = ("cron", "every", "on_new_data", "on_drift")


class ScheduleError(ValueError):
    """A schedule that cannot be used; the message starts with its source and names the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class NewDataTrigger(_Strict):
    """Start a run when the training data changes and has then stayed unchanged a while."""

    source: str | None = Field(None, min_length=1)
    """A local file or folder, an `s3://bucket/key` object or an `s3://bucket/prefix/` prefix;
    default: the training config's `dataset.source`."""

    check_every_s: float = Field(60, gt=0)
    """Seconds between two looks at the data."""

    settle_s: float = Field(30, ge=0)
    """A change fires only once the data has stayed the same this many seconds, so a file that
    is still being written does not start a run."""


class DriftTrigger(_Strict):
    """Start a run when the served model drifts or its live quality drops (README Monitoring)."""

    model: str | None = Field(None, min_length=1)
    """The registered model to watch; default: the training config's `name`."""

    on: list[Literal["drift", "quality"]] = Field(["drift", "quality"], min_length=1)
    """What fires: the model's drift verdict, its quality alarm, or either."""

    cooldown_s: float = Field(6 * 3600, ge=60)
    """After a run fires, no other fires for this many seconds (the new version needs traffic
    and labels before its own verdict means anything)."""

    check_every_s: float = Field(60, gt=0)
    """Seconds between two looks at the model's monitoring report."""


class ScheduleSpec(_Strict):
    """A named schedule: one training config (by name, path or inline) and one trigger."""

    name: str = Field(json_schema_extra={"pattern": NAME_PATTERN.pattern})
    """Schedule name, also the prefix of its Ray Jobs submission ids."""

    config: str | None = None
    """A shipped training config name (`breast_cancer`) or a path to a YAML training config."""

    spec: dict[str, Any] | None = None
    """An inline training config (the schema of `configs/train/*.yaml`), as the web UI sends."""

    cron: str | None = None
    """A five-field cron expression (minute hour day-of-month month day-of-week)."""

    every: str | None = None
    """A fixed interval such as `90s`, `30m`, `2h` or `1d` (at least 60 s), aligned on the
    Unix epoch in UTC."""

    on_new_data: NewDataTrigger | None = None
    """Run when the data changes."""

    on_drift: DriftTrigger | None = None
    """Run when the model drifts or its live quality drops."""

    timezone: str = "UTC"
    """IANA time zone the cron expression is read in (e.g. `Europe/Madrid`); cron only."""

    concurrency: Literal["forbid", "replace", "allow"] = "forbid"
    """When a run of this schedule is still active: skip the new one, stop the old one, or
    run both."""

    missed: Literal["skip", "run_once"] = "run_once"
    """After downtime: drop the missed runs, or run once for the latest one if it is within
    `starting_deadline_s`."""

    starting_deadline_s: float = Field(3600, ge=60)
    """How late a missed run may still start under `missed: run_once`, in seconds."""

    max_retries: int = Field(0, ge=0, le=10)
    """Retries of a failed run."""

    retry_backoff_s: float = Field(60, gt=0, le=3600)
    """Wait before the first retry; retry n waits `retry_backoff_s * 2**(n-1)`, at most 1 h."""

    timeout_s: float | None = Field(None, gt=0)
    """Stop a run that takes longer than this many seconds; None: no limit."""

    paused: bool = False
    """A paused schedule starts no runs (its missed runs are skipped, not caught up)."""

    webhook_url: str | None = None
    """An http(s) URL that receives a POST when a run of this schedule ends."""

    @field_validator("name")
    @classmethod
    def _name_form(cls, name: str) -> str:
        if not NAME_PATTERN.fullmatch(name):
            raise ValueError(
                f"{name!r}: use 1-48 characters of lowercase letters, digits, '_' and '-', "
                "starting with a letter or digit"
            )
        return name

    @field_validator("config")
    @classmethod
    def _config_loads(cls, config: str | None) -> str | None:
        if config is not None:
            try:
                load_config(config)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return config

    @field_validator("spec")
    @classmethod
    def _spec_is_a_training_config(cls, spec: dict[str, Any] | None) -> dict[str, Any] | None:
        if spec is not None:
            # Raised as is: its lines already say `spec: <key>: ...`.
            parse_config(spec, "spec")
        return spec

    @field_validator("cron")
    @classmethod
    def _cron_parses(cls, cron: str | None) -> str | None:
        if cron is not None:
            Cron.parse(cron)
        return cron

    @field_validator("every")
    @classmethod
    def _every_parses(cls, every: str | None) -> str | None:
        if every is not None:
            parse_every(every)
        return every

    @field_validator("timezone")
    @classmethod
    def _timezone_known(cls, timezone: str) -> str:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {timezone!r}; use an IANA name such as UTC, "
                "Europe/Madrid or America/New_York"
            ) from None
        return timezone

    @field_validator("webhook_url")
    @classmethod
    def _webhook_is_http(cls, url: str | None) -> str | None:
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"{url!r}: use an http:// or https:// URL with a host")
        return url

    @model_validator(mode="after")
    def _one_config_one_trigger(self) -> ScheduleSpec:
        if (self.config is None) == (self.spec is None):
            given = "both" if self.config is not None else "neither"
            raise ValueError(
                f"give exactly one of config (a shipped config name or a YAML path) and spec "
                f"(an inline training config); got {given}"
            )
        triggers = [name for name in TRIGGERS if getattr(self, name) is not None]
        if len(triggers) != 1:
            got = " and ".join(triggers) if triggers else "none"
            raise ValueError(
                f"give exactly one trigger of cron, every, on_new_data and on_drift; got {got}"
            )
        return self

    @property
    def trigger(self) -> Literal["cron", "every", "on_new_data", "on_drift"]:
        if self.cron is not None:
            return "cron"
        if self.every is not None:
            return "every"
        return "on_new_data" if self.on_new_data is not None else "on_drift"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def interval(self) -> timedelta | None:
        """The `every` interval, or None for other triggers."""
        return parse_every(self.every) if self.every is not None else None


def parse_every(text: str) -> timedelta:
    """`90s`, `30m`, `2h` or `1d` as a timedelta of at least 60 s."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", text)
    if match is None:
        raise ValueError(
            f"{text!r} is not an interval; use a whole number and a unit s, m, h or d "
            "(e.g. 90s, 30m, 2h, 1d)"
        )
    interval = timedelta(seconds=int(match[1]) * EVERY_UNITS[match[2]])
    if interval < MIN_EVERY:
        raise ValueError(f"{text!r} is shorter than the minimum of 60s (1m)")
    return interval


def parse_schedule(data: Any, source: str, where: str = "") -> ScheduleSpec:
    """Validate already-parsed YAML/JSON; errors start with `source` (a file or `request body`)
    and `where` (the spec's place in it, such as `args.schedules[1]`)."""
    if not isinstance(data, dict):
        raise ScheduleError(f"{source}: {where + ': ' if where else ''}expected a mapping of keys")
    try:
        return ScheduleSpec.model_validate(data)
    except ValidationError as exc:
        raise ScheduleError(_explain(exc, source, where)) from None


def load_training_config(spec: ScheduleSpec) -> TrainConfig:
    """The training config the schedule runs: its inline spec, or its config file read now."""
    if spec.spec is not None:
        return parse_config(spec.spec, f"schedule {spec.name}: spec")
    assert spec.config is not None  # guaranteed by the model validator
    return load_config(spec.config)


def _explain(exc: ValidationError, source: str, where: str) -> str:
    lines = []
    for error in exc.errors():
        loc = ".".join(str(part) for part in (where, *error["loc"]) if part != "")
        prefix = f"{source}: {loc + ': ' if loc else ''}"
        cause = error.get("ctx", {}).get("error")
        if error["type"] == "extra_forbidden":
            allowed = _allowed_keys(error["loc"][:-1])
            lines.append(f"{source}: unknown key '{loc}'; allowed here: {', '.join(allowed)}")
        elif isinstance(cause, ConfigError):
            # An inline training config's own messages already name their keys.
            outer = f"{source}: {where + '.' if where else ''}"
            lines.extend(outer + line for line in str(cause).splitlines())
        elif error["type"] == "value_error" and cause is not None:
            lines.extend(prefix + line for line in str(cause).splitlines())
        else:
            lines.append(prefix + error["msg"])
    return "\n".join(lines)


def _allowed_keys(loc: tuple[int | str, ...]) -> list[str]:
    models: dict[tuple[int | str, ...], type[BaseModel]] = {
        (): ScheduleSpec,
        ("on_new_data",): NewDataTrigger,
        ("on_drift",): DriftTrigger,
    }
    model = models.get(loc)
    return list(model.model_fields) if model is not None else []
