"""autoqml.data: loading the real EPEX prices, benchmark samples, discretization onto the qubit grid."""

import logging
import math
import re
from pathlib import Path

import numpy as np
import pytest

from autoqml.data import (
    Grid,
    check_distributions,
    discretize,
    load_csv,
    normal_amplitudes,
    parametric_samples,
    training_values,
)
from autoqml.errors import DataError


def _write(tmp_path: Path, text: str, name: str = "prices.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _mse(samples: np.ndarray, grid: Grid) -> float:
    """Quantization error recomputed from the public API (outliers go to the end points)."""
    return float(np.mean((samples - grid.values[grid.index_of(samples)]) ** 2))


# --- load_csv on the real data (numbers from /work/shared/data/PROVENANCE.md) ---------------------------------


def test_h00_matches_provenance_statistics(epex_h00):
    prices = load_csv(path=epex_h00)
    assert prices.dtype == np.float64 and prices.shape == (365,)
    assert round(float(prices.mean()), 4) == 25.1698
    assert prices.min() == -19.98 and prices.max() == 51.68
    assert prices[:2].tolist() == [25.02, -12.11]  # file order


def test_epftoolbox_source_format_hour_0_gives_the_h00_series(epex_h00, epftoolbox_csv):
    np.testing.assert_array_equal(load_csv(path=epftoolbox_csv, column="Price", hour=0), load_csv(path=epex_h00))


def test_hourly_file(epex_hourly):
    prices = load_csv(path=epex_hourly)
    assert prices.shape == (8760,) and round(float(prices.mean()), 4) == 31.6265
    assert load_csv(path=epex_hourly, hour=0).shape == (365,)


def test_several_numeric_columns_need_column(epftoolbox_csv):
    with pytest.raises(DataError, match=r"column: .*3 numeric data columns.*'Price'.*set column"):
        load_csv(path=epftoolbox_csv)


# --- load_csv errors -------------------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"distributions\[0\]\.path: no file .*nope\.csv; set .* existing CSV"):
        load_csv(path=tmp_path / "nope.csv", field="distributions[0].path")


def test_unknown_column_lists_columns(tmp_path):
    path = _write(tmp_path, "date,Price,Load\n2015-01-01,1.5,3\n")
    with pytest.raises(DataError, match=r"column: no column 'Prce' in .*prices\.csv \(columns: 'date', 'Price', "
                       r"'Load'\); set column to one of them"):
        load_csv(path=path, column="Prce")


def test_non_numeric_rows_report_count_and_first_line(tmp_path):
    path = _write(tmp_path, "date,price\n2015-01-01,1.5\n2015-01-02,n/a?\n2015-01-03,2\n2015-01-04,abc\n")
    with pytest.raises(DataError, match=r"data_path: column 'price' .* 2 non-numeric value\(s\), first in data row 2 "
                       r"\('n/a\?'\); replace them with numbers"):
        load_csv(path=path)


def test_missing_values_are_an_error_not_dropped(tmp_path):
    path = _write(tmp_path, "date,price\n2015-01-01,1.5\n2015-01-02,\n\n2015-01-03,NA\n\n")
    with pytest.raises(DataError, match=r"2 missing \(empty/NA\) value\(s\), first in data row 2.*fill or remove"):
        load_csv(path=path)


def test_infinite_values(tmp_path):
    path = _write(tmp_path, "date,price\n2015-01-01,1.5\n2015-01-02,-inf\n")
    with pytest.raises(DataError, match=r"1 non-finite \(inf\) value\(s\), first in data row 2.*finite numbers"):
        load_csv(path=path)


@pytest.mark.parametrize("hour", [24, -1, True, 1.5])
def test_bad_hour(epex_hourly, hour):
    with pytest.raises(DataError, match=r"hour: hour=.* is not an hour of the day; set hour to 0\.\.23"):
        load_csv(path=epex_hourly, hour=hour)


def test_hour_needs_a_timestamp_column(tmp_path):
    path = _write(tmp_path, "price\n1.0\n2.0\n")
    with pytest.raises(DataError, match=r"hour=3 needs a timestamp column .*\(columns: 'price'\); add a 'timestamp'"):
        load_csv(path=path, hour=3)


def test_hour_that_never_occurs(tmp_path):
    path = _write(tmp_path, "timestamp,price\n2015-01-01T01:00:00,1.0\n2015-01-02T01:00:00,2.0\n")
    with pytest.raises(DataError, match=r"no row of .* has hour=5; choose an hour and period that occur"):
        load_csv(path=path, hour=5)
    np.testing.assert_array_equal(load_csv(path=path, hour=1), [1.0, 2.0])


def test_not_a_csv(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_bytes(b"\xff\xfe\x00\x81binary\x00\x9f")
    with pytest.raises(DataError, match=r"data_path: .*prices\.csv is UTF-16 text; save it as UTF-8"):
        load_csv(path=path)
    path.write_bytes(b"price\n1\x00\x9f\n")
    with pytest.raises(DataError, match=r"data_path: .*prices\.csv contains NUL bytes .*save it as UTF-8 CSV"):
        load_csv(path=path)
    with pytest.raises(DataError, match=r"is not a readable CSV"):
        load_csv(path=_write(tmp_path, "a,b\n1,2\n3,4,5,6\n"))


@pytest.mark.parametrize(("text", "problem"), [("", "is empty"), (" \n\n", "is empty"), ("\ufeff", "is empty"),
                                               ("date,price\n", "has a header but no data rows")])
def test_empty_file(tmp_path, text, problem):
    with pytest.raises(DataError, match=rf"data_path: .*prices\.csv {problem}; .*point data_path at another file"):
        load_csv(path=_write(tmp_path, text))


# --- Grid ------------------------------------------------------------------------------------------------------


def test_grid_values_and_index_round_trip():
    grid = Grid(-1.0, 2.0, 3)
    np.testing.assert_allclose(grid.values, -1.0 + 3.0 * np.arange(8) / 7)
    np.testing.assert_array_equal(grid.index_of(grid.values), np.arange(8))
    np.testing.assert_array_equal(grid.index_of(np.array([-5.0, -0.9, 1.9, 9.0])), [0, 0, 7, 7])


# --- discretize ------------------------------------------------------------------------------------------------


def test_minmax_equals_histogram_with_bins_centred_on_grid_points():
    samples = parametric_samples(kind="lognormal", params={}, samples=2000, seed=3)
    grid, probs = discretize(samples=samples, num_qubits=4, method="minmax")
    assert (grid.low, grid.high) == (samples.min(), samples.max())
    half = (grid.high - grid.low) / 15 / 2
    counts, _ = np.histogram(samples, bins=np.linspace(grid.low - half, grid.high + half, 17))
    assert probs.dtype == np.float64 and probs.shape == (16,)
    np.testing.assert_array_equal(probs, counts / samples.size)
    assert math.isclose(probs.sum(), 1.0)


@pytest.mark.parametrize("kind", ["lognormal", "triangular", "bimodal"])
def test_optimal_never_worse_than_minmax_and_keeps_every_sample(kind):
    samples = parametric_samples(kind=kind, params={}, samples=3000, seed=7)
    for num_qubits in (2, 3, 5):
        grid, probs = discretize(samples=samples, num_qubits=num_qubits)
        minmax, _ = discretize(samples=samples, num_qubits=num_qubits, method="minmax")
        assert _mse(samples, grid) <= _mse(samples, minmax)
        counts = np.bincount(grid.index_of(samples), minlength=2**num_qubits)
        np.testing.assert_allclose(probs, counts / samples.size, rtol=0, atol=1e-15)


def test_optimal_on_epex_h00_five_qubits(epex_h00):
    prices = load_csv(path=epex_h00)
    grid, probs = discretize(samples=prices, num_qubits=5, method="optimal")
    minmax, _ = discretize(samples=prices, num_qubits=5, method="minmax")
    # The ten negative-price nights stretch minmax; clipping them must pay off (0.392 vs 0.477 EUR^2 when written).
    assert _mse(prices, grid) < 0.9 * _mse(prices, minmax)
    assert math.isclose(probs.sum(), 1.0) and probs.shape == (32,)


def test_explicit_range_truncates_and_logs(caplog):
    samples = np.array([-1.0, 0.0, 0.5, 1.0, 3.0])
    with caplog.at_level(logging.WARNING, logger="autoqml.data"):
        grid, probs = discretize(samples=samples, num_qubits=1, method=[0, 1])
    assert (grid.low, grid.high) == (0.0, 1.0)
    np.testing.assert_array_equal(probs, [1 / 3, 2 / 3])  # 0.5 is a tie and goes up, like a histogram bin
    assert "drops 2 of 5 samples" in caplog.text


def test_range_without_support():
    with pytest.raises(DataError, match=r"discretization: range \[10\.0, 20\.0\] leaves every bin without "
                       r"support; data spans \[0\.0, 1\.0\]; choose a range"):
        discretize(samples=np.array([0.0, 1.0]), num_qubits=2, method=(10, 20))


@pytest.mark.parametrize("bounds", [[1.0, 1.0], [2.0, 1.0], [0.0, math.inf]])
def test_range_must_be_finite_and_increasing(bounds):
    with pytest.raises(DataError, match=r"discretization: range .* not a finite interval .*swap or fix"):
        discretize(samples=np.array([0.0, 1.0]), num_qubits=2, method=bounds)


@pytest.mark.parametrize("method", ["quantile", [1.0, 2.0, 3.0], ["a", "b"]])
def test_bad_method(method):
    with pytest.raises(DataError, match=r"discretization: .*'optimal', 'minmax'.*\[low, high\]"):
        discretize(samples=np.array([0.0, 1.0]), num_qubits=2, method=method)


@pytest.mark.parametrize("samples", [[3.0, 3.0, 3.0], [3.0]])
def test_all_equal_or_single_value(samples):
    with pytest.raises(DataError, match=r"discretization: all samples equal to 3\.0: a distribution needs at least "
                       r"two distinct values; use more data"):
        discretize(samples=np.array(samples), num_qubits=3)


def test_bad_samples_and_qubits():
    with pytest.raises(DataError, match=r"shape \(0,\); pass a non-empty 1-D array"):
        discretize(samples=np.array([]), num_qubits=3)
    with pytest.raises(DataError, match=r"1 non-finite sample\(s\), first at index 1 \(nan\); remove NaN/inf"):
        discretize(samples=np.array([0.0, np.nan, 1.0]), num_qubits=3)
    for bad in (0, 21, 2.0):
        with pytest.raises(DataError, match=r"discretization\.num_qubits: .* set an integer in 1\.\.20"):
            discretize(samples=np.array([0.0, 1.0]), num_qubits=bad)


# --- parametric_samples ----------------------------------------------------------------------------------------

N_DRAWS = 20_000
# Analytic mean and variance; the sample mean must land within 5 standard errors sqrt(var / n) (two-sided
# probability of a false failure ~6e-7 per check, and the seed is fixed anyway).
LOGNORMAL = (math.exp(1.5), (math.e - 1) * math.exp(3))
TRIANGULAR = (3.0, (0 + 4 + 49 - 0 - 0 - 14) / 18)
BIMODAL = (2.0, 0.5 * (1 + 0.25) + 0.25 * (3.5 - 0.5) ** 2)


@pytest.mark.parametrize(("kind", "moments"), [("lognormal", LOGNORMAL), ("triangular", TRIANGULAR),
                                               ("bimodal", BIMODAL)])
def test_parametric_mean_and_determinism(kind, moments):
    draws = parametric_samples(kind=kind, params={}, samples=N_DRAWS, seed=11)
    np.testing.assert_array_equal(draws, parametric_samples(kind=kind, params={}, samples=N_DRAWS, seed=11))
    assert not np.array_equal(draws, parametric_samples(kind=kind, params={}, samples=N_DRAWS, seed=12))
    mean, var = moments
    assert abs(draws.mean() - mean) < 5 * math.sqrt(var / N_DRAWS)


def test_parametric_params_override_defaults():
    draws = parametric_samples(kind="triangular", params={"high": 3.0}, samples=500, seed=0)
    assert draws.min() >= 0.0 and draws.max() <= 3.0


@pytest.mark.parametrize(("kwargs", "pattern"), [
    ({"kind": "gauss"}, r"kind: unknown distribution 'gauss'; set kind to one of bimodal, lognormal, triangular"),
    ({"kind": "lognormal", "params": {"mean": 1}}, r"params: \['mean'\] not accepted .*use only mu, sigma"),
    ({"kind": "lognormal", "samples": 0}, r"samples: 0 is not a positive integer; set samples to at least 1"),
    ({"kind": "bimodal", "params": {"sigma2": 0}}, r"params\.sigma2: 0 must be positive"),
    ({"kind": "triangular", "params": {"mode": 9}}, r"params: triangular .*low <= mode <= high"),
])
def test_parametric_errors(kwargs, pattern):
    call = {"params": {}, "samples": 10, "seed": 0, **kwargs}
    with pytest.raises(DataError, match=pattern):
        parametric_samples(**call)


# --- normal_amplitudes -----------------------------------------------------------------------------------------


def test_normal_amplitudes_match_target_moments(epex_h00):
    grid, probs = discretize(samples=load_csv(path=epex_h00), num_qubits=5, method="minmax")
    amplitudes = normal_amplitudes(grid=grid, probabilities=probs)
    assert amplitudes.dtype == np.float64 and math.isclose(np.linalg.norm(amplitudes), 1.0)
    target_mean = probs @ grid.values
    target_std = math.sqrt(probs @ (grid.values - target_mean) ** 2)
    # Truncating the normal at the grid ends (about 2.9 std above, 4.9 below the mean) shifts its mean by well
    # under 0.05 std; the 2.3 EUR grid spacing (a quarter std) adds almost nothing.
    assert abs((amplitudes**2) @ grid.values - target_mean) < 0.05 * target_std


def test_normal_amplitudes_need_spread():
    with pytest.raises(DataError, match=r"probabilities: all mass on the grid value 2\.0, so std is 0"):
        normal_amplitudes(grid=Grid(0.0, 6.0, 2), probabilities=np.array([0.0, 1.0, 0.0, 0.0]))
    with pytest.raises(DataError, match=r"probabilities: need 4 non-negative .*pass the P returned by discretize"):
        normal_amplitudes(grid=Grid(0.0, 6.0, 2), probabilities=np.array([0.5, 0.5]))


def test_period_filter_keeps_one_year(epftoolbox_csv):
    values = load_csv(path=epftoolbox_csv, column="Price", hour=0, start="2015-06-01", end="2015-07-01")
    assert len(values) == 30
    with pytest.raises(DataError, match=r"start='June 1st' is not an ISO date"):
        load_csv(path=epftoolbox_csv, column="Price", start="June 1st")


# --- data faults: each a clear error naming the file and the fix, or a documented, logged treatment ------------

DAYS = "".join(f"2015-01-{d:02d},{v}\n" for d, v in zip(range(1, 8), (3.5, 1.0, 2.25, 7.0, 1.0, 4.5, 0.5)))


def test_utf8_byte_order_mark_is_read_like_plain_utf8(tmp_path):
    plain = load_csv(path=_write(tmp_path, "date,price\n" + DAYS, "plain.csv"))
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + ("date,price\n" + DAYS).encode())
    np.testing.assert_array_equal(load_csv(path=path), plain)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "latin-1"])
