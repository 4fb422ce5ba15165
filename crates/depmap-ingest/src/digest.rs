//! Content digests of capture files: a cheap fingerprint (size, first and
//! last 64 KiB) and the XXH3-128 of the whole content, taken in the same
//! pass that parses the file.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use depmap_capture::FileReader;
use twox_hash::XxHash3_128;

use crate::IngestError;

/// How much of each end of a file goes into its fingerprint.
const FINGERPRINT_EDGE: u64 = 64 << 10;

pub(crate) fn hex128(v: u128) -> String {
    format!("xxh3-128:{v:032x}")
}

fn open(path: &Path) -> Result<File, IngestError> {
    File::open(path).map_err(|source| IngestError::Open {
        path: path.to_path_buf(),
        source,
    })
}

fn read_err(path: &Path) -> impl FnOnce(std::io::Error) -> IngestError {
    let path: PathBuf = path.to_path_buf();
    move |source| IngestError::Read { path, source }
}

/// A cheap digest of a file: its size and its first and last 64 KiB.
/// Equal content always gives an equal fingerprint, so a file whose
/// fingerprint is new cannot be a repeat and is read only once.
pub(crate) fn fingerprint(path: &Path) -> Result<(String, u64), IngestError> {
    let mut file = open(path)?;
    let size = file.metadata().map_err(read_err(path))?.len();
    let mut h = XxHash3_128::new();
    h.write(&size.to_le_bytes());
    let mut buf = vec![0u8; FINGERPRINT_EDGE as usize];
    let n = read_full(&mut file, &mut buf).map_err(read_err(path))?;
    h.write(&buf[..n]);
    if size > FINGERPRINT_EDGE {
        file.seek(SeekFrom::Start(
            size.saturating_sub(FINGERPRINT_EDGE).max(FINGERPRINT_EDGE),
        ))
        .map_err(read_err(path))?;
        let n = read_full(&mut file, &mut buf).map_err(read_err(path))?;
        h.write(&buf[..n]);
    }
    Ok((hex128(h.finish_128()), size))
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

/// The digest of a whole file, read separately (only to confirm a repeat or
/// after a read error stopped the single pass early).
pub(crate) fn content_hash(path: &Path) -> Result<String, IngestError> {
    let mut file = open(path)?;
    let mut h = XxHash3_128::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(read_err(path))?;
        if n == 0 {
            break;
        }
        h.write(&buf[..n]);
    }
    Ok(hex128(h.finish_128()))
}

/// Hashes everything read through it, so the file is hashed in the same
/// pass that parses it. xxh3-128 rather than a cryptographic hash: the
/// digest tells accidental repeats apart, and at tens of GB/s it costs
/// little next to reading the file. twox-hash picks AVX2 at run time where
/// the CPU has it (xxhash-rust, used before, only SSE2 unless built for a
/// newer CPU): a tenth of the ingest benchmark's instructions.
pub struct HashingReader {
    inner: File,
    hasher: Arc<Mutex<XxHash3_128>>,
}

impl Read for HashingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Ok(mut h) = self.hasher.lock() {
            h.write(&buf[..n]);
        }
        Ok(n)
    }
}

/// The content hash of a file being read through [`open_hashed`].
pub struct Hashed(Arc<Mutex<XxHash3_128>>);

impl Hashed {
    /// The file's digest once the read is over. A complete read passed
    /// every byte through the hasher; a read that stopped early did not,
    /// so then the whole file is hashed again.
    pub fn digest(&self, complete: bool, path: &Path) -> Result<String, IngestError> {
        match (complete, self.0.lock()) {
            (true, Ok(h)) => Ok(hex128(h.finish_128())),
            _ => content_hash(path),
        }
    }
}

/// Opens a capture whose bytes are hashed as they are read, so the file is
/// read once for its frames and its content hash.
pub fn open_hashed(path: &Path) -> Result<(FileReader<HashingReader>, Hashed), IngestError> {
    let hasher = Arc::new(Mutex::new(XxHash3_128::new()));
    let file = open(path)?;
    let reader = FileReader::new(
        HashingReader {
            inner: file,
            hasher: Arc::clone(&hasher),
        },
        path.display().to_string(),
    )?;
    Ok((reader, Hashed(hasher)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stored content hashes and fingerprints are compared with new ones,
    /// so the digest must stay XXH3-128 whatever crate computes it. The
    /// expected values are from the reference implementation (Python's
    /// xxhash 3.x, `xxh3_128_hexdigest`).
    #[test]
    fn digests_are_xxh3_128_streamed_in_any_chunks() {
        let data: Vec<u8> = (0..40).flat_map(|_| 0..=255u8).collect();
        for chunk in [1, 7, 64, 1000, data.len()] {
            let mut h = XxHash3_128::new();
            for part in data.chunks(chunk) {
                h.write(part);
            }
            assert_eq!(
                hex128(h.finish_128()),
                "xxh3-128:1cb22534d0d96975c03d2231ab9348f3",
                "chunks of {chunk}"
            );
        }
        assert_eq!(
            hex128(XxHash3_128::new().finish_128()),
            "xxh3-128:99aa06d3014798d86001c324468d497f"
        );
        assert_eq!(
            hex128(XxHash3_128::oneshot(b"depmap")),
            "xxh3-128:63fe09b85bdf481303d3f5b54a52bb2f"
        );
    }
}
