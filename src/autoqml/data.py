"""Target distributions for the qGAN: load real data, draw benchmark samples, discretize onto a 2^N grid.

The qGAN (Zoufal, Lucchi, Woerner 2019, arXiv:1904.00043) learns a probability vector over the 2^N basis states
of N qubits; basis state x stands for the grid value a + (b - a) x / (2^N - 1) (Qiskit bit order).
"""

from __future__ import annotations

import csv
import hashlib
import http.client
import logging
import math
import os
import re
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from numbers import Real
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from autoqml.errors import DataError
from autoqml.files import regular_file, temporary_beside

logger = logging.getLogger(__name__)

MAX_QUBITS = 20
_TIME_NAMES = frozenset({"timestamp", "date", "datetime", "time"})
_METHODS = ("optimal", "minmax")
# Zoufal et al. (2019) benchmarks. The paper text could not be re-read here, so the bimodal values
# (mu1=0.5, sigma1=1, mu2=3.5, sigma2=0.5, equal weights) are our recollection of it, i.e. our documented choice.
PARAMETRIC_DEFAULTS: dict[str, dict[str, float]] = {
    "lognormal": {"mu": 1.0, "sigma": 1.0},
    "triangular": {"low": 0.0, "mode": 2.0, "high": 7.0},
    "bimodal": {"mu1": 0.5, "sigma1": 1.0, "mu2": 3.5, "sigma2": 0.5},
}


@dataclass(frozen=True)
class Grid:
    """The 2^N equidistant points [low, high] that the N-qubit basis states stand for."""

    low: float
    high: float
    num_qubits: int

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.high > self.low):
            raise DataError(f"Grid: low={self.low}, high={self.high} is not a finite range; need low < high")
        _check_qubits(self.num_qubits, field="Grid.num_qubits")

    @property
    def values(self) -> np.ndarray:
        """Grid value of each basis state x: low + (high - low) x / (2^N - 1)."""
        steps = 2**self.num_qubits - 1
        return self.low + (self.high - self.low) * np.arange(steps + 1, dtype=np.float64) / steps

    def index_of(self, samples: np.ndarray) -> np.ndarray:
        """Nearest grid index per sample (ties go up, as in a histogram); outside samples go to the end points."""
        steps = 2**self.num_qubits - 1
        scaled = (np.asarray(samples, dtype=np.float64) - self.low) / (self.high - self.low) * steps
        return np.clip(np.floor(scaled + 0.5), 0, steps).astype(np.int64)


