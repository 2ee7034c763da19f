"""Which brands this worker owns: those whose partition Kafka assigned to it.

A brand's records are keyed by its name, so Kafka's default partitioner (murmur2) puts
all of them on one partition; the worker assigned that partition owns the brand's state,
series and timers, and no other worker does.
"""

from __future__ import annotations

from collections.abc import Iterable

from kafka.partitioner.default import murmur2

from streams.core.brand import BrandsConfig


def brand_partition(brand: str, partitions: int) -> int:
    """The partition Kafka's default (murmur2) partitioner gives a record keyed by brand."""
    return (murmur2(brand.encode("utf-8")) & 0x7FFFFFFF) % partitions


class Ownership:
    """The input partitions assigned to this worker, and so the brands it owns."""

    def __init__(self, brands: BrandsConfig, partitions: int) -> None:
        self.brands = brands
        self.partitions = partitions
        self.assigned: set[int] = set()

    def assign(self, partitions: set[int]) -> None:
        self.assigned = set(partitions)

    def revoke(self, partitions: set[int]) -> None:
        self.assigned -= partitions

    def owns(self, brand: str) -> bool:
        return brand_partition(brand, self.partitions) in self.assigned

    def owned_brands(self) -> list[str]:
        """Configured brands on the assigned partitions."""
        return [b.name for b in self.brands if self.owns(b.name)]

    def on_partitions(self, brands: Iterable[str], partitions: set[int]) -> set[str]:
        """Those of `brands` that live on `partitions`."""
        return {b for b in brands if brand_partition(b, self.partitions) in partitions}
