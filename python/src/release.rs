//! A release as Python sees it: Arrow through the PyCapsule stream
//! interface (`__arrow_c_stream__`), so `pyarrow.table(r)`,
//! `polars.from_arrow(r)` and DuckDB read it without a copy through Python,
//! plus `to_arrow()`, `to_pandas()` and the release metadata.

use std::ffi::CString;

use arrow::ffi_stream::FFI_ArrowArrayStream;
use arrow::record_batch::RecordBatchIterator;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use crate::errors::PrivaggError;

/// The noisy rows of one query and what they cost: Arrow data (with
/// `<col>_ci_low`/`<col>_ci_high` interval columns) and `metadata`.
#[pyclass(module = "privagg._privagg", frozen)]
pub struct Release {
    batches: Vec<RecordBatch>,
    schema: SchemaRef,
    metadata: String,
}

impl Release {
    /// A release from the engine's.
    pub(crate) fn new(release: privagg_sql::Release) -> PyResult<Self> {
        let schema = release
            .batches
            .first()
            .map(RecordBatch::schema)
            .ok_or_else(|| PrivaggError::new_err("a release without a schema"))?;
        let metadata = serde_json::to_string(&release.metadata)
            .map_err(|e| PrivaggError::new_err(format!("encoding the metadata: {e}")))?;
        Ok(Self {
            batches: release.batches,
            schema,
            metadata,
        })
    }
}

#[pymethods]
impl Release {
    /// The Arrow C stream of the release (PyCapsule "arrow_array_stream").
    /// `requested_schema` is accepted and ignored: the release's own schema
    /// is sent.
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        let reader = RecordBatchIterator::new(
            self.batches.clone().into_iter().map(Ok),
            self.schema.clone(),
        );
        let stream = FFI_ArrowArrayStream::new(Box::new(reader));
        let name =
            CString::new("arrow_array_stream").map_err(|e| PrivaggError::new_err(e.to_string()))?;
        PyCapsule::new(py, stream, Some(name))
    }

    /// The release as a `pyarrow.Table` (needs pyarrow).
    fn to_arrow<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let pyarrow = slf.py().import("pyarrow")?;
        pyarrow.call_method1("table", (slf,))
    }

    /// The release as a `pandas.DataFrame` (needs pyarrow and pandas).
    fn to_pandas<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        Self::to_arrow(slf)?.call_method0("to_pandas")
    }

    /// What was charged and how accurate the values are: ε, δ, the request
    /// id, the mechanism, the ε split, bounds, each cell's interval and
    /// too-noisy flag (a dict, as `privagg query --format json` writes it).
    #[getter]
    fn metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.import("json")?.call_method1("loads", (&self.metadata,))
    }

    /// The column names.
    #[getter]
    fn columns(&self) -> Vec<String> {
        self.schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    /// Rows released.
    fn __len__(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    fn __repr__(&self) -> String {
        format!(
            "<privagg.Release: {} row(s), columns {:?}>",
            self.__len__(),
            self.columns()
        )
    }
}
