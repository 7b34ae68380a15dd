"""The few SQL fragments SQLite and PostgreSQL spell differently; everything else the storage
package runs is written once, in SQL both accept (`?` parameters, `?N` for a numbered one)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str

    def indexed_by(self, index: str) -> str:
        """A hint naming the index a query must read (SQLite's planner needs it on the report
        queries; PostgreSQL's chooses by statistics)."""
        return f" INDEXED BY {index}" if self.name == "sqlite" else ""

    def days_between(self, later: str, earlier: str) -> str:
        """Days (fractional) from one stored timestamp (ISO text) to another; either side may
        be a `?` parameter."""
        if self.name == "sqlite":
            return f"(julianday({later}) - julianday({earlier}))"
        return (
            f"(EXTRACT(EPOCH FROM (CAST(CAST({later} AS TEXT) AS TIMESTAMPTZ)"
            f" - CAST(CAST({earlier} AS TEXT) AS TIMESTAMPTZ))) / 86400.0)"
        )

    def greatest(self, a: str, b: str) -> str:
        return f"MAX({a}, {b})" if self.name == "sqlite" else f"GREATEST({a}, {b})"


SQLITE = Dialect("sqlite")
POSTGRESQL = Dialect("postgresql")
