//! Opening a source file: plain, `.gz` (or gzip by magic bytes) or a member of a `.zip`;
//! hashing its bytes as they are read; refusing files whose content is not what the pipeline
//! says (an XLSX saved as `.csv` is a classic).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use crate::sink::ExtractError;

/// Counts and hashes the raw bytes of the file as they are read (and adds them to a shared
/// counter, for progress).
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
    progress: Option<Arc<AtomicU64>>,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
            progress: None,
        }
    }

    /// Reads what is left (so the hash covers the whole file) and returns (sha256, bytes).
    pub fn finish(mut self) -> io::Result<(String, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((hex::encode(self.hasher.finalize()), self.bytes))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        if let Some(p) = &self.progress {
            p.fetch_add(n as u64, Ordering::Relaxed);
        }
        Ok(n)
    }
}

/// sha256 and size of a whole file.
pub fn hash_file(path: &Path) -> io::Result<(String, u64)> {
    HashingReader::new(File::open(path)?).finish()
}

/// A file's identity, size and modification time, taken before a source is read and again
/// after: a file written over while it was read gives rows of the old bytes and a hash of the
/// new ones, and the next run, seeing the new file's size and time recorded, would never read
/// it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// Device and inode: a file moved into place under the same name is another file.
    id: (u64, u64),
    pub bytes: u64,
    /// Nanoseconds since the epoch, as text (what `_ops.runs` records).
    pub mtime: Option<String>,
}

impl Stamp {
    /// None when `path` is not a readable file (a database URL, say): nothing to compare.
    pub fn of(path: &Path) -> Option<Stamp> {
        let meta = std::fs::metadata(path).ok()?;
        if !meta.is_file() {
            return None;
        }
        #[cfg(unix)]
        let id = {
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino())
        };
        #[cfg(not(unix))]
        let id = (0, 0);
        Some(Stamp {
            id,
            bytes: meta.len(),
            mtime: mtime_text(&meta),
        })
    }

    /// After a read that began with `self`: the modification time to record, or the error of
    /// a file changed in place during the read. A file replaced as a whole (moved into place)
    /// was read whole, old or new: its modification time is left out, so that the next run
    /// compares the hashes.
    pub fn after_read(&self, path: &Path, display: &str) -> Result<Option<String>, ExtractError> {
        let Some(now) = Stamp::of(path) else {
            return Ok(None);
        };
        if now == *self {
            return Ok(self.mtime.clone());
        }
        if now.id != self.id {
            return Ok(None);
        }
        Err(ExtractError::new(
            display,
            None,
            format!(
                "the file changed while it was read ({} bytes when it was opened, {} now): \
                 its rows would mix the old and the new content, so none is written",
                self.bytes, now.bytes
            ),
        )
        .with_hint(
            "refresh again once the file is complete; to replace a source while refreshes \
             may run, write the new file beside it and move it into place (mv), which a \
             refresh never sees half-written",
        ))
    }
}

/// Modification time as text (nanoseconds since the epoch), if known.
pub fn mtime_text(meta: &std::fs::Metadata) -> Option<String> {
    let m = meta.modified().ok()?;
    Some(
        m.duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_nanos()
            .to_string(),
    )
}

const BUF: usize = 1 << 20;

/// What the first bytes of a stream say it is, when that is not text.
pub fn sniff_binary(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"PK\x03\x04") {
        Some("a ZIP archive (an .xlsx, .ods or .zip file)")
    } else if head.starts_with(b"\xD0\xCF\x11\xE0") {
        Some("a legacy Excel (.xls) workbook")
    } else if head.starts_with(b"%PDF") {
        Some("a PDF document")
    } else if head.starts_with(b"\x1F\x8B") {
        Some("gzip-compressed")
    } else if head.starts_with(b"PAR1") {
        Some("a Parquet file")
    } else if head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF") {
        Some("UTF-16 text (Excel's \"Unicode text\"); convert it to UTF-8")
    } else {
        None
    }
}

