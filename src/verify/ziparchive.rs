//! Zip archive access for verification: lists entries as the central directory
//! stores them (raw names, duplicates kept) and streams each entry's content with
//! its declared uncompressed size enforced.
//!
//! The `zip` crate keys entries by decoded name, so it silently drops a second
//! entry with the same name and decodes names without the UTF-8 flag as CP437.
//! Go's `archive/zip` does neither. This module therefore reads the central
//! directory itself, as Go does, and uses the `zip` crate only to decompress,
//! after checking that both list the same entries in the same order.

use std::fs::File;
use std::io::{self, BufReader, Cursor, Read, Seek, SeekFrom};

const END_OF_DIRECTORY_SIGNATURE: u32 = 0x0605_4b50;
const ZIP64_LOCATOR_SIGNATURE: u32 = 0x0706_4b50;
const ZIP64_END_SIGNATURE: u32 = 0x0606_4b50;
const DIRECTORY_HEADER_SIGNATURE: u32 = 0x0201_4b50;
const END_OF_DIRECTORY_LEN: u64 = 22;
const ZIP64_LOCATOR_LEN: u64 = 20;
const ZIP64_END_LEN: u64 = 56;
const DIRECTORY_HEADER_LEN: usize = 46;
const MAX_COMMENT_LEN: u64 = 0xffff;

/// Compression methods Go's `archive/zip` reads by default.
const METHOD_STORE: u16 = 0;
const METHOD_DEFLATE: u16 = 8;

/// One central directory entry, as stored.
#[derive(Debug, Clone)]
pub(crate) struct RawEntry {
    pub name: Vec<u8>,
    pub flags: u16,
    pub method: u16,
    pub uncompressed_size: u64,
    /// Whether the entry has a WinZip AES extra field (0x9901), which the
    /// `zip` crate treats as encryption.
    pub aes_extra: bool,
}

impl RawEntry {
    /// Returns the entry name for messages, with invalid UTF-8 replaced.
    pub fn display_name(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }

    pub fn is_dir(&self) -> bool {
        self.name.last() == Some(&b'/')
    }
}

/// A failure to read the archive as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("reading zip file failed: {0}")]
    Io(#[from] io::Error),
    #[error("not a valid zip file: {0}")]
    Format(String),
}

/// A failure to read one entry's content.
#[derive(Debug, thiserror::Error)]
pub enum EntryReadError {
    #[error("uncompressed size is larger than declared size ({declared} bytes)")]
    LargerThanDeclared { declared: u64 },
    #[error("uncompressed size {actual} bytes is smaller than declared size ({declared} bytes)")]
    SmallerThanDeclared { actual: u64, declared: u64 },
    #[error("directory entry has content")]
    DirectoryWithContent,
    #[error("unsupported compression method {0} (only store and deflate are allowed)")]
    UnsupportedMethod(u16),
    #[error("encrypted entries are not allowed")]
    Encrypted,
    #[error("reading entry content failed: {0}")]
    Read(String),
}

/// Entries of up to this many uncompressed bytes are inflated by libdeflate
/// in one call. On golang.org/x/text's 30 MB of content, that took 25 ms
/// where streaming through zlib-rs took 40 ms. Larger entries are streamed,
/// so a check keeps at most this much content in memory per thread.
const WHOLE_ENTRY_MAX: u64 = 1 << 20;

/// An open zip file whose central directory has been read.
pub(crate) struct ZipReader {
    entries: Vec<RawEntry>,
    source: Source,
    bytes: Bytes,
    buffer: Vec<u8>,
    whole: Vec<u8>,
    inflater: Option<libdeflater::Decompressor>,
}

/// The file's bytes, mapped into memory: a module zip has thousands of
/// small entries, and reading them through the file took a seek and a read
/// system call each.
#[derive(Clone)]
enum Bytes {
    Mapped(std::sync::Arc<memmap2::Mmap>),
    Empty,
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(map) => map,
            Bytes::Empty => &[],
        }
    }
}

/// The bytes until the first entry is read, then the `zip` crate's archive.
enum Source {
    Bytes(Cursor<Bytes>),
    Archive(zip::ZipArchive<Cursor<Bytes>>),
    Failed(String),
}

