"""Tabular data from Python as Arrow IPC bytes, for Session.register_table:
pyarrow Tables and RecordBatches, pandas and polars DataFrames, and anything
with the Arrow PyCapsule stream interface (__arrow_c_stream__)."""


def to_ipc(data) -> bytes:
    try:
        import pyarrow as pa
    except ImportError as e:  # pragma: no cover - pyarrow is the way data comes in
        raise TypeError("register_table needs pyarrow: pip install pyarrow") from e
    if isinstance(data, pa.RecordBatch):
        table = pa.Table.from_batches([data])
    elif isinstance(data, pa.Table):
        table = data
    elif type(data).__module__.startswith("pandas"):
        table = pa.Table.from_pandas(data, preserve_index=False)
    elif type(data).__module__.startswith("polars"):
        table = data.to_arrow()
    elif hasattr(data, "__arrow_c_stream__"):
        table = pa.table(data)
    else:
        raise TypeError(
            f"register_table takes a pyarrow Table, a pandas or polars DataFrame, "
            f"or an Arrow stream; got {type(data).__name__}"
        )
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()