/// Opens `path` (decompressing as needed) and runs `f` on a buffered reader of its text bytes.
/// Returns `f`'s result and the (sha256, size) of the file on disk. The bytes read from disk
/// are added to `progress` as they are read (a zip member's only once it is read whole).
pub fn with_reader<T>(
    path: &Path,
    display: &str,
    member: Option<&str>,
    progress: Option<Arc<AtomicU64>>,
    f: impl FnOnce(&mut dyn BufRead) -> Result<T, ExtractError>,
) -> Result<(T, String, u64), ExtractError> {
    let io_err = |e: io::Error| {
        ExtractError::new(display, None, format!("cannot read: {e}")).with_hint(
            if e.kind() == io::ErrorKind::NotFound {
                "check source.path (relative to the project folder) and source.vars"
            } else {
                "check the file's permissions"
            },
        )
    };
    let lower = display.to_ascii_lowercase();
    if lower.ends_with(".zip") {
        let out = read_zip_member(path, display, member, f)?;
        let (sha, bytes) = hash_file(path).map_err(io_err)?;
        if let Some(p) = progress {
            p.fetch_add(bytes, Ordering::Relaxed);
        }
        return Ok((out, sha, bytes));
    }
    let file = File::open(path).map_err(io_err)?;
    let mut hashing = HashingReader::new(file);
    hashing.progress = progress;
    let out = {
        let mut raw = BufReader::with_capacity(BUF, &mut hashing);
        let head = raw.fill_buf().map_err(io_err)?.to_vec();
        if head.starts_with(b"\x1F\x8B") {
            let gz = flate2::bufread::MultiGzDecoder::new(raw);
            let mut text = BufReader::with_capacity(BUF, gz);
            let head = text
                .fill_buf()
                .map_err(|e| ExtractError::new(display, None, format!("corrupt gzip data: {e}")))?;
            refuse_binary(display, head)?;
            f(&mut text)?
        } else {
            if lower.ends_with(".gz") && !head.is_empty() {
                return Err(ExtractError::new(
                    display,
                    None,
                    "the file name ends in .gz but it is not gzip data",
                )
                .with_hint("rename the file or fix the download"));
            }
            refuse_binary(display, &head)?;
            f(&mut raw)?
        }
    };
    let (sha, bytes) = hashing.finish().map_err(io_err)?;
    Ok((out, sha, bytes))
}

fn refuse_binary(display: &str, head: &[u8]) -> Result<(), ExtractError> {
    match sniff_binary(head) {
        Some(kind) => {
            Err(
                ExtractError::new(display, None, format!("this file is {kind}, not text"))
                    .with_hint("set source.format to the real format, or fix the file"),
            )
        }
        None => Ok(()),
    }
}

