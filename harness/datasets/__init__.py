"""Real datasets: manifests, the download cache, reading tables and assembling splits.

The core knows no concrete dataset. Each dataset is described by a manifest, one YAML file
in the ``mtrec.datasets_manifest`` package (or in a folder named by ``$MTREC_DATASETS_PATH``),
validated against ``mtrec/schemas/manifest.schema.json``. Its domain plugin reads the fetched
files with :func:`read_table` and builds splits with :func:`split_assignment`,
:func:`earlier_rows` and :func:`assemble_domain`.

Cache layout, under :func:`mtrec.paths.cache_dir`::

    datasets/NAME/SOURCE_ID/FILE                  the verified files of one source
    datasets/NAME/SOURCE_ID/.mtrec-fetch.json     what was fetched, with every file's sha256

A source folder appears only through one rename, after every file in it was verified, so a
folder that exists is complete and a failed fetch leaves nothing behind. Nothing is downloaded
unless ``mtrec datasets fetch`` asks for it.

One concern per module: :mod:`~mtrec.datasets.errors`, :mod:`~mtrec.datasets.manifest`
(model, validation, loading), :mod:`~mtrec.datasets.cache` (cache folders, verification),
:mod:`~mtrec.datasets.fetch` (downloads, safe extraction), :mod:`~mtrec.datasets.tables`
(reading data files) and :mod:`~mtrec.datasets.splits` (splits, history, assembly). Import
from ``mtrec.datasets``; the names below are its public surface.
"""

from __future__ import annotations

from mtrec.datasets.cache import (
    CachedSource,
    CheckedFile,
    cached_sources,
    dataset_dir,
    require_cached,
    sha256_file,
    verify_cached,
    verify_dataset,
)
from mtrec.datasets.errors import (
    ChecksumError,
    DataFormatError,
    DatasetError,
    DatasetNotFetchedError,
    FetchError,
    ManifestError,
    UnsafeArchiveError,
)
from mtrec.datasets.fetch import FetchReport, Log, choose_source, fetch_dataset, safe_extract
from mtrec.datasets.manifest import (
    FETCH_RECORD,
    MANIFEST_PACKAGE,
    MANIFEST_PATH_ENV,
    PENDING,
    ExtractedMember,
    Manifest,
    SensitiveInfo,
    Source,
    SourceFile,
    TableSpec,
    TaskInfo,
    get_manifest,
    load_manifest,
    manifest_names,
    parse_manifest,
)
from mtrec.datasets.splits import (
    SPLIT_NAMES,
    SPLIT_PROTOCOLS,
    TEST,
    TRAIN,
    VALIDATION,
    Interactions,
    activity_groups,
    assemble_domain,
    check_loader_options,
    dense_ids,
    earlier_rows,
    label_fields_from,
    split_assignment,
    subsample,
)
from mtrec.datasets.tables import (
    Table,
    dataset_stats,
    detect_format,
    locate,
    read_table,
    read_tables,
    table_path,
)

__all__ = [
    "FETCH_RECORD",
    "MANIFEST_PACKAGE",
    "MANIFEST_PATH_ENV",
    "PENDING",
    "SPLIT_NAMES",
    "SPLIT_PROTOCOLS",
    "TEST",
    "TRAIN",
    "VALIDATION",
    "CachedSource",
    "CheckedFile",
    "ChecksumError",
    "DataFormatError",
    "DatasetError",
    "DatasetNotFetchedError",
    "ExtractedMember",
    "FetchError",
    "FetchReport",
    "Interactions",
    "Log",
    "Manifest",
    "ManifestError",
    "SensitiveInfo",
    "Source",
    "SourceFile",
    "Table",
    "TableSpec",
    "TaskInfo",
    "UnsafeArchiveError",
    "activity_groups",
    "assemble_domain",
    "cached_sources",
    "check_loader_options",
    "choose_source",
    "dataset_dir",
    "dataset_stats",
    "dense_ids",
    "detect_format",
    "earlier_rows",
    "fetch_dataset",
    "get_manifest",
    "label_fields_from",
    "load_manifest",
    "locate",
    "manifest_names",
    "parse_manifest",
    "read_table",
    "read_tables",
    "require_cached",
    "safe_extract",
    "sha256_file",
    "split_assignment",
    "subsample",
    "table_path",
    "verify_cached",
    "verify_dataset",
]