def test_other_encodings_name_the_fix(tmp_path, encoding):
    path = tmp_path / "prices.csv"
    path.write_bytes(("date,Preis für DE\n" + DAYS).encode(encoding))
    with pytest.raises(DataError, match=r"data_path: .*prices\.csv (is UTF-16 text|contains NUL bytes \(.*\)|is not "
                       r"UTF-8 text \(byte .* at position \d+\)); save it as UTF-8"):
        load_csv(path=path)


@pytest.mark.parametrize(("separator", "name"), [(";", "semicolon"), ("\t", "tab")])
def test_other_separators_are_named(tmp_path, separator, name):
    path = _write(tmp_path, f"date{separator}price\n2015-01-01{separator}25,02\n2015-01-02{separator}-12,11\n")
    with pytest.raises(DataError, match=rf"data_path: .*prices\.csv looks {name}-separated \(header 'date.{{1,2}}price'\); "
                       r"autoqml reads comma-separated files: save it with ',' between columns and '\.' as the decimal"):
        load_csv(path=path)


def test_decimal_commas_get_their_own_hint(tmp_path):
    path = _write(tmp_path, 'date,price\n2015-01-01,"25,02"\n2015-01-02,3\n')
    with pytest.raises(DataError, match=r"1 non-numeric value\(s\), first in data row 1 \('25,02'\); write decimals "
                       r"with a point"):
        load_csv(path=path)


