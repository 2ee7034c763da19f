"""The /metrics page in the text format, byte for byte what prometheus_client writes.

`TextRenderer` reads prometheus_client's private fields (the registry's collectors, each
family's children and their values) to skip the work that does not change from one scrape
to the next. Those fields are no API: pyproject.toml pins prometheus-client to the versions
tests/unit/test_metrics_render.py checks, and that test fails when one of them changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeGuard

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import metrics as prometheus_metrics
from prometheus_client import values as prometheus_values
from prometheus_client.core import Metric
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.utils import floatToGoString


class _Families:
    """A collector of given families, for rendering a piece of the page by itself."""

    def __init__(self, *families: Metric) -> None:
        self.families = families

    def collect(self) -> tuple[Metric, ...]:
        return self.families


_OPENMETRICS_SUFFIXES = ("_created", "_gsum", "_gcount")


class TextRenderer:
    """`prometheus_client.generate_latest` (text format 0.0.4), byte for byte, cheaper.

    Two things generate_latest recomputes on every scrape are the same from one scrape to
    the next: each sample line's text before its value (the escaped, sorted labels), and,
    for most series, the value itself (of ~7,000 samples of a 100-brand page, most do not
    move within a second). So:

    * the counters, gauges and histograms of this module (prometheus_client's own classes)
      are read straight from their children, and each series' lines are kept with the
      values they were rendered from: an unchanged series costs a few attribute reads and
      one comparison (`_KeptSeries`);
    * every other collector's samples (the snapshot gauges, custom collectors) go through
      `collect()`, with each line's text before its value rendered once, by
      generate_latest itself, and kept while the series exists.

    Escaping and sorting are always the library's: a kept text was made by
    generate_latest. A whole-registry scrape replaces what is kept by what it used, so
    series that vanished are dropped; a scrape of some families (`?name[]=`, a restricted
    registry, always through `collect()`) keeps its own texts, those it used since the
    whole scrape before last. Safe for concurrent scrapes in several threads (a lost
    addition is only rendered again). `misses` counts the lines rendered through
    generate_latest (new series), for tests and benchmarks. Measured in
    bench/worker_path.py --compare-render (docs/benchmarks.md)."""

    def __init__(self) -> None:
        self._prefixes: _Prefixes = {}  # of whole scrapes, for collect()'s families
        self._restricted: _Prefixes = {}  # of restricted scrapes since the last whole one
        self._restricted_before: _Prefixes = {}  # ... and before it
        self._headers: dict[tuple[str, str, str, str], str] = {}
        self._series: dict[tuple[str, tuple[str, ...]], _KeptSeries] = {}
        self.misses = 0

    def __call__(self, registry: Any) -> bytes:
        output: list[str] = []
        if isinstance(registry, CollectorRegistry):
            kept = self._series
            used: dict[tuple[str, tuple[str, ...]], _KeptSeries] = {}
            prefixes: _Prefixes = {}
            with registry._lock:
                collectors = list(registry._collector_to_names)
            if registry._target_info is not None:  # not used here; the library's way
                collectors = [_Families(*registry.collect())]
            for collector in collectors:
                if not (_fast(collector) and self._render_fast(collector, kept, used, output)):
                    self._render_metrics(collector.collect(), (self._prefixes,), prefixes,
                                         output)
            self._series, self._prefixes = used, prefixes
            # what restricted scrapes used since the last whole one, kept one more round
            self._restricted_before, self._restricted = self._restricted, {}
        else:
            self._render_metrics(registry.collect(),
                                 (self._restricted, self._restricted_before),
                                 self._restricted, output)
        return "".join(output).encode("utf-8")

    def _render_fast(self, wrapper: MetricWrapperBase, kept: dict[Any, _KeptSeries],
                     used: dict[Any, _KeptSeries], output: list[str]) -> bool:
        """One counter, gauge or histogram family from its children (see `_fast`); False
        (nothing written) when a child must be read through `collect()`."""
        family = wrapper._get_metric()
        name, kind = family.name, family.type
        children: list[tuple[Any, Any]]
        if wrapper._labelnames:
            with wrapper._lock:
                children = list(wrapper._metrics.items())
        else:
            children = [((), wrapper)]
        if any("_child_samples" in child.__dict__ for _, child in children):
            return False  # a gauge function: only its own _child_samples knows the value
        output.append(_header(self._headers, name, kind, family.documentation, ""))
        histogram = kind == "histogram"
        for labels, child in children:
            if histogram:
                values: Any = (*[b._value for b in child._buckets], child._sum._value)
            else:
                values = child._value._value
            key = (name, labels)
            series = kept.get(key)
            if series is None or series.child is not child:
                series = _KeptSeries(child, self._series_prefixes(wrapper, family, labels,
                                                                   child))
            last = series.last
            if last is None or last[0] != values:
                last = series.last = (values, series.render(values, histogram))
            used[key] = series
            output.append(last[1])
        return True

    def _series_prefixes(self, wrapper: MetricWrapperBase, family: Metric,
                         labels: tuple[str, ...], child: Any) -> tuple[str, ...]:
        """Each sample line of one series up to its value, rendered by generate_latest."""
        series_labels = dict(zip(wrapper._labelnames, labels, strict=True))
        prefixes = []
        for sample in child._child_samples():
            self.misses += 1
            line = _one_line(family, sample._replace(
                name=family.name + sample.name, labels={**series_labels, **sample.labels},
                value=0.0, exemplar=None))
            prefixes.append(line[:line.rindex(" ") + 1])
        return tuple(prefixes)

    def _render_metrics(self, metrics: Iterable[Metric], known: tuple[_Prefixes, ...],
                        keep: _Prefixes, output: list[str]) -> None:
        """Families from `collect()`: each line's text before its value is looked up in
        `known`, rendered by generate_latest when absent, and put in `keep`."""
        headers = self._headers
        for metric in metrics:
            name, kind, documentation = metric.name, metric.type, metric.documentation
            extra_names = tuple(name + suffix for suffix in _OPENMETRICS_SUFFIXES)
            extras: dict[str, list[str]] = {}
            output.append(_header(headers, name, kind, documentation, ""))
            for sample in metric.samples:
                if sample.timestamp is not None:
                    line = _one_line(metric, sample)
                else:
                    key = (sample.name, tuple(sample.labels.items()))
                    for cache in known:
                        prefix = cache.get(key)
                        if prefix is not None:
                            break
                    else:
                        self.misses += 1
                        prefix = _one_line(metric, sample._replace(value=0.0))
                        prefix = prefix[:prefix.rindex(" ") + 1]
                    keep[key] = prefix
                    line = f"{prefix}{floatToGoString(sample.value)}\n"
                if sample.name in extra_names:
                    extras.setdefault(sample.name[len(name):], []).append(line)
                else:
                    output.append(line)
            for suffix, lines in sorted(extras.items()):
                output.append(_header(headers, name, "gauge", documentation, suffix))
                output.extend(lines)


_Prefixes = dict[tuple[str, tuple[tuple[str, str], ...]], str]
_FAST_KINDS = (Counter, Gauge, Histogram)


def _fast(collector: Any) -> TypeGuard[MetricWrapperBase]:
    """Whether `collector` is a family `TextRenderer` may read from its children: exactly
    prometheus_client's Counter, Gauge or Histogram, registered as a whole family, with
    single-process values and no `_created` samples (disabled in streams/metrics/__init__.py).
    A gauge given a function (`set_function`) is caught per child in `_render_fast`."""
    return (type(collector) in _FAST_KINDS and not prometheus_metrics._use_created
            and prometheus_values.ValueClass is prometheus_values.MutexValue
            and not (collector._labelnames and collector._labelvalues))


class _KeptSeries:
    """One series of a `_fast` family: its child, its lines up to their values, and the
    values it was last rendered from with that text (one pair, replaced whole, so a
    concurrent scrape never pairs new values with old text)."""

    __slots__ = ("child", "last", "prefixes")

    def __init__(self, child: Any, prefixes: tuple[str, ...]) -> None:
        self.child = child
        self.prefixes = prefixes
        self.last: tuple[Any, str] | None = None

    def render(self, values: Any, histogram: bool) -> str:
        prefixes = self.prefixes
        if not histogram:
            return f"{prefixes[0]}{floatToGoString(values)}\n"
        lines = []
        cumulative = 0.0
        buckets = len(values) - 1
        for i in range(buckets):  # as Histogram._child_samples: cumulative counts
            cumulative += values[i]
            lines.append(f"{prefixes[i]}{floatToGoString(cumulative)}\n")
        lines.append(f"{prefixes[buckets]}{floatToGoString(cumulative)}\n")  # _count
        if len(prefixes) > buckets + 1:  # _sum, absent when a bucket bound is negative
            lines.append(f"{prefixes[buckets + 1]}{floatToGoString(values[buckets])}\n")
        return "".join(lines)


def _one_line(metric: Metric, sample: Any) -> str:
    """The sample's line as generate_latest writes it (its last line: after the headers)."""
    family = Metric(metric.name, metric.documentation, metric.type)
    family.samples = [sample]
    text = generate_latest(_Families(family)).decode("utf-8")
    return text[text.rindex("\n", 0, len(text) - 1) + 1:]


def _header(cache: dict[tuple[str, str, str, str], str], name: str, kind: str,
            documentation: str, suffix: str) -> str:
    """The family's HELP and TYPE lines (a suffix: the OpenMetrics-only gauge of that name),
    as generate_latest writes them."""
    key = (name, kind, documentation, suffix)
    text = cache.get(key)
    if text is None:
        family = Metric(name + suffix, documentation, kind)
        text = cache[key] = generate_latest(_Families(family)).decode(
            "utf-8")
    return text
