//! Spilling the fused operator's buckets to disk when the memory pool is
//! full, and reading one bucket back at a time (the radix partitioning of
//! the first phase is what makes this cheap: the second phase never needs
//! more than one bucket of an input partition in memory — the Grace hash
//! join's idea).

use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::sync::Arc;

use datafusion::common::{Result, exec_datafusion_err, resources_datafusion_err};
use datafusion::execution::disk_manager::DiskManager;
use datafusion::execution::spill_file::SpillFile;

use super::state::Bucket;

/// Where one bucket's rows of one spill are in the spill's file.
#[derive(Clone, Copy, Debug, Default)]
struct Segment {
    /// Byte offset of the rows (`i64`s), followed by the wide values.
    offset: u64,
    /// `i64`s of the rows.
    values: usize,
    /// Wide values (`i128`s).
    wide: usize,
}

/// One spill: every bucket of an input partition at the time, in one file.
pub(super) struct Spill {
    file: Arc<dyn SpillFile>,
    segments: Vec<Segment>,
}

/// One bucket's rows in one spill.
pub(super) struct Spilled {
    file: Arc<dyn SpillFile>,
    segment: Segment,
}

impl Spill {
    /// Writes every bucket's rows to a new temporary file of `disk` and
    /// empties the buckets.
    ///
    /// # Errors
    /// When the disk manager is disabled or full, or on I/O errors.
    pub(super) fn write(buckets: &mut [Bucket], disk: &Arc<DiskManager>) -> Result<Self> {
        let file = disk.create_tmp_file("BoundByUnitExec spilling buckets")?;
        let mut out = BufWriter::with_capacity(1 << 20, file.open_writer()?);
        let mut segments = Vec::with_capacity(buckets.len());
        let mut offset = 0u64;
        for bucket in buckets.iter_mut() {
            let bucket = std::mem::take(bucket);
            let mut segment = Segment {
                offset,
                ..Segment::default()
            };
            for chunk in &bucket.chunks {
                for v in chunk {
                    out.write_all(&v.to_le_bytes())?;
                }
                segment.values += chunk.len();
            }
            for v in &bucket.wide {
                out.write_all(&v.to_le_bytes())?;
            }
            segment.wide = bucket.wide.len();
            offset += (8 * segment.values + 16 * segment.wide) as u64;
            segments.push(segment);
        }
        let mut writer = out
            .into_inner()
            .map_err(|e| exec_datafusion_err!("BoundByUnitExec: spilling: {}", e.error()))?;
        writer.flush()?;
        writer.finish()?;
        Ok(Self { file, segments })
    }

    /// Bucket `index`'s part of the spill, `None` when it is empty.
    pub(super) fn bucket(&self, index: usize) -> Option<Spilled> {
        let segment = *self.segments.get(index)?;
        (segment.values > 0).then(|| Spilled {
            file: Arc::clone(&self.file),
            segment,
        })
    }
}

impl Spilled {
    /// Bytes the bucket takes in memory once read back.
    pub(super) fn bytes(&self) -> usize {
        8 * self.segment.values + 16 * self.segment.wide
    }

    /// Reads the bucket back.
    ///
    /// # Errors
    /// I/O errors, or a spill file that is not on a local disk.
    pub(super) fn read(&self) -> Result<Bucket> {
        let path = self.file.path().ok_or_else(|| {
            resources_datafusion_err!("BoundByUnitExec: spilling needs a local temporary directory")
        })?;
        let mut file = std::fs::File::open(path)?;
        file.seek(SeekFrom::Start(self.segment.offset))?;
        let mut bytes = vec![0u8; self.bytes()];
        file.read_exact(&mut bytes)?;
        let (rows, wide) = bytes.split_at(8 * self.segment.values);
        let word = |b: &[u8]| {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            i64::from_le_bytes(a)
        };
        let wide_word = |b: &[u8]| {
            let mut a = [0u8; 16];
            a.copy_from_slice(b);
            i128::from_le_bytes(a)
        };
        Ok(Bucket {
            chunks: vec![rows.chunks_exact(8).map(word).collect()],
            wide: wide.chunks_exact(16).map(wide_word).collect(),
        })
    }
}

impl Bucket {
    /// Appends `other`'s rows after this bucket's (wide values in the same
    /// order as the rows that refer to them).
    pub(super) fn append(&mut self, other: Bucket) {
        self.chunks.extend(other.chunks);
        self.wide.extend(other.wide);
    }

    /// Whether the bucket holds no rows.
    pub(super) fn is_empty(&self) -> bool {
        self.chunks.iter().all(Vec::is_empty)
    }
}

/// One input partition's part of a bucket: the rows still in memory and
/// those spilled.
#[derive(Default)]
pub(super) struct Piece {
    /// The rows in memory.
    pub memory: Bucket,
    /// The rows in each spill, in the order they were spilled.
    pub spilled: Vec<Spilled>,
}

impl Piece {
    /// Bytes reading the spilled rows back takes.
    pub(super) fn spilled_bytes(&self) -> usize {
        self.spilled.iter().map(Spilled::bytes).sum()
    }

    /// All the rows in memory.
    ///
    /// # Errors
    /// I/O errors reading the spills.
    pub(super) fn load(self) -> Result<Bucket> {
        let mut bucket = Bucket::default();
        for s in &self.spilled {
            bucket.append(s.read()?);
        }
        bucket.append(self.memory);
        Ok(bucket)
    }
}