def test_out_of_order_rows_are_sorted_and_logged(tmp_path, caplog):
    lines = DAYS.splitlines()
    shuffled = _write(tmp_path, "date,price\n" + "\n".join([lines[3], *lines[:3], *lines[4:]]) + "\n")
    ordered = load_csv(path=_write(tmp_path, "date,price\n" + DAYS, "ordered.csv"))
    with caplog.at_level(logging.WARNING, logger="autoqml.data"):
        values = load_csv(path=shuffled)
    np.testing.assert_array_equal(values, ordered)
    assert re.search(r"prices\.csv: rows are not in timestamp order \(data row 2, 2015-01-01 00:00:00, comes after "
                     r"2015-01-04 00:00:00\); sorted by timestamp", caplog.text)


def test_repeated_timestamps_are_an_error(tmp_path):
    path = _write(tmp_path, "date,price\n" + DAYS + "2015-01-03,2.25\n")
    with pytest.raises(DataError, match=r"data_path: .*prices\.csv has 1 repeated timestamp\(s\), first 2015-01-03 "
                       r"00:00:00 in data rows 3, 8; each would count twice in the histogram: remove the repeats"):
        load_csv(path=path)


def test_repeats_outside_the_selected_rows_do_not_matter(tmp_path):
    text = "timestamp,price\n2015-10-25T00:00:00,1\n2015-10-25T02:00:00,2\n2015-10-25T02:00:00,3\n" \
           "2015-10-26T00:00:00,4\n"
    np.testing.assert_array_equal(load_csv(path=_write(tmp_path, text), hour=0), [1.0, 4.0])
    with pytest.raises(DataError, match=r"1 repeated timestamp\(s\) among the rows with end=2015-10-26, first "
                       r"2015-10-25 02:00:00 in data rows 2, 3"):
        load_csv(path=_write(tmp_path, text), end="2015-10-26")