impl ZipReader {
    /// Reads the central directory of `file`, whose length is `file_size`.
    /// No entry content is read until `read_entry`.
    pub fn open(file: File, file_size: u64) -> Result<Self, ArchiveError> {
        let bytes = if file_size == 0 {
            Bytes::Empty
        } else {
            // SAFETY: the file is a blob or a temporary file of the store,
            // which nothing truncates or rewrites while it is read. Blobs are
            // write-once, and a fill's temporary file belongs to that fill.
            let map = unsafe { memmap2::MmapOptions::new().len(file_size as usize).map(&file)? };
            Bytes::Mapped(std::sync::Arc::new(map))
        };
        let mut cursor = Cursor::new(bytes.clone());
        let entries = read_central_directory(&mut cursor, file_size)?;
        Ok(Self {
            entries,
            source: Source::Bytes(cursor),
            bytes,
            buffer: Vec::new(),
            whole: Vec::new(),
            inflater: None,
        })
    }

    pub fn entries(&self) -> &[RawEntry] {
        &self.entries
    }

    /// Returns a second reader of the same mapped bytes, so that another
    /// thread can read other entries at the same time.
    pub fn fork(&mut self) -> Result<ZipReader, EntryReadError> {
        let archive = self.archive()?.clone();
        Ok(ZipReader {
            entries: self.entries.clone(),
            source: Source::Archive(archive),
            bytes: self.bytes.clone(),
            buffer: Vec::new(),
            whole: Vec::new(),
            inflater: None,
        })
    }

    fn archive(&mut self) -> Result<&mut zip::ZipArchive<Cursor<Bytes>>, EntryReadError> {
        let source = std::mem::replace(&mut self.source, Source::Failed(String::new()));
        self.source = match source {
            Source::Bytes(bytes) => match zip::ZipArchive::new(bytes) {
                // NOTE: the zip crate keeps one entry per decoded name, so an archive
                // with two equal names (only directories can pass the name checks
                // that way) cannot be read and is rejected here although Go reads it.
                Ok(archive) if archive.len() == self.entries.len() => Source::Archive(archive),
                Ok(archive) => Source::Failed(format!(
                    "central directory has {} entries but only {} distinct names",
                    self.entries.len(),
                    archive.len()
                )),
                Err(err) => Source::Failed(err.to_string()),
            },
            other => other,
        };
        match &mut self.source {
            Source::Archive(archive) => Ok(archive),
            Source::Failed(message) => Err(EntryReadError::Read(message.clone())),
            Source::Bytes(_) => Err(EntryReadError::Read("zip file was not opened".to_string())),
        }
    }

    /// Streams the content of entry `index` into `sink` in chunks and returns the
    /// number of bytes read, which always equals the declared uncompressed size.
    /// Reading stops one byte past the declared size, so an entry that expands
    /// further (a zip bomb) fails after at most that many bytes.
    pub fn read_entry(&mut self, index: usize, sink: &mut dyn FnMut(&[u8])) -> Result<u64, EntryReadError> {
        let entry = &self.entries[index];
        if entry.is_dir() {
            // Like Go, allow compressed bytes (some writers deflate an empty
            // directory body) but no uncompressed content.
            if entry.uncompressed_size != 0 {
                return Err(EntryReadError::DirectoryWithContent);
            }
            return Ok(0);
        }
        if entry.flags & 0x1 != 0 {
            return Err(EntryReadError::Encrypted);
        }
        if entry.method != METHOD_STORE && entry.method != METHOD_DEFLATE {
            return Err(EntryReadError::UnsupportedMethod(entry.method));
        }
        let declared = entry.uncompressed_size;
        let expected_name = entry.name.clone();
        // The zip crate rejects an entry with an AES extra field, so such an
        // entry is always streamed through it and rejected at any size.
        if declared <= WHOLE_ENTRY_MAX && !entry.aes_extra {
            return self.copy_whole_entry(index, declared, &expected_name, sink);
        }

        let mut buffer = std::mem::take(&mut self.buffer);
        buffer.resize(64 * 1024, 0);
        let result = self.copy_entry(index, declared, &expected_name, &mut buffer, sink);
        self.buffer = buffer;
        result
    }