fn read_zip_member<T>(
    path: &Path,
    display: &str,
    member: Option<&str>,
    f: impl FnOnce(&mut dyn BufRead) -> Result<T, ExtractError>,
) -> Result<T, ExtractError> {
    let file = File::open(path)
        .map_err(|e| ExtractError::new(display, None, format!("cannot read: {e}")))?;
    let mut archive = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| {
        ExtractError::new(display, None, format!("not a readable zip archive: {e}"))
    })?;
    let names: Vec<String> = archive
        .file_names()
        .filter(|n| !n.ends_with('/'))
        .map(str::to_string)
        .collect();
    let chosen = match member {
        Some(m) => match oc_spec::syntax::regex_of(m) {
            Some(re) => {
                let re = regex::Regex::new(re).map_err(|e| {
                    ExtractError::new(display, None, format!("bad member regex: {e}"))
                })?;
                let hits: Vec<&String> = names.iter().filter(|n| re.is_match(n)).collect();
                match hits.as_slice() {
                    [one] => (*one).clone(),
                    [] => {
                        return Err(ExtractError::new(
                            display,
                            None,
                            format!("no member matches {m}"),
                        )
                        .with_hint(format!("members: {}", names.join(", "))));
                    }
                    many => {
                        return Err(ExtractError::new(
                            display,
                            None,
                            format!("{} members match {m}", many.len()),
                        )
                        .with_hint("make the regex match one member"));
                    }
                }
            }
            None => m.to_string(),
        },
        None if names.len() == 1 => names[0].clone(),
        None => {
            return Err(ExtractError::new(
                display,
                None,
                format!("the archive has {} members", names.len()),
            )
            .with_hint(format!(
                "choose one with source.member; members: {}",
                names.join(", ")
            )));
        }
    };
    let zf = archive.by_name(&chosen).map_err(|e| {
        ExtractError::new(display, None, format!("member `{chosen}`: {e}"))
            .with_hint(format!("members: {}", names.join(", ")))
    })?;
    let label = format!("{display}!{chosen}");
    let mut text = BufReader::with_capacity(BUF, zf);
    let head = text
        .fill_buf()
        .map_err(|e| ExtractError::new(&label, None, format!("corrupt zip member: {e}")))?;
    refuse_binary(&label, head)?;
    f(&mut text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A sink that does `act` at the first batch: someone at work on the file being read.
    struct Meddler<F: FnMut()> {
        act: Option<F>,
        rows: usize,
    }

    impl<F: FnMut()> crate::sink::Sink for Meddler<F> {
        fn batch(&mut self, b: arrow::array::RecordBatch) -> Result<(), ExtractError> {
            if let Some(mut act) = self.act.take() {
                act();
            }
            self.rows += b.num_rows();
            Ok(())
        }
        fn reject(&mut self, _: crate::sink::Reject) -> Result<(), ExtractError> {
            Ok(())
        }
    }

    /// Reads `path` as a two-column CSV source, doing `act` to it during the read.
    fn read_meddled(
        path: &Path,
        act: impl FnMut(),
    ) -> (usize, Result<crate::sink::FileStats, ExtractError>) {
        let spec = crate::testutil::spec(
            "name: d.t\nsource: { path: t.csv, csv: { delimiter: \";\" } }\n\
             columns:\n  code: { from: code, type: code }\n  n: { from: n, type: int64 }\n",
        );
        let file = crate::spec::SourceFile {
            bytes_read: None,
            path: path.to_path_buf(),
            display: "t.csv".into(),
            vars: Default::default(),
            content_type: None,
        };
        let mut sink = Meddler {
            act: Some(act),
            rows: 0,
        };
        let r = crate::read_file(&spec, &file, &mut sink);
        (sink.rows, r)
    }

    fn rows(n: usize) -> String {
        let mut s = String::from("code;n\n");
        for i in 0..n {
            s.push_str(&format!("{i:05};{i}\n"));
        }
        s
    }

    #[test]
    fn a_source_written_over_during_its_read_is_an_error_a_file_moved_into_place_is_not() {
        // untouched: the time it had when it was opened is recorded
        let (_d, p) = tmp("t.csv", rows(5000).as_bytes());
        let opened = mtime_text(&std::fs::metadata(&p).unwrap());
        let (n, r) = read_meddled(&p, || {});
        assert_eq!((n, r.unwrap().mtime), (5000, opened));

        // rows appended while the reader is at work (an export still being written)
        let (_d, p) = tmp("t.csv", rows(5000).as_bytes());
        let (_, r) = read_meddled(&p, || {
            let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
            f.write_all(b"99999;1\n").unwrap();
        });
        let e = r.unwrap_err();
        assert!(
            e.message.contains("the file changed while it was read"),
            "{e}"
        );
        assert!(
            e.message
                .contains("53897 bytes when it was opened, 53905 now"),
            "{e}"
        );
        assert!(e.hint.unwrap().contains("move it into place (mv)"));

        // copied over in place (`cp new.csv t.csv`: truncated, then written again)
        let (d, p) = tmp("t.csv", rows(5000).as_bytes());
        let (_, r) = read_meddled(&p, || std::fs::write(&p, rows(10)).unwrap());
        assert!(r.unwrap_err().message.contains("changed while it was read"));

        // a new file moved into place: the one opened is read whole, and no time is kept,
        // so that the next run compares hashes and reads the new one
        std::fs::write(&p, rows(20)).unwrap();
        let next = d.path().join("next.csv");
        std::fs::write(&next, rows(10)).unwrap();
        let (n, r) = read_meddled(&p, || std::fs::rename(&next, &p).unwrap());
        let stats = r.unwrap();
        assert_eq!((n, stats.mtime), (20, None));
        let (_, r) = read_meddled(&p, || {});
        assert!(r.unwrap().mtime.is_some());
    }

    /// The file `name` holding `bytes`, in a folder removed when the first value is dropped.
    fn tmp(name: &str, bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        (dir, p)
    }

    fn read_all(path: &Path, member: Option<&str>) -> Result<String, ExtractError> {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        with_reader(path, &name, member, None, |r| {
            let mut s = String::new();
            r.read_to_string(&mut s)
                .map_err(|e| ExtractError::new("x", None, e.to_string()))?;
            Ok(s)
        })
        .map(|(s, _, _)| s)
    }

    #[test]
    fn gzip_and_zip_members() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"a;b\n1;2\n").unwrap();
        let (_dir, p) = tmp("t.csv.gz", &gz.finish().unwrap());
        assert_eq!(read_all(&p, None).unwrap(), "a;b\n1;2\n");

        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let mut z = zip::ZipWriter::new(&mut buf);
            let o = zip::write::SimpleFileOptions::default();
            z.start_file("readme.txt", o).unwrap();
            z.write_all(b"hello").unwrap();
            z.start_file("data_2024.csv", o).unwrap();
            z.write_all(b"x\n1\n").unwrap();
            z.finish().unwrap();
        }
        let (_dir, p) = tmp("t.zip", buf.get_ref());
        assert_eq!(read_all(&p, Some("data_2024.csv")).unwrap(), "x\n1\n");
        assert_eq!(read_all(&p, Some("/^data_\\d+\\.csv$/")).unwrap(), "x\n1\n");
        let e = read_all(&p, None).unwrap_err().to_string();
        assert!(
            e.contains("2 members") && e.contains("data_2024.csv"),
            "{e}"
        );
    }

    #[test]
    fn truncated_gzip_is_an_error() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&b"a;b\n1;2\n".repeat(1000)).unwrap();
        let bytes = gz.finish().unwrap();
        let (_dir, p) = tmp("trunc.csv.gz", &bytes[..bytes.len() / 2]);
        assert!(read_all(&p, None).is_err());
    }

    #[test]
    fn xlsx_named_csv_is_refused() {
        let (_dir, p) = tmp("fake.csv", b"PK\x03\x04rest-of-an-xlsx");
        let e = read_all(&p, None).unwrap_err().to_string();
        assert!(e.contains("fake.csv") && e.contains("ZIP archive"), "{e}");
    }

    #[test]
    fn hashes_the_file_bytes() {
        let (_dir, p) = tmp("h.csv", b"abc");
        let name = "h.csv";
        let (_, sha, n) = with_reader(&p, name, None, None, |_| Ok(())).unwrap();
        assert_eq!(n, 3);
        assert_eq!(
            sha,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