def test_utc_offsets_are_read_as_the_wall_clock_written(tmp_path, caplog):
    path = _write(tmp_path, "timestamp,price\n2015-03-28T00:00:00+01:00,1\n2015-03-29T00:00:00+01:00,2\n"
                            "2015-03-30T00:00:00+02:00,3\n2015-03-30T01:00:00+02:00,9\n")
    with caplog.at_level(logging.INFO, logger="autoqml.data"):
        np.testing.assert_array_equal(load_csv(path=path, hour=0, start="2015-03-29"), [2.0, 3.0])
    assert "has UTC offsets; autoqml uses the wall-clock times as written" in caplog.text


def test_timestamps_that_do_not_parse_are_named_when_a_filter_needs_them(tmp_path):
    path = _write(tmp_path, "date,price\n2015-01-01,1\n01/02/2015,2\n")
    with pytest.raises(DataError, match=r"hour: hour=0 needs a timestamp column .*\(column 'date' has 1 value\(s\) "
                       r"that are not ISO times, first in data row 2: '01/02/2015'\)"):
        load_csv(path=path, hour=0)


def test_paths_that_are_not_files(tmp_path):
    with pytest.raises(DataError, match=r"data_path: .* is a directory; set data_path to a CSV file"):
        load_csv(path=tmp_path)
    with pytest.raises(DataError, match=r"data_path: 'a\\x00b\.csv' is not a usable file path"):
        load_csv(path="a\x00b.csv")
    with pytest.raises(DataError, match=r"no file \\qGAN\\data\\eon\.csv \(write the path with / separators"):
        load_csv(path="\\qGAN\\data\\eon.csv")