    /// Reads a small entry in one piece: its stored bytes, or their
    /// inflation into a buffer of the declared size. The checks match the
    /// streaming path: the declared size, then the CRC-32 of the content.
    /// Like Go, it reads compressed data that is declared to run past the end
    /// of the file only up to that end.
    fn copy_whole_entry(
        &mut self,
        index: usize,
        declared: u64,
        expected_name: &[u8],
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<u64, EntryReadError> {
        let method = self.entries[index].method;
        let (start, compressed, crc32) = {
            let raw = self
                .archive()?
                .by_index_raw(index)
                .map_err(|err| EntryReadError::Read(err.to_string()))?;
            let same_method = match raw.compression() {
                zip::CompressionMethod::Stored => method == METHOD_STORE,
                zip::CompressionMethod::Deflated => method == METHOD_DEFLATE,
                _ => false,
            };
            if raw.name_raw() != expected_name || raw.size() != declared || !same_method {
                return Err(EntryReadError::Read(
                    "zip library and central directory disagree about this entry".to_string(),
                ));
            }
            (raw.data_start(), raw.compressed_size(), raw.crc32())
        };
        let all = self.bytes.as_ref();
        let end = start.saturating_add(compressed).min(all.len() as u64);
        let data = &all[start.min(end) as usize..end as usize];

        let content: &[u8] = if method == METHOD_STORE {
            data
        } else {
            self.whole.resize(declared as usize, 0);
            let inflater = self.inflater.get_or_insert_with(libdeflater::Decompressor::new);
            match inflater.deflate_decompress(data, &mut self.whole) {
                Ok(length) => &self.whole[..length],
                Err(libdeflater::DecompressionError::InsufficientSpace) => {
                    return Err(EntryReadError::LargerThanDeclared { declared })
                }
                Err(libdeflater::DecompressionError::BadData) => {
                    return Err(EntryReadError::Read("invalid deflate data".to_string()))
                }
            }
        };
        let actual = content.len() as u64;
        if actual > declared {
            return Err(EntryReadError::LargerThanDeclared { declared });
        }
        if actual < declared {
            return Err(EntryReadError::SmallerThanDeclared { actual, declared });
        }
        if crc32fast::hash(content) != crc32 {
            return Err(EntryReadError::Read(
                "content does not match the CRC-32 in the central directory".to_string(),
            ));
        }
        sink(content);
        Ok(actual)
    }

    fn copy_entry(
        &mut self,
        index: usize,
        declared: u64,
        expected_name: &[u8],
        buffer: &mut [u8],
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<u64, EntryReadError> {
        let mut content = self
            .archive()?
            .by_index(index)
            .map_err(|err| EntryReadError::Read(err.to_string()))?;
        if content.name_raw() != expected_name || content.size() != declared {
            return Err(EntryReadError::Read(
                "zip library and central directory disagree about this entry".to_string(),
            ));
        }

        let mut total: u64 = 0;
        loop {
            let read = match content.read(buffer) {
                Ok(0) => break,
                Ok(read) => read,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(EntryReadError::Read(err.to_string())),
            };
            total += read as u64;
            if total > declared {
                return Err(EntryReadError::LargerThanDeclared { declared });
            }
            sink(&buffer[..read]);
        }
        if total < declared {
            return Err(EntryReadError::SmallerThanDeclared {
                actual: total,
                declared,
            });
        }
        Ok(total)
    }
}

/// The location of the central directory, from the end-of-directory records.
struct DirectoryEnd {
    /// Offset of the end-of-directory record (or of the zip64 one) in the file.
    end_offset: u64,
    records: u64,
    size: u64,
    zip64: bool,
}

fn read_central_directory<R: Read + Seek>(reader: &mut R, file_size: u64) -> Result<Vec<RawEntry>, ArchiveError> {
    let end = read_directory_end(reader, file_size)?;

    // Like Go's archive/zip, trust the end record's position over the stored
    // offset: the directory ends where the end record starts.
    let start = end
        .end_offset
        .checked_sub(end.size)
        .ok_or_else(|| format_error("central directory size exceeds its position"))?;

    reader.seek(SeekFrom::Start(start))?;
    let mut directory = BufReader::new(reader.take(end.end_offset - start));
    let mut entries = Vec::new();
    while let Some(entry) = read_directory_header(&mut directory)? {
        entries.push(entry);
    }

    let count_matches = if end.zip64 {
        entries.len() as u64 == end.records
    } else {
        // Go compares 16-bit counts, for writers that overflowed the field.
        entries.len() as u16 == end.records as u16
    };
    if !count_matches {
        return Err(format_error(&format!(
            "central directory lists {} entries but the end record declares {}",
            entries.len(),
            end.records
        )));
    }
    Ok(entries)
}

fn read_directory_end<R: Read + Seek>(reader: &mut R, file_size: u64) -> Result<DirectoryEnd, ArchiveError> {
    let tail_len = file_size.min(END_OF_DIRECTORY_LEN + MAX_COMMENT_LEN);
    if tail_len < END_OF_DIRECTORY_LEN {
        return Err(format_error("file is too short to be a zip file"));
    }
    let tail_start = file_size - tail_len;
    reader.seek(SeekFrom::Start(tail_start))?;
    let mut tail = vec![0u8; tail_len as usize];
    reader.read_exact(&mut tail)?;

    let position =
        find_end_signature(&tail).ok_or_else(|| format_error("end of central directory record not found"))?;
    let record = &tail[position..position + END_OF_DIRECTORY_LEN as usize];
    let mut end = DirectoryEnd {
        end_offset: tail_start + position as u64,
        records: u64::from(le_u16(record, 10)),
        size: u64::from(le_u32(record, 12)),
        zip64: false,
    };
    let offset = le_u32(record, 16);

    if end.records == 0xffff || end.size == 0xffff_ffff || offset == 0xffff_ffff {
        if let Some(zip64_offset) = find_zip64_end(reader, end.end_offset)? {
            read_zip64_end(reader, zip64_offset, &mut end)?;
        }
    }
    Ok(end)
}

/// Finds the last end-of-directory signature whose comment fits in the file.
fn find_end_signature(tail: &[u8]) -> Option<usize> {
    let last = tail.len() - END_OF_DIRECTORY_LEN as usize;
    for i in (0..=last).rev() {
        if le_u32(tail, i) == END_OF_DIRECTORY_SIGNATURE {
            let comment_len = usize::from(le_u16(tail, i + 20));
            if i + END_OF_DIRECTORY_LEN as usize + comment_len > tail.len() {
                return None;
            }
            return Some(i);
        }
    }
    None
}

fn find_zip64_end<R: Read + Seek>(reader: &mut R, end_offset: u64) -> Result<Option<u64>, ArchiveError> {
    let Some(locator_offset) = end_offset.checked_sub(ZIP64_LOCATOR_LEN) else {
        return Ok(None);
    };
    reader.seek(SeekFrom::Start(locator_offset))?;
    let mut locator = [0u8; ZIP64_LOCATOR_LEN as usize];
    reader.read_exact(&mut locator)?;
    if le_u32(&locator, 0) != ZIP64_LOCATOR_SIGNATURE {
        return Ok(None);
    }
    if le_u32(&locator, 16) != 1 {
        return Err(format_error("multi-disk zip files are not supported"));
    }
    Ok(Some(le_u64(&locator, 8)))
}

fn read_zip64_end<R: Read + Seek>(reader: &mut R, offset: u64, end: &mut DirectoryEnd) -> Result<(), ArchiveError> {
    let fits = matches!(offset.checked_add(ZIP64_END_LEN), Some(stop) if stop <= end.end_offset);
    if !fits {
        return Err(format_error("zip64 end record is outside the file"));
    }
    reader.seek(SeekFrom::Start(offset))?;
    let mut record = [0u8; ZIP64_END_LEN as usize];
    reader.read_exact(&mut record)?;
    if le_u32(&record, 0) != ZIP64_END_SIGNATURE {
        return Err(format_error("zip64 end record has a wrong signature"));
    }
    end.end_offset = offset;
    end.records = le_u64(&record, 32);
    end.size = le_u64(&record, 40);
    end.zip64 = true;
    Ok(())
}

/// Reads one central directory header, or returns `None` at the end of the
/// directory (where the next bytes are not a header signature).
fn read_directory_header<R: Read>(reader: &mut R) -> Result<Option<RawEntry>, ArchiveError> {
    let mut fixed = [0u8; DIRECTORY_HEADER_LEN];
    let mut filled = 0;
    while filled < fixed.len() {
        match reader.read(&mut fixed[filled..])? {
            0 => break,
            read => filled += read,
        }
    }
    if filled < 4 || le_u32(&fixed, 0) != DIRECTORY_HEADER_SIGNATURE {
        return Ok(None);
    }
    if filled < fixed.len() {
        return Err(format_error("truncated central directory header"));
    }

    let flags = le_u16(&fixed, 8);
    let method = le_u16(&fixed, 10);
    let mut uncompressed_size = u64::from(le_u32(&fixed, 24));
    let name_len = usize::from(le_u16(&fixed, 28));
    let extra_len = usize::from(le_u16(&fixed, 30));
    let comment_len = usize::from(le_u16(&fixed, 32));
    let header_offset = u64::from(le_u32(&fixed, 42));

    let mut variable = vec![0u8; name_len + extra_len + comment_len];
    reader
        .read_exact(&mut variable)
        .map_err(|_| format_error("truncated central directory header"))?;
    let name = variable[..name_len].to_vec();
    let extra = &variable[name_len..name_len + extra_len];

    let need_uncompressed = uncompressed_size == 0xffff_ffff;
    // The compressed size is not needed: the zip crate reads the entry data.
    let need_compressed = le_u32(&fixed, 20) == 0xffff_ffff;
    let need_offset = header_offset == 0xffff_ffff;
    let aes_extra = extra_fields(extra).any(|(id, _)| id == 0x9901);
    let mut found_zip64 = false;
    for (id, data) in extra_fields(extra) {
        if id != 0x0001 {
            continue;
        }
        found_zip64 = true;
        let mut values = data.chunks_exact(8).map(|chunk| le_u64(chunk, 0));
        let mut next = |needed: bool| -> Result<Option<u64>, ArchiveError> {
            if !needed {
                return Ok(None);
            }
            values
                .next()
                .map(Some)
                .ok_or_else(|| format_error("zip64 extra field is too short"))
        };
        if let Some(size) = next(need_uncompressed)? {
            uncompressed_size = size;
        }
        next(need_compressed)?;
        next(need_offset)?;
        break;
    }
    // An uncompressed size of exactly 2^32-1 without zip64 data is plausible
    // (Go accepts it too); a compressed size or offset of that value is not.
    if !found_zip64 && (need_compressed || need_offset) {
        return Err(format_error("entry needs zip64 sizes but has no zip64 extra field"));
    }

    Ok(Some(RawEntry {
        name,
        flags,
        method,
        uncompressed_size,
        aes_extra,
    }))
}

fn extra_fields(mut extra: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if extra.len() < 4 {
            return None;
        }
        let id = le_u16(extra, 0);
        let size = usize::from(le_u16(extra, 2));
        let data = extra.get(4..4 + size)?;
        extra = &extra[4 + size..];
        Some((id, data))
    })
}