def load_csv(
    *,
    path: str | Path,
    column: str | None = None,
    hour: int | None = None,
    start: str | None = None,
    end: str | None = None,
    field: str = "data_path",
    with_times: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray | None]:
    """Read one numeric column of a UTF-8, comma-separated CSV, refusing bad rows loudly instead of dropping them.

    ``hour`` keeps the rows whose timestamp falls in that hour of the day; ``start`` (inclusive) and ``end``
    (exclusive), ISO dates, keep a period, e.g. the year 2015 of a multi-year file. The values come back in
    timestamp order: rows out of order are sorted (and logged); a timestamp that repeats among the kept rows is an
    error, as is any missing, non-numeric or infinite value. Messages start with the config key to fix (``field``
    for the file, or ``column``, ``hour``, ``start``, ``end`` when ``field`` is ``data_path``). ``with_times``
    returns ``(values, timestamps)``, the timestamps None for a file without a timestamp column.
    """
    path = Path(path)
    key = _keys(field)
    if hour is not None and (isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour <= 23):
        raise DataError(f"{key('hour')}: hour={hour!r} for {path} is not an hour of the day; set hour to 0..23 or "
                        f"omit it")
    _check_file(path, field)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)  # pandas would drop the extra fields silently
            frame = pd.read_csv(path, dtype=str, index_col=False, encoding="utf-8", keep_default_na=False)
    except pd.errors.ParserWarning:
        raise DataError(f"{field}: {path}: {_extra_fields(path)}; quote values that contain commas (\"1,5\") or "
                        f"write decimals with a point") from None
    except UnicodeDecodeError as err:
        raise DataError(f"{field}: {path} is not UTF-8 text (byte {err.object[err.start:err.start + 1]!r} at "
                        f"position {err.start}); save it as UTF-8 CSV") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OSError) as err:
        raise DataError(
            f"{field}: {path} is not a readable CSV ({err}); point {field} at a comma-separated text file"
        ) from err
    if frame.empty:
        raise DataError(f"{field}: {path} has a header but no data rows; add rows or point {field} at another file")
    columns = ", ".join(repr(name) for name in frame.columns)
    time_column = _time_column(frame, path=path)
    if column is None:
        column = _only_value_column(frame, time_column, path=path, field=field)
    elif column not in frame.columns:
        raise DataError(f"{key('column')}: no column {column!r} in {path} (columns: {columns}); set column to one "
                        f"of them")
    raw = frame[column]
    filters = ", ".join(f"{k}={v}" for k, v in (("hour", hour), ("start", start), ("end", end)) if v is not None)
    if filters:
        if time_column is None:
            raise DataError(
                f"{key(filters.split('=')[0])}: {filters} needs a timestamp column but "
                f"no column of {path} parses as datetimes{_unparsed_times(frame)} (columns: {columns}); add a "
                f"'timestamp' column of ISO times or omit it"
            )
        keep = pd.Series(True, index=raw.index)
        if hour is not None:
            keep &= time_column.dt.hour == hour
        for name, bound in (("start", start), ("end", end)):
            if bound is not None:
                try:
                    when = pd.Timestamp(datetime.fromisoformat(str(bound)))
                except ValueError:
                    raise DataError(f"{key(name)}: {name}={bound!r} is not an ISO date; write e.g. 2015-01-01") \
                        from None
                keep &= time_column >= when if name == "start" else time_column < when
        raw = raw[keep]
        if raw.empty:
            raise DataError(f"{key(filters.split('=')[0])}: no row of {path} has {filters}; choose an hour and "
                            f"period that occur in it")
    if time_column is not None:
        raw = _in_time_order(raw, time_column[raw.index], path=path, field=field, filters=filters)
    values = _to_floats(raw, column=column, path=path, field=field)
    if not with_times:
        return values
    return values, None if time_column is None else time_column[raw.index].to_numpy()


def _keys(field: str):
    """Config key of a load_csv argument: the sibling of data_path in a config entry, else `field` itself."""
    return lambda name: name if field == "data_path" else field


def _check_file(path: Path, field: str) -> None:
    """The file exists and is non-empty UTF-8 text: otherwise say what it is and how to fix it."""
    try:
        if "\0" in str(path):
            raise ValueError("it contains a NUL character")
        exists, is_dir = path.exists(), path.is_dir()
    except (OSError, ValueError) as err:  # embedded NUL, name too long
        raise DataError(f"{field}: {str(path)!r} is not a usable file path ({err}); set {field} to a CSV file") \
            from None
    if is_dir:
        raise DataError(f"{field}: {path} is a directory; set {field} to a CSV file")
    if not exists:
        hint = " (write the path with / separators, not \\)" if "\\" in str(path) else ""
        raise DataError(f"{field}: no file {path}{hint}; set {field} to an existing CSV file")
    regular_file(path, field=field, fix=f"set {field} to a CSV file (reading a pipe or device would wait forever)",
                 error=DataError)
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError as err:
        raise DataError(f"{field}: {path} cannot be read ({err.strerror}); check its permissions") from None
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError(f"{field}: {path} is UTF-16 text; save it as UTF-8 CSV (e.g. Excel: 'CSV UTF-8')")
    if b"\x00" in head:
        raise DataError(f"{field}: {path} contains NUL bytes (binary, or UTF-16 without a byte-order mark); save it "
                        f"as UTF-8 CSV text")
    if not head.removeprefix(b"\xef\xbb\xbf").strip() and path.stat().st_size <= len(head):
        raise DataError(f"{field}: {path} is empty; write a header line and one value per row, or point {field} "
                        f"at another file")
    header = head.removeprefix(b"\xef\xbb\xbf").split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", "replace")
    for separator, name in ((";", "semicolon"), ("\t", "tab")):
        if separator in header and "," not in header:
            raise DataError(f"{field}: {path} looks {name}-separated (header {header!r}); autoqml reads "
                            f"comma-separated files: save it with ',' between columns and '.' as the decimal point")
    names = next(csv.reader([header]), [])
    repeated = sorted({name for name in names if name and names.count(name) > 1})
    if repeated:
        where = ", ".join(f"{name!r} (columns {', '.join(str(i + 1) for i, n in enumerate(names) if n == name)})"
                          for name in repeated)
        raise DataError(f"{field}: {path} has more than one column named {where}; a reader would silently use the "
                        f"first: rename or remove the others")