def _csv_entry(path: Path, **keys) -> dict:
    return {"kind": "csv", "data_path": str(path), "column": None, "hour": None, "start": None, "end": None,
            "samples": 20000, "discretization": "optimal", "url": None, **keys}


@pytest.mark.parametrize(("text", "what"), [("date,price\n2015-01-01,3\n", "only 1 value"),
                                            ("date,price\n2015-01-01,3\n2015-01-02,3.0\n", "2 values, all equal to 3")])
def test_a_single_or_constant_value_names_the_file(tmp_path, text, what):
    path = _write(tmp_path, text)
    with pytest.raises(DataError, match=rf"distributions\[0\]\.data_path: .*prices\.csv gives {what}; a distribution "
                       r"needs at least two distinct values: use a file with more rows"):
        check_distributions(distributions=[_csv_entry(path)], num_qubits=[3], seed=0)


def test_constant_after_a_filter_names_the_filter(tmp_path):
    path = _write(tmp_path, "timestamp,price\n2015-01-01T00:00,3\n2015-01-01T01:00,4\n2015-01-02T00:00,3\n")
    with pytest.raises(DataError, match=r"prices\.csv with hour=0 gives 2 values, all equal to 3; .*another column, "
                       r"hour or period"):
        training_values(distribution=_csv_entry(path, hour=0), seed=0)


