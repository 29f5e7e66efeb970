"""Reading Prometheus text in tests: every sample by name and labels, through prometheus_client's
own parser (so a malformed exposition fails the test instead of a substring match passing)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    """(sample name, labels) → value, for every sample of `text`."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float | None:
    """The sample `name` with exactly `labels`, or None."""
    return found.get((name, frozenset(labels.items())))


def types(text: str) -> dict[str, str]:
    """Family name → its TYPE."""
    return {family.name: family.type for family in text_string_to_metric_families(text)}