def _extra_fields(path: Path) -> str:
    """Where the rows of a CSV have more fields than its header (pandas would drop the extras)."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = csv.reader(handle)
        header = next(rows, [])
        for number, row in enumerate((row for row in rows if row), start=1):
            if len(row) > len(header):
                return (f"data row {number} has {len(row)} fields but the header {len(header)} "
                        f"({','.join(row)!r})")
    return "rows have more fields than the header"


#: A UTC offset after a time of day (``T00:00:00+01:00``, ``00:00Z``); the date's own ``-01`` never matches.
_OFFSET = re.compile(r"(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(?:Z|[+-]\d{2}(?::?\d{2})?)$")


def _parse_times(text: pd.Series) -> tuple[pd.Series, bool]:
    """ISO timestamps as naive wall-clock times (an offset is dropped, so hours are the hours written), and
    whether any had an offset."""
    written = text.str.strip()
    local = written.str.replace(_OFFSET, r"\1", regex=True)
    try:
        parsed = pd.to_datetime(local, format="ISO8601", errors="coerce")
    except (ValueError, TypeError, OverflowError):
        parsed = pd.Series(pd.NaT, index=text.index)
    return parsed, bool((local != written).any())


def _time_columns(frame: pd.DataFrame) -> list:
    """Names of the columns that should hold timestamps: named timestamp/date/... or the unnamed first one."""
    return [
        name for position, name in enumerate(frame.columns)
        if (position == 0 and str(name).startswith("Unnamed:")) or str(name).strip().lower() in _TIME_NAMES
    ]


def _time_column(frame: pd.DataFrame, *, path: Path | None = None) -> pd.Series | None:
    """Parsed datetimes of the first timestamp-like column in which every row parses."""
    for name in _time_columns(frame):
        parsed, offsets = _parse_times(frame[name])
        if parsed.notna().all():
            if path is not None and offsets:
                logger.info("%s: column %r has UTC offsets; autoqml uses the wall-clock times as written "
                            "(hour filters select the hour written in the file)", path, name)
            return parsed
    return None


def _unparsed_times(frame: pd.DataFrame) -> str:
    """Why a timestamp-like column was not taken, for the error message."""
    for name in _time_columns(frame):
        bad = _parse_times(frame[name])[0].isna()
        return (f" (column {name!r} has {int(bad.sum())} value(s) that are not ISO times, first in data row "
                f"{int(bad.to_numpy().argmax()) + 1}: {frame[name].iloc[int(bad.to_numpy().argmax())]!r})")
    return ""


def _in_time_order(raw: pd.Series, stamps: pd.Series, *, path: Path, field: str, filters: str) -> pd.Series:
    """Kept rows sorted by timestamp (logged when the file was out of order); a repeated timestamp is an error."""
    repeated = stamps.duplicated(keep=False)
    if repeated.any():
        first = stamps[repeated].iloc[0]
        rows = [int(i) + 1 for i in stamps.index[stamps == first]]
        among = f" among the rows with {filters}" if filters else ""
        raise DataError(
            f"{field}: {path} has {int(stamps.duplicated().sum())} repeated timestamp(s){among}, first {first} in "
            f"data rows {', '.join(map(str, rows))}; each would count twice in the histogram: remove the repeats "
            f"(if the rows are not a time series, rename the timestamp column)"
        )
    if not stamps.is_monotonic_increasing:
        position = int((stamps.diff() < pd.Timedelta(0)).to_numpy().argmax())
        logger.warning("%s: %s: rows are not in timestamp order (data row %d, %s, comes after %s); sorted by "
                       "timestamp", field, path, int(stamps.index[position]) + 1, stamps.iloc[position],
                       stamps.iloc[position - 1])
        raw = raw.loc[stamps.sort_values(kind="stable").index]
    return raw


def _only_value_column(frame: pd.DataFrame, time_column: pd.Series | None, *, path: Path, field: str) -> str:
    """The single data column when the caller named none; unnamed index columns never count."""
    names = [
        name
        for name in frame.columns
        if (time_column is None or name != time_column.name) and not str(name).startswith("Unnamed:")
    ]
    if len(names) != 1:
        names = [name for name in names if pd.to_numeric(frame[name], errors="coerce").notna().all()]
    if len(names) != 1:
        listed = ", ".join(repr(name) for name in frame.columns)
        raise DataError(
            f"{_keys(field)('column')}: {path} has {len(names)} numeric data columns (columns: {listed}); set "
            f"column to the one to use"
        )
    return str(names[0])


#: Cell texts (lower-cased) that mean "no value", as pandas reads them by default.
_MISSING = frozenset({"", "na", "n/a", "nan", "-nan", "null", "none", "#n/a", "#na", "<na>", "-1.#ind", "1.#ind",
                      "-1.#qnan", "1.#qnan", "#n/a n/a", "-na", "nat"})


def _to_floats(raw: pd.Series, *, column: str, path: Path, field: str) -> np.ndarray:
    """Strings to float64; messages count data rows from 1 (header and blank lines not counted)."""
    text = raw.fillna("").str.strip()
    missing = text.str.lower().isin(_MISSING)
    values = pd.to_numeric(text.where(~missing), errors="coerce")
    decimal_comma = text.str.fullmatch(r"[-+]?\d*,\d+")
    checks = (
        ("missing (empty/NA)", missing, "fill or remove those rows; autoqml never drops rows silently"),
        ("non-numeric", values.isna() & ~missing,
         "write decimals with a point (1.5, not 1,5)" if decimal_comma.any() else "replace them with numbers"),
        ("non-finite (inf)", values.abs() == np.inf, "replace them with finite numbers"),
    )
    for what, bad, fix in checks:
        if bad.any():
            first = bad.idxmax()
            raise DataError(
                f"{field}: column {column!r} of {path} has {int(bad.sum())} {what} value(s), first in data row "
                f"{first + 1} ({raw[first]!r}); {fix}"
            )
    return values.to_numpy(dtype=np.float64)


def parametric_samples(*, kind: str, params: dict, samples: int, seed: int) -> np.ndarray:
    """Draw Zoufal et al.'s benchmark distributions reproducibly; missing params take the paper's values."""
    if kind not in PARAMETRIC_DEFAULTS:
        raise DataError(f"kind: unknown distribution {kind!r}; set kind to one of {', '.join(sorted(PARAMETRIC_DEFAULTS))}")
    unknown = sorted(set(params) - set(PARAMETRIC_DEFAULTS[kind]))
    if unknown:
        raise DataError(f"params: {unknown} not accepted by {kind!r}; use only {', '.join(PARAMETRIC_DEFAULTS[kind])}")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise DataError(f"samples: {samples!r} is not a positive integer; set samples to at least 1")
    p = {**PARAMETRIC_DEFAULTS[kind], **params}
    for key, value in p.items():
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(_as_float(value)):
            default = PARAMETRIC_DEFAULTS[kind][key]
            raise DataError(f"params.{key}: {value!r} is not a finite number; set a number (default {default})")
        if key.startswith("sigma") and value <= 0:
            raise DataError(f"params.{key}: {value} must be positive; set a standard deviation > 0")
    if kind == "triangular" and not (p["low"] <= p["mode"] <= p["high"] and p["low"] < p["high"]):
        raise DataError(
            f"params: triangular low={p['low']}, mode={p['mode']}, high={p['high']}; "
            "set them so that low <= mode <= high and low < high"
        )
    rng = np.random.default_rng(seed)
    if kind == "lognormal":
        return rng.lognormal(mean=p["mu"], sigma=p["sigma"], size=samples)
    if kind == "triangular":
        return rng.triangular(p["low"], p["mode"], p["high"], size=samples)
    first = rng.random(samples) < 0.5
    return np.where(first, rng.normal(p["mu1"], p["sigma1"], samples), rng.normal(p["mu2"], p["sigma2"], samples))


def _as_float(value: Real) -> float:
    """float(value), or inf for an integer too large for a float."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