def test_missing_file_with_url_says_the_workflow_downloads_it(tmp_path):
    entry = _csv_entry(tmp_path / "DE.csv", url="https://example.org/DE.csv")
    with pytest.raises(DataError, match=r"distributions\[0\]\.data_path: no file .*DE\.csv yet; the workflow "
                       r"downloads it from https://example\.org/DE\.csv before training; .*snakemake --cores 1"):
        check_distributions(distributions=[entry], num_qubits=[3], seed=0)


def test_discretization_errors_name_the_file_and_register(tmp_path):
    path = _write(tmp_path, "date,price\n" + DAYS)
    with pytest.raises(DataError, match=r"distributions\[0\]\.discretization: range \[100\.0, 200\.0\] leaves "
                       r"every bin without support.*\(num_qubits 2; data from .*prices\.csv\)"):
        check_distributions(distributions=[_csv_entry(path, discretization=[100, 200])], num_qubits=[2], seed=0)


def test_subset_and_large_batch_are_logged_not_refused(tmp_path, epex_h00, caplog):
    with caplog.at_level(logging.INFO, logger="autoqml.data"):
        check_distributions(distributions=[_csv_entry(epex_h00, samples=100)], num_qubits=[3], seed=0, batch_size=512)
    assert "using a seeded subset of 100 of its 365 values" in caplog.text
    assert "batch_size 512 is larger than its 100 values; real batches are drawn with replacement" in caplog.text
    values = training_values(distribution=_csv_entry(epex_h00, samples=100), seed=0)
    assert values.size == 100 and np.isin(values, load_csv(path=epex_h00)).all()


def test_rows_with_more_fields_than_the_header_are_refused_not_truncated(tmp_path):
    """pandas would read '25,02' as 25 (dropping the last field with only a warning)."""
    path = _write(tmp_path, "date,price\n2015-01-01,25,02\n2015-01-02,1,5\n")
    with pytest.raises(DataError, match=r"data_path: .*prices\.csv: data row 1 has 3 fields but the header 2 "
                       r"\('2015-01-01,25,02'\); quote values that contain commas"):
        load_csv(path=path)
