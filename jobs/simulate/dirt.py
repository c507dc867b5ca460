"""Inventory of the dirt the generator puts into the feeds on purpose.

Every injected defect is logged with its feed, file, covered day, kind and exact row count,
so the manifest can tell ingest tests precisely what must end up in quarantine, what must be
de-duplicated and which files must be rejected whole.

Kinds (row-level ones affect ``rows`` rows of a file; file-level ones a whole file):
  duplicate_rows       exact copies of delivered rows (ingest removes and counts them)
  malformed_rows       unparseable rows: bad timestamp, missing field, garbage
  out_of_city_coords   ambulance rows geocoded outside the city boundary
  missing_geocode      ambulance rows with empty lat/lon (not dirt for ingest: kept, no H3)
  cp1251_file          a whole file delivered in Windows-1251 instead of UTF-8
  late_file            a day's file delivered in a later ``dt=`` folder
  raw_identifier_file  an operator file whose subscriber keys are raw MSISDN/IMSI-like
  corrected_redelivery a morbidity file for an earlier day re-delivered with corrections
  renamed_cell         a cell whose id changes mid-period (cell reference versions)
  moved_cell           a cell whose site moves mid-period
"""

from dataclasses import asdict, dataclass, field

KINDS = (
    "duplicate_rows", "malformed_rows", "out_of_city_coords", "missing_geocode", "cp1251_file",
    "late_file", "raw_identifier_file", "corrected_redelivery", "renamed_cell", "moved_cell",
)


@dataclass
class DirtEntry:
    feed: str
    file: str         # path relative to the landing root
    day: str          # ISO date the data covers
    kind: str
    rows: int         # rows affected (whole-file kinds: rows in the file)
    detail: dict = field(default_factory=dict)


@dataclass
class DirtLog:
    entries: list[DirtEntry] = field(default_factory=list)

    def add(self, feed: str, file: str, day: str, kind: str, rows: int, **detail) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown dirt kind {kind!r}")
        if rows > 0 or kind in ("renamed_cell", "moved_cell", "late_file", "corrected_redelivery"):
            self.entries.append(DirtEntry(feed, file, day, kind, int(rows), detail))

    def extend(self, other: "DirtLog") -> None:
        self.entries.extend(other.entries)

    def to_json(self) -> list[dict]:
        return [asdict(e) for e in self.entries]

    def total(self, kind: str, feed: str | None = None) -> int:
        return sum(e.rows for e in self.entries if e.kind == kind and (feed is None or e.feed == feed))