fn format_error(message: &str) -> ArchiveError {
    ArchiveError::Format(message.to_string())
}

fn le_u16(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn le_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn le_u64(bytes: &[u8], at: usize) -> u64 {
    let mut value = [0u8; 8];
    value.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};
    use zip::write::SimpleFileOptions;

    fn build_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, content) in entries {
            writer.start_file(*name, SimpleFileOptions::default()).unwrap();
            writer.write_all(content).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    #[test]
    fn central_directory_keeps_duplicate_names() {
        // The zip crate's writer refuses duplicates, so patch a second name in place.
        let mut bytes = build_zip(&[("a.go", b"one"), ("b.go", b"two")]);
        let first = bytes.windows(4).rposition(|w| w == b"b.go").unwrap();
        bytes[first] = b'a';
        let local = bytes.windows(4).position(|w| w == b"b.go").unwrap();
        bytes[local] = b'a';

        let size = bytes.len() as u64;
        let entries = read_central_directory(&mut Cursor::new(bytes), size).unwrap();
        let names: Vec<_> = entries.iter().map(RawEntry::display_name).collect();
        assert_eq!(names, ["a.go", "a.go"]);
    }

    #[test]
    fn central_directory_reads_sizes_and_methods() {
        let bytes = build_zip(&[("dir/", b""), ("x.txt", b"hello")]);
        let size = bytes.len() as u64;
        let entries = read_central_directory(&mut Cursor::new(bytes), size).unwrap();
        assert_eq!(entries.len(), 2);
        assert!(entries[0].is_dir());
        assert_eq!(entries[1].uncompressed_size, 5);
        assert_eq!(entries[1].method, METHOD_DEFLATE);
    }

    #[test]
    fn garbage_is_not_a_zip() {
        let bytes = b"this is not a zip file at all, just text".to_vec();
        let size = bytes.len() as u64;
        let err = read_central_directory(&mut Cursor::new(bytes), size).unwrap_err();
        assert!(
            err.to_string().contains("end of central directory record not found"),
            "{err}"
        );
    }

    fn build_zip_with(method: zip::CompressionMethod, content: &[u8]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default().compression_method(method);
        writer.start_file("x.txt", options).unwrap();
        writer.write_all(content).unwrap();
        writer.finish().unwrap().into_inner()
    }

    fn read_only_entry(bytes: Vec<u8>) -> Result<(u64, Vec<u8>), EntryReadError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.zip");
        std::fs::write(&path, &bytes).unwrap();
        let mut reader = ZipReader::open(File::open(&path).unwrap(), bytes.len() as u64).unwrap();
        let mut content = Vec::new();
        let size = reader.read_entry(0, &mut |chunk| content.extend_from_slice(chunk))?;
        Ok((size, content))
    }

    /// Text that compresses, of `len` bytes.
    fn text(len: usize) -> Vec<u8> {
        (0..len).map(|i| b"package main // modvault\n"[i % 25]).collect()
    }

    #[test]
    fn entries_read_back_unchanged() {
        // Below and above WHOLE_ENTRY_MAX: inflated in one call, and streamed.
        for len in [0, 1, 100_000, (WHOLE_ENTRY_MAX + 1) as usize] {
            for method in [zip::CompressionMethod::Stored, zip::CompressionMethod::Deflated] {
                let content = text(len);
                let (size, read) = read_only_entry(build_zip_with(method, &content)).unwrap();
                assert_eq!(size, len as u64, "{method:?}");
                assert!(read == content, "{method:?}, {len} bytes");
            }
        }
    }

    #[test]
    fn changed_content_fails_crc_check() {
        for len in [1000, (WHOLE_ENTRY_MAX + 1) as usize] {
            let mut bytes = build_zip_with(zip::CompressionMethod::Stored, &text(len));
            // The local header is 30 bytes plus the 5-byte name; flip a byte of the content.
            bytes[30 + 5 + 10] ^= 0x20;
            let err = read_only_entry(bytes).unwrap_err();
            assert!(matches!(err, EntryReadError::Read(_)), "{len} bytes: {err}");
        }
    }

    #[test]
    fn corrupt_deflate_stream_is_rejected() {
        for len in [1000, (WHOLE_ENTRY_MAX + 1) as usize] {
            let mut bytes = build_zip_with(zip::CompressionMethod::Deflated, &text(len));
            // A block type of 3 is reserved: the stream cannot be decoded.
            bytes[30 + 5] |= 0b110;
            let err = read_only_entry(bytes).unwrap_err();
            assert!(matches!(err, EntryReadError::Read(_)), "{len} bytes: {err}");
        }
    }

    #[test]
    fn compressed_size_past_end_is_read_to_end() {
        let content = text(1000);
        let mut bytes = build_zip_with(zip::CompressionMethod::Deflated, &content);
        // The compressed size sits 20 bytes into the central directory header.
        let central = bytes.windows(4).rposition(|w| w == [0x50, 0x4b, 0x01, 0x02]).unwrap();
        bytes[central + 20..central + 24].copy_from_slice(&0x00ff_ffffu32.to_le_bytes());

        let (size, read) = read_only_entry(bytes).unwrap();

        assert_eq!(size, 1000);
        assert!(read == content);
    }

    #[test]
    fn aes_extra_field_is_rejected_at_any_size() {
        for len in [1000, (WHOLE_ENTRY_MAX + 1) as usize] {
            let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
            let mut options = zip::write::FullFileOptions::default();
            options
                .add_extra_data(0x9901, vec![2, 0, b'A', b'E', 3, 8, 0].into_boxed_slice(), true)
                .unwrap();
            writer.start_file("x.txt", options).unwrap();
            writer.write_all(&text(len)).unwrap();
            let bytes = writer.finish().unwrap().into_inner();

            let err = read_only_entry(bytes).unwrap_err();

            assert!(matches!(err, EntryReadError::Read(_)), "{len} bytes: {err}");
        }
    }

    #[test]
    fn truncated_zip_is_rejected() {
        let bytes = build_zip(&[("x.txt", b"hello")]);
        let cut = bytes[..bytes.len() - 5].to_vec();
        let size = cut.len() as u64;
        assert!(read_central_directory(&mut Cursor::new(cut), size).is_err());
    }
}