def discretize(
    *, samples: np.ndarray, num_qubits: int, method: str | Sequence[float] = "optimal", field: str = "discretization"
) -> tuple[Grid, np.ndarray]:
    """The grid of `samples` (:func:`grid_indices`) and the target probabilities P: their histogram on it."""
    grid, indices = grid_indices(samples=samples, num_qubits=num_qubits, method=method, field=field)
    return grid, np.bincount(indices, minlength=2**num_qubits).astype(np.float64) / indices.size


def grid_indices(
    *, samples: np.ndarray, num_qubits: int, method: str | Sequence[float] = "optimal", field: str = "discretization"
) -> tuple[Grid, np.ndarray]:
    r"""Choose the 2^N grid points for `samples` and map every kept sample to its nearest one (its basis state).

    ``"minmax"`` spans [min, max]. ``"optimal"`` picks the range of the uniform quantizer with least mean
    squared error, samples outside [a, b] clipped to the end points (Lloyd-Max with optimal clipping):

    .. math:: (a^*, b^*) = \arg\min_{a<b} \frac{1}{n} \sum_{i=1}^{n} \big(s_i - g_{a,b}(\min(\max(s_i, a), b))\big)^2

    where g_{a,b} rounds to the nearest grid point. Nelder-Mead (a local search: the objective is piecewise
    quadratic with many local minima) starts at (min, max) and keeps its best vertex, so it never loses to
    minmax. Both methods keep every sample. An explicit ``[a, b]`` drops the samples outside it (truncation,
    as in Qiskit's qGAN) and logs how many.
    """
    _check_qubits(num_qubits, field=f"{field}.num_qubits")
    try:
        data = np.asarray(samples, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise DataError(f"{field}: samples are not numbers ({err}); pass a 1-D array of floats") from err
    if data.ndim != 1 or data.size == 0:
        raise DataError(f"{field}: got samples of shape {data.shape}; pass a non-empty 1-D array")
    if not np.isfinite(data).all():
        bad = ~np.isfinite(data)
        raise DataError(
            f"{field}: {int(bad.sum())} non-finite sample(s), first at index {int(bad.argmax())} "
            f"({data[bad.argmax()]}); remove NaN/inf before discretizing"
        )
    low, high = float(data.min()), float(data.max())
    if low == high:
        raise DataError(
            f"{field}: all samples equal to {low}: a distribution needs at least two distinct values; "
            "use more data or another column/hour"
        )
    if isinstance(method, str):
        if method not in _METHODS:
            raise DataError(f"{field}: unknown method {method!r}; set it to 'optimal', 'minmax' or [low, high]")
        grid = Grid(low, high, num_qubits) if method == "minmax" else _optimal_grid(data, num_qubits)
    else:
        grid = _explicit_grid(method, num_qubits, field=field)
        inside = (data >= grid.low) & (data <= grid.high)
        if not inside.any():
            raise DataError(
                f"{field}: range [{grid.low}, {grid.high}] leaves every bin without support; "
                f"data spans [{low}, {high}]; choose a range that overlaps the data"
            )
        if not inside.all():
            logger.warning(
                "%s: range [%s, %s] drops %d of %d samples outside it",
                field, grid.low, grid.high, int((~inside).sum()), data.size,
            )
        data = data[inside]
    return grid, grid.index_of(data)


def _check_qubits(num_qubits: int, *, field: str) -> None:
    if isinstance(num_qubits, bool) or not isinstance(num_qubits, int) or not 1 <= num_qubits <= MAX_QUBITS:
        raise DataError(f"{field}: {num_qubits!r} qubits; set an integer in 1..{MAX_QUBITS}")


def _explicit_grid(bounds: Sequence[float], num_qubits: int, *, field: str) -> Grid:
    """Validate a user-given [a, b] range."""
    valid = isinstance(bounds, Sequence) and len(bounds) == 2
    if not valid or not all(isinstance(v, Real) and not isinstance(v, bool) for v in bounds):
        raise DataError(f"{field}: {bounds!r} is neither 'optimal', 'minmax' nor a range [low, high] of two numbers")
    a, b = float(bounds[0]), float(bounds[1])
    if not (math.isfinite(a) and math.isfinite(b)) or b <= a:
        raise DataError(f"{field}: range [{a}, {b}] is not a finite interval with low < high; swap or fix the bounds")
    return Grid(a, b, num_qubits)


def _quantization_mse(data: np.ndarray, grid: Grid) -> float:
    """Mean squared distance of the samples to the grid point each is mapped to (end points for outliers)."""
    return float(np.mean((data - grid.values[grid.index_of(data)]) ** 2))


def _optimal_grid(data: np.ndarray, num_qubits: int) -> Grid:
    """Nelder-Mead on (a, b) from (min, max); simplex and tolerances scale with the data span."""
    low, high = float(data.min()), float(data.max())
    span = high - low

    def objective(ab: np.ndarray) -> float:
        return _quantization_mse(data, Grid(float(ab[0]), float(ab[1]), num_qubits)) if ab[1] > ab[0] else math.inf

    simplex = np.array([[low, high], [low + 0.1 * span, high], [low, high - 0.1 * span]])
    result = minimize(
        objective, simplex[0], method="Nelder-Mead",
        options={"initial_simplex": simplex, "xatol": 1e-7 * span, "fatol": 1e-12 * span**2, "maxiter": 2000},
    )
    return Grid(float(result.x[0]), float(result.x[1]), num_qubits)


def normal_amplitudes(*, grid: Grid, probabilities: np.ndarray) -> np.ndarray:
    """Amplitudes sqrt(p) of the discretized normal with the target's mean and std, a data-informed start state."""
    p = np.asarray(probabilities, dtype=np.float64)
    values = grid.values
    if p.shape != values.shape or not np.isfinite(p).all() or (p < 0).any() or p.sum() <= 0:
        raise DataError(
            f"probabilities: need {values.size} non-negative finite weights for {grid.num_qubits} qubits, got shape "
            f"{p.shape}; pass the P returned by discretize"
        )
    p = p / p.sum()
    mean = float(p @ values)
    std = math.sqrt(float(p @ (values - mean) ** 2))
    if std == 0:
        raise DataError(
            f"probabilities: all mass on the grid value {mean}, so std is 0 and no normal fits; "
            "use a data set with spread or another initialization"
        )
    log_pdf = -0.5 * ((values - mean) / std) ** 2
    weights = np.exp(log_pdf - log_pdf.max())
    return np.sqrt(weights / weights.sum())


#: Config ``data_path`` -> the file a job reads it from (see :func:`located`).
_LOCATIONS: ContextVar[Mapping[str, str]] = ContextVar("autoqml data locations", default={})


@contextmanager
def located(files: Mapping[str, str]) -> Iterator[None]:
    """Within the block, read each config ``data_path`` in `files` from the local file mapped to it.

    With remote storage (Azure Blob) a job gets its inputs as local copies under ``.snakemake/storage/``, not at
    the path the config names; the rule scripts map one to the other. The config, and so every cell id, keeps
    the path as written.
    """
    token = _LOCATIONS.set(dict(files))
    try:
        yield
    finally:
        _LOCATIONS.reset(token)


def local_path(data_path: str) -> str:
    """Where this process reads the config's `data_path` (itself, unless :func:`located` maps it)."""
    return _LOCATIONS.get().get(data_path, data_path)


def training_values(*, distribution: dict, seed: int) -> np.ndarray:
    """The values whose histogram is the target of one config `distributions` entry.

    A csv entry uses its rows (at most ``samples`` of them: a subset drawn with `seed` when the file has more,
    logged); they must hold at least two distinct values. A parametric entry draws ``samples`` values with `seed`.
    An entry with a ``split`` trains on its training part only (:mod:`autoqml.split`).
    """
    if distribution.get("split"):
        from autoqml.split import split_parts  # the split module builds on this one

        return split_parts(distribution=distribution, seed=seed).train
    if distribution["kind"] != "csv":
        return parametric_samples(kind=distribution["kind"], params=distribution["params"],
                                  samples=distribution["samples"], seed=seed)
    return at_most_samples(csv_values(distribution=distribution), distribution=distribution, seed=seed)


def csv_values(*, distribution: dict, with_times: bool = False):
    """The selected rows of a csv entry (with their timestamps if asked); at least two distinct values."""
    path = local_path(distribution["data_path"])
    selection = {k: distribution.get(k) for k in ("column", "hour", "start", "end")}
    loaded = load_csv(path=path, **selection, with_times=with_times)
    values = loaded[0] if with_times else loaded
    if np.unique(values).size < 2:
        chosen = ", ".join(f"{k}={v}" for k, v in selection.items() if v is not None)
        what = "only 1 value" if values.size == 1 else f"{values.size} values, all equal to {values[0]:g}"
        raise DataError(f"data_path: {path}{f' with {chosen}' if chosen else ''} gives {what}; a distribution needs "
                        f"at least two distinct values: use a file with more rows, or another column, hour or period")
    return loaded


def at_most_samples(values: np.ndarray, *, distribution: dict, seed: int) -> np.ndarray:
    """`values`, or a seeded subset of ``samples`` of them (in their order, logged) when there are more."""
    if len(values) > distribution["samples"]:
        keep = np.random.default_rng(seed).choice(len(values), distribution["samples"], replace=False)
        logger.info("%s: using a seeded subset of %d of its %d values (samples: %d)",
                    distribution["data_path"], distribution["samples"], len(values), distribution["samples"])
        values = values[np.sort(keep)]
    return values


def target_distribution(*, distribution: dict, num_qubits: int, seed: int) -> tuple[Grid, np.ndarray]:
    """Grid and target probabilities of one config `distributions` entry on `num_qubits` qubits: the histogram of
    its :func:`training_values` on the grid."""
    values = training_values(distribution=distribution, seed=seed)
    return discretize(samples=values, num_qubits=num_qubits, method=distribution["discretization"])


def check_distributions(
    *, distributions: list[dict], num_qubits: list[int], seed: int, batch_size: int | None = None
) -> list[dict]:
    """Load and discretize every distribution at every register size, so bad data fails before training.

    Returns, per distribution, the number of values and each register size's grid range (the workflow's
    ``check_data`` rule stores it).

    With ``batch_size``, a batch larger than a data set is logged (not refused): real batches are drawn with
    replacement from the target histogram, so values repeat within a batch, as in the default study (512 of 365).
    """
    summary = []
    for i, distribution in enumerate(distributions):
        path, url = distribution.get("data_path"), distribution.get("url")
        if distribution["kind"] == "csv" and url and not Path(local_path(path)).exists():
            raise DataError(f"distributions[{i}].data_path: no file {path} yet; the workflow downloads it from {url} "
                            f"before training; to check the data now, fetch it first: snakemake --cores 1 {path}")
        try:
            values = training_values(distribution=distribution, seed=seed)
        except DataError as err:
            raise DataError(f"distributions[{i}].{err}") from None
        if batch_size is not None and batch_size > values.size:
            logger.info("distributions[%d]: batch_size %d is larger than its %d values; real batches are drawn with "
                        "replacement from the target histogram, so values repeat within a batch", i, batch_size,
                        values.size)
        source = f"; data from {path}" if distribution["kind"] == "csv" else ""
        grids = {}
        for n in num_qubits:
            try:
                grid, _ = discretize(samples=values, num_qubits=n, method=distribution["discretization"])
            except DataError as err:
                raise DataError(f"distributions[{i}].{err} (num_qubits {n}{source})") from None
            grids[n] = {"low": grid.low, "high": grid.high}
        entry = {"name": distribution.get("name", f"distributions[{i}]"), "values": int(values.size), "grids": grids}
        if distribution.get("split"):
            from autoqml.split import summary as split_summary

            entry["split"] = split_summary(distribution=distribution, seed=seed)
        summary.append(entry)
    return summary


# --- Download of a public data set (the workflow's rule for a missing data_path) ---------------------------------

EPEX_DE_URL = "https://zenodo.org/records/4624805/files/DE.csv?download=1"
_EXPECT_KEYS = ("rows", "count", "mean")
_MEAN_TOLERANCE = 1e-3
_USER_AGENT = "autoqml-data-download (python urllib)"


class _Transient(Exception):
    """A failure worth another attempt (network error, timeout, HTTP 5xx); wraps the original error."""


def download(
    *,
    url: str,
    path: str | Path,
    expect: dict | None = None,
    column: str | None = None,
    hour: int | None = None,
    start: str | None = None,
    end: str | None = None,
    timeout: float = 60.0,
    retries: int = 3,
    backoff: float = 2.0,
) -> dict:
    """Fetch `url` to `path`, checked before it appears there: `path` never holds a partial or unchecked file.

    The body goes to a temporary file beside `path`; it must parse with :func:`load_csv` (``column``, ``hour``,
    ``start``, ``end``) and match ``expect`` (optional keys: ``rows``, the data rows of the whole file, exact;
    ``count``, the number of values after the filters, exact; ``mean``, their mean, within 1e-3) before it is
    renamed to `path`. Network errors, timeouts and HTTP 5xx are retried up to `retries` more times after
    ``backoff * 2**i`` seconds; HTTP 4xx fails at once. Returns url, path, sha256, bytes, rows, count and mean.
    """
    path = Path(path)
    expect = _check_expect(expect, url=url)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise DataError(f"download: retries={retries!r} is not a non-negative integer; set e.g. retries=3")
    fix = f"check the network or set the distribution's `url`, or place the file at {path} yourself"
    logger.info("downloading %s to %s", url, path)
    tmp = temporary_beside(path, suffix=".part")
    try:
        digest, size = _fetch(url, tmp, timeout=timeout, retries=retries, backoff=backoff, fix=fix)
        try:
            values = load_csv(path=tmp, column=column, hour=hour, start=start, end=end, field="url")
        except DataError as err:
            message = str(err).removeprefix("url: ").replace(str(tmp), "the downloaded file")
            raise DataError(f"url: {url} did not serve the expected CSV ({message}); {fix}") from None
        rows = len(pd.read_csv(tmp, dtype=str, index_col=False))  # parsed fine just above
        stats = {"rows": rows, "count": int(values.size), "mean": float(values.mean())}
        wrong = [
            f"mean expected {expect['mean']} (+-{_MEAN_TOLERANCE:g}), got {stats['mean']:.4f}"
            if key == "mean"
            else f"{key} expected {expect[key]}, got {stats[key]}"
            for key in _EXPECT_KEYS
            if key in expect
            and (abs(stats[key] - expect[key]) > _MEAN_TOLERANCE if key == "mean" else stats[key] != expect[key])
        ]
        if wrong:
            raise DataError(
                f"url: the file from {url} does not match `expect` ({'; '.join(wrong)}; "
                f"filters column={column!r}, hour={hour!r}, start={start!r}, end={end!r}); "
                f"it was not saved. Check the url and the filters, fix `expect`, or place the file at {path} yourself"
            )
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        logger.error("download of %s failed: %s", url, err)
        raise
    result = {"url": url, "path": str(path), "sha256": digest, "bytes": size, **stats}
    logger.info("downloaded %s to %s: %d bytes, sha256 %s, %d rows, %d selected values, mean %.4f",
                url, path, size, digest, stats["rows"], stats["count"], stats["mean"])
    return result


def _check_expect(expect: dict | None, *, url: str) -> dict:
    """Validate `expect` before any network traffic, so a typo fails at once."""
    if expect is None:
        return {}
    if not isinstance(expect, dict):
        raise DataError(f"expect: {expect!r} for {url} is not a mapping; use e.g. {{rows: 8760, count: 365}}")
    unknown = sorted(set(expect) - set(_EXPECT_KEYS))
    if unknown:
        raise DataError(f"expect: unknown key(s) {unknown} for {url}; use only {', '.join(_EXPECT_KEYS)}")
    for key, value in expect.items():
        if key == "mean":
            ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
        else:
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
        if not ok:
            kind = "a finite number" if key == "mean" else "a positive integer"
            raise DataError(f"expect.{key}: {value!r} for {url} is not {kind}; set it to {kind} or remove it")
    return dict(expect)


def _fetch(url: str, target: Path, *, timeout: float, retries: int, backoff: float, fix: str) -> tuple[str, int]:
    """Stream `url` into `target` (overwritten per attempt), following redirects; return (sha256, bytes)."""
    attempts = retries + 1
    for attempt in range(1, attempts + 1):
        try:
            return _fetch_once(url, target, timeout=timeout)
        except urllib.error.HTTPError as err:
            err.close()  # it holds the open response
            if err.code < 500:
                raise DataError(
                    f"url: {url} answered HTTP {err.code} {err.reason}; {fix}"
                ) from None
            failure: BaseException = err
        except _Transient as err:
            failure = err.__cause__ or err
        except ValueError as err:  # malformed URL, unknown scheme
            raise DataError(f"url: {url!r} is not a URL urllib can fetch ({err}); {fix}") from None
        if attempt < attempts:
            delay = backoff * 2 ** (attempt - 1)
            logger.warning("download of %s failed (attempt %d/%d: %s); retrying in %.2g s",
                           url, attempt, attempts, failure, delay)
            time.sleep(delay)
    raise DataError(f"url: could not download {url} after {attempts} attempt(s) ({failure}); {fix}")


def _fetch_once(url: str, target: Path, *, timeout: float) -> tuple[str, int]:
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    digest = hashlib.sha256()
    size = 0
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, open(target, "wb") as handle:
            while chunk := response.read(1 << 16):
                digest.update(chunk)
                handle.write(chunk)
                size += len(chunk)
            handle.flush()
            os.fsync(handle.fileno())
    except urllib.error.HTTPError:
        raise
    except (OSError, http.client.HTTPException) as err:  # URLError, timeouts, resets, truncated bodies
        raise _Transient(str(err)) from err
    return digest.hexdigest(), size
