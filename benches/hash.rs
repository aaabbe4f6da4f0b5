//! Go's `h1:` hash of a 20 MiB module zip against plain SHA-256 of the same
//! bytes: the price of checking a fill, beyond the SHA-256 that every blob
//! gets while it streams to disk.
//!
//! Both read the zip from a temporary file, which stays in the page cache,
//! so the numbers are CPU cost: inflating and hashing every entry for `h1:`
//! against one pass of SHA-256.

use std::cell::Cell;
use std::io::{Cursor, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use modvault::verify::dirhash::hash_zip;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;

const MODULE_PREFIX: &str = "github.com/bench-org/bigmodule@v1.4.2/";
const TARGET_ZIP_BYTES: usize = 20 * 1024 * 1024;

/// A xorshift generator, so that the zip is the same on every run.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// An in-memory zip file whose current length stays readable while a
/// `ZipWriter` owns it.
struct TrackedBuffer {
    bytes: Cursor<Vec<u8>>,
    len: Rc<Cell<usize>>,
}

impl Write for TrackedBuffer {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let written = self.bytes.write(data)?;
        self.len.set(self.bytes.get_ref().len());
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Seek for TrackedBuffer {
    fn seek(&mut self, position: SeekFrom) -> std::io::Result<u64> {
        self.bytes.seek(position)
    }
}

/// Writes Go-like source text of about `len` bytes, which deflate shrinks
/// about as much as real source.
fn source_text(random: &mut Xorshift, len: usize) -> Vec<u8> {
    const WORDS: [&str; 24] = [
        "func",
        "return",
        "err",
        "if",
        "nil",
        "{",
        "}",
        "ctx",
        "context.Context",
        "string",
        "int64",
        ":=",
        "for",
        "range",
        "\n\t",
        "\n\t\t",
        "fmt.Errorf(\"%w\", err)",
        "struct",
        "type",
        "package",
        "// ",
        "map[string]any",
        "len(items)",
        "client",
    ];
    let mut text = Vec::with_capacity(len + 32);
    while text.len() < len {
        let word = WORDS[(random.next() % WORDS.len() as u64) as usize];
        text.extend_from_slice(word.as_bytes());
        if random.next() % 3 == 0 {
            text.extend_from_slice(format!("Name{}", random.next() % 500).as_bytes());
        }
        text.push(b' ');
    }
    text
}

/// Builds a module zip of at least 20 MiB: deflated source files, plus one
/// stored binary test file in ten, as in real modules with testdata.
fn module_zip() -> Vec<u8> {
    let mut random = Xorshift(0x9e37_79b9_7f4a_7c15);
    let len = Rc::new(Cell::new(0));
    let mut writer = zip::ZipWriter::new(TrackedBuffer {
        bytes: Cursor::new(Vec::new()),
        len: len.clone(),
    });
    let deflated = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let stored = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);

    writer
        .start_file(format!("{MODULE_PREFIX}go.mod"), deflated)
        .expect("zip entry starts");
    writer
        .write_all(b"module github.com/bench-org/bigmodule\n\ngo 1.22\n")
        .expect("zip entry writes");
    let mut index = 0;
    while len.get() < TARGET_ZIP_BYTES {
        let len = 8 * 1024 + (random.next() % (56 * 1024)) as usize;
        if index % 10 == 9 {
            let bytes: Vec<u8> = (0..len).map(|_| random.next() as u8).collect();
            let name = format!("{MODULE_PREFIX}internal/pkg{}/testdata/blob{index}.bin", index % 40);
            writer.start_file(name, stored).expect("zip entry starts");
            writer.write_all(&bytes).expect("zip entry writes");
        } else {
            let name = format!("{MODULE_PREFIX}internal/pkg{}/file{index}.go", index % 40);
            writer.start_file(name, deflated).expect("zip entry starts");
            writer
                .write_all(&source_text(&mut random, len))
                .expect("zip entry writes");
        }
        index += 1;
    }
    writer.finish().expect("zip finishes").bytes.into_inner()
}

/// Returns the SHA-256 of a file, read in 64 KiB chunks as a blob is.
fn sha256_of_file(path: &Path) -> [u8; 32] {
    let mut file = std::fs::File::open(path).expect("the zip file opens");
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = file.read(&mut buffer).expect("the zip file reads");
        if read == 0 {
            return hasher.finalize().into();
        }
        hasher.update(&buffer[..read]);
    }
}

fn zip_hashing(c: &mut Criterion) {
    let zip = module_zip();
    let mut file = tempfile::NamedTempFile::new().expect("a temporary file opens");
    file.write_all(&zip).expect("the zip writes");
    let path = file.path().to_path_buf();
    let h1 = hash_zip(&path).expect("the benchmark zip hashes");
    eprintln!("module zip: {} bytes, {h1}", zip.len());

    let mut group = c.benchmark_group("hash a 20 MiB module zip");
    group.throughput(Throughput::Bytes(zip.len() as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("dirhash::hash_zip (h1)", |b| {
        b.iter(|| hash_zip(black_box(&path)).expect("the zip hashes"))
    });
    group.bench_function("sha256 of the zip file", |b| {
        b.iter(|| sha256_of_file(black_box(&path)))
    });
    group.finish();
}

criterion_group!(benches, zip_hashing);
criterion_main!(benches);
