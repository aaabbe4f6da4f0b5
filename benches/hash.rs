//! Go's `h1:` hash of a 20 MiB module zip against plain SHA-256 of the same
//! bytes: the price of checking a fill, beyond the SHA-256 that every blob
//! gets while it streams to disk.
//!
//! The `h1:` hash here is a local helper over `zip` and `sha2` that follows
//! Go's `dirhash.Hash1`: SHA-256 of every file, one `<hex>  <name>\n` line per
//! file in name order, SHA-256 of those lines, base64. It is not modvault's
//! own verifier.
// NOTE: modvault's verifier API (src/verify/) is being replaced. Once it has
// a stable function that hashes a zip, measure that function here instead of
// this helper.

use std::io::{Cursor, Read, Write};

use base64::Engine;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
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
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let deflated =
        SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let stored = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);

    writer
        .start_file(format!("{MODULE_PREFIX}go.mod"), deflated)
        .expect("zip entry starts");
    writer
        .write_all(b"module github.com/bench-org/bigmodule\n\ngo 1.22\n")
        .expect("zip entry writes");
    let mut index = 0;
    while writer.get_ref().get_ref().len() < TARGET_ZIP_BYTES {
        let len = 8 * 1024 + (random.next() % (56 * 1024)) as usize;
        if index % 10 == 9 {
            let bytes: Vec<u8> = (0..len).map(|_| random.next() as u8).collect();
            let name = format!(
                "{MODULE_PREFIX}internal/pkg{}/testdata/blob{index}.bin",
                index % 40
            );
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
    writer.finish().expect("zip finishes").into_inner()
}

/// Computes Go's `h1:` hash of the files in a module zip.
fn hash1_of_zip(bytes: &[u8]) -> String {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).expect("the zip is readable");
    let mut lines = Vec::with_capacity(archive.len());
    let mut buffer = vec![0u8; 64 * 1024];
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).expect("the zip entry is readable");
        let mut hasher = Sha256::new();
        loop {
            let read = entry.read(&mut buffer).expect("the zip entry inflates");
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
        }
        lines.push((entry.name().to_string(), hasher.finalize()));
    }
    lines.sort_by(|a, b| a.0.cmp(&b.0));

    let mut summary = Sha256::new();
    for (name, digest) in &lines {
        summary.update(format!("{}  {name}\n", hex::encode(digest)).as_bytes());
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(summary.finalize());
    format!("h1:{encoded}")
}

fn zip_hashing(c: &mut Criterion) {
    let zip = module_zip();
    eprintln!("module zip: {} bytes, {}", zip.len(), hash1_of_zip(&zip));

    let mut group = c.benchmark_group("hash a 20 MiB module zip");
    group.throughput(Throughput::Bytes(zip.len() as u64));
    group.sample_size(10);
    group.bench_function("h1 (inflate and hash every file)", |b| {
        b.iter(|| hash1_of_zip(black_box(&zip)))
    });
    group.bench_function("sha256 of the zip bytes", |b| {
        b.iter(|| Sha256::digest(black_box(&zip)))
    });
    group.finish();
}

criterion_group!(benches, zip_hashing);
criterion_main!(benches);
