//! Go's transparency log (golang.org/x/mod/sumdb/tlog): RFC 6962 hashes, stored
//! hash indexes, tiles, tree and record encodings, proofs over tiles, and an
//! in-memory log that produces tiles for tests.
//!
//! Leaf hash: `sha256(0x00 ‖ record)`; node hash: `sha256(0x01 ‖ left ‖ right)`;
//! the root of n leaves splits at the largest power of two below n. A tile of
//! height H at level L, number N, width W contains W consecutive hashes of tree
//! level H·L starting at N·2^H. Level -1 (`data`) contains the records instead.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use sha2::{Digest, Sha256};

pub const HASH_SIZE: usize = 32;
/// The tile height the Go checksum database serves.
pub const TILE_HEIGHT: u32 = 8;
/// The level of data tiles, written `data` in tile paths.
pub const DATA_LEVEL: i32 = -1;
/// Tile numbers are written in groups of three digits.
const PATH_BASE: u64 = 1000;
/// Go rejects tree notes longer than this.
const MAX_TREE_TEXT: usize = 1_000_000;

/// A tree or record hash.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash(pub [u8; HASH_SIZE]);

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&BASE64.encode(self.0))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

impl Hash {
    /// Parses the standard base64 form of a hash.
    pub fn parse(text: &str) -> Result<Self, TlogError> {
        let bytes = BASE64.decode(text).map_err(|_| TlogError::MalformedHash)?;
        let bytes: [u8; HASH_SIZE] = bytes.try_into().map_err(|_| TlogError::MalformedHash)?;
        Ok(Self(bytes))
    }
}

/// Errors from parsing log structures and from checking tiles and proofs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlogError {
    #[error("malformed hash")]
    MalformedHash,
    #[error("malformed tree note")]
    MalformedTree,
    #[error("malformed record data")]
    MalformedRecord,
    #[error("malformed tile path {path:?}")]
    InvalidTilePath { path: String },
    #[error("invalid tile {path}")]
    InvalidTile { path: String },
    #[error("tile {path} has {got} bytes, want {want}")]
    TileDataLength { path: String, got: usize, want: usize },
    #[error("downloaded inconsistent tile")]
    InconsistentTile,
    #[error("hash index {index} is not in the tree of size {size}")]
    IndexNotInTree { index: u64, size: u64 },
    #[error("tlog internal error: {0}")]
    Internal(String),
}

/// Returns the leaf hash of a record.
pub fn record_hash(data: &[u8]) -> Hash {
    Hash(Sha256::new().chain_update([0x00]).chain_update(data).finalize().into())
}

/// Returns the hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Hash(
        Sha256::new()
            .chain_update([0x01])
            .chain_update(left.0)
            .chain_update(right.0)
            .finalize()
            .into(),
    )
}

/// Returns (k, log2 k) for the largest power of two k smaller than n (n ≥ 2),
/// or (1, 0) for n ≤ 2.
fn max_pow2(n: u64) -> (u64, u32) {
    let mut level = 0;
    while level < 63 && (1u64 << (level + 1)) < n {
        level += 1;
    }
    (1 << level, level)
}

/// Maps the tree coordinates (level, n) to the position of that hash in the
/// dense storage order, where level L's n'th hash follows level L+1's ... as in
/// Crosby and Wallach's tamper-evident logging paper (section 3.3).
pub fn stored_hash_index(level: u32, n: u64) -> u64 {
    let mut n = n;
    for _ in 0..level {
        n = 2 * n + 1;
    }
    let mut index = 0;
    while n > 0 {
        index += n;
        n >>= 1;
    }
    index + u64::from(level)
}

/// Splits a stored hash index into (level, n), the inverse of `stored_hash_index`.
pub fn split_stored_hash_index(index: u64) -> (u32, u64) {
    let mut n = index / 2;
    let mut index_n = stored_hash_index(0, n);
    loop {
        // Each record n adds 1 + trailing_zeros(n+1) hashes.
        let next = index_n + 1 + u64::from((n + 1).trailing_zeros());
        if next > index {
            break;
        }
        n += 1;
        index_n = next;
    }
    let level = (index - index_n) as u32;
    (level, n >> level)
}

/// Returns the number of stored hashes for a tree of `n` records.
pub fn stored_hash_count(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let mut count = stored_hash_index(0, n - 1) + 1;
    let mut i = n - 1;
    while i & 1 != 0 {
        count += 1;
        i >>= 1;
    }
    count
}

/// Reads stored hashes by stored hash index.
pub trait HashReader {
    /// Returns one hash per index, in order.
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TlogError>;
}

impl HashReader for [Hash] {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TlogError> {
        indexes
            .iter()
            .map(|&index| {
                usize::try_from(index)
                    .ok()
                    .and_then(|i| self.get(i).copied())
                    .ok_or(TlogError::IndexNotInTree {
                        index,
                        size: self.len() as u64,
                    })
            })
            .collect()
    }
}

/// Returns the hashes to store after record `n` with leaf hash `leaf`: the leaf
/// and the roots of the subtrees it completes, reading earlier hashes from
/// `reader`.
pub fn stored_hashes_for_record_hash(
    n: u64,
    leaf: Hash,
    reader: &(impl HashReader + ?Sized),
) -> Result<Vec<Hash>, TlogError> {
    let completed = (n + 1).trailing_zeros();
    let indexes: Vec<u64> = (0..completed)
        .rev()
        .map(|level| stored_hash_index(level, (n >> level) - 1))
        .collect();
    let old = reader.read_hashes(&indexes)?;
    if old.len() != indexes.len() {
        return Err(TlogError::Internal("hash reader returned the wrong count".to_string()));
    }
    let mut hashes = vec![leaf];
    let mut hash = leaf;
    for level in 0..completed as usize {
        hash = node_hash(&old[completed as usize - 1 - level], &hash);
        hashes.push(hash);
    }
    Ok(hashes)
}

/// Returns the stored hash indexes whose hashes give the root of records
/// `[lo, hi)`, appended to `need`.
fn subtree_index(mut lo: u64, hi: u64, need: &mut Vec<u64>) {
    while lo < hi {
        let (k, level) = max_pow2(hi - lo + 1);
        need.push(stored_hash_index(level, lo >> level));
        lo += k;
    }
}

/// Computes the root of records `[lo, hi)` from hashes in `subtree_index`
/// order and returns the unused rest.
fn subtree_hash(mut lo: u64, hi: u64, hashes: &[Hash]) -> Result<(Hash, &[Hash]), TlogError> {
    let mut count = 0;
    while lo < hi {
        let (k, _) = max_pow2(hi - lo + 1);
        count += 1;
        lo += k;
    }
    if count == 0 || hashes.len() < count {
        return Err(TlogError::Internal("too few hashes for a subtree".to_string()));
    }
    let mut hash = hashes[count - 1];
    for i in (0..count - 1).rev() {
        hash = node_hash(&hashes[i], &hash);
    }
    Ok((hash, &hashes[count..]))
}

/// Returns the stored hash indexes needed to compute the root of a tree of
/// `size` records (at most 1 + log2 size of them).
pub fn tree_hash_indexes(size: u64) -> Vec<u64> {
    let mut need = Vec::new();
    subtree_index(0, size, &mut need);
    need
}

/// Computes the root of a tree of `size` records from the hashes at
/// `tree_hash_indexes(size)`. The empty tree's root is all zeros.
pub fn tree_hash_from_hashes(size: u64, hashes: &[Hash]) -> Result<Hash, TlogError> {
    if size == 0 {
        return Ok(Hash::default());
    }
    let (hash, rest) = subtree_hash(0, size, hashes)?;
    if !rest.is_empty() {
        return Err(TlogError::Internal("too many hashes for a tree".to_string()));
    }
    Ok(hash)
}

/// Computes the root of a tree of `size` records from stored hashes.
pub fn tree_hash(size: u64, reader: &(impl HashReader + ?Sized)) -> Result<Hash, TlogError> {
    let hashes = reader.read_hashes(&tree_hash_indexes(size))?;
    tree_hash_from_hashes(size, &hashes)
}

/// A signed tree head: the number of records and the root hash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tree {
    pub size: u64,
    pub hash: Hash,
}

const TREE_PREFIX: &str = "go.sum database tree\n";

/// Returns the tree note text: `go.sum database tree\n<size>\n<base64 hash>\n`.
pub fn format_tree(tree: &Tree) -> String {
    format!("{TREE_PREFIX}{}\n{}\n", tree.size, tree.hash)
}

/// Parses tree note text; lines after the third are ignored, as in Go.
pub fn parse_tree(text: &str) -> Result<Tree, TlogError> {
    if !text.starts_with(TREE_PREFIX) || text.matches('\n').count() < 3 || text.len() > MAX_TREE_TEXT {
        return Err(TlogError::MalformedTree);
    }
    let mut lines = text.splitn(4, '\n').skip(1);
    let size_text = lines.next().unwrap_or("");
    let size: u64 = size_text.parse().map_err(|_| TlogError::MalformedTree)?;
    if size_text != size.to_string() || size > i64::MAX as u64 {
        return Err(TlogError::MalformedTree);
    }
    let hash = Hash::parse(lines.next().unwrap_or("")).map_err(|_| TlogError::MalformedTree)?;
    Ok(Tree { size, hash })
}

/// Reports whether record text is valid: UTF-8 without control characters
/// other than newline, ending in a newline, with no blank line.
fn is_valid_record_text(text: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(text) else {
        return false;
    };
    text.ends_with('\n') && !text.contains("\n\n") && !text.chars().any(|c| (c as u32) < 0x20 && c != '\n')
}

/// Formats a record for a lookup response: its id, its text, a blank line.
pub fn format_record(id: u64, text: &[u8]) -> Result<Vec<u8>, TlogError> {
    if !is_valid_record_text(text) {
        return Err(TlogError::MalformedRecord);
    }
    let mut msg = format!("{id}\n").into_bytes();
    msg.extend_from_slice(text);
    msg.push(b'\n');
    Ok(msg)
}

/// Parses the record at the start of a lookup response and returns its id,
/// its text (ending in a newline) and the rest (the signed tree note).
pub fn parse_record(msg: &[u8]) -> Result<(u64, &[u8], &[u8]), TlogError> {
    let newline = msg.iter().position(|&b| b == b'\n').ok_or(TlogError::MalformedRecord)?;
    let id_text = std::str::from_utf8(&msg[..newline]).map_err(|_| TlogError::MalformedRecord)?;
    let id: i64 = id_text.parse().map_err(|_| TlogError::MalformedRecord)?;
    let id = u64::try_from(id).map_err(|_| TlogError::MalformedRecord)?;
    let rest = &msg[newline + 1..];
    let blank = rest
        .windows(2)
        .position(|pair| pair == b"\n\n")
        .ok_or(TlogError::MalformedRecord)?;
    let (text, rest) = (&rest[..blank + 1], &rest[blank + 2..]);
    if !is_valid_record_text(text) {
        return Err(TlogError::MalformedRecord);
    }
    Ok((id, text, rest))
}

/// A tile: `width` hashes (or records, at `DATA_LEVEL`) at tree level
/// `height * level`, starting at `n * 2^height`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tile {
    pub height: u32,
    pub level: i32,
    pub n: u64,
    pub width: u32,
}

impl Tile {
    /// Returns the smallest tile of `height` that contains the stored hash `index`.
    pub fn for_index(height: u32, index: u64) -> Tile {
        tile_for_index(height, index).0
    }

    pub fn is_full(&self) -> bool {
        self.width == 1 << self.height
    }

    /// Returns the full-width tile at the same coordinates.
    pub fn full(&self) -> Tile {
        Tile {
            width: 1 << self.height,
            ..*self
        }
    }

    /// Returns the tile path, such as `tile/8/0/x001/x234/067.p/5`.
    pub fn path(&self) -> String {
        let mut n = self.n;
        let mut number = format!("{:03}", n % PATH_BASE);
        while n >= PATH_BASE {
            n /= PATH_BASE;
            number = format!("x{:03}/{number}", n % PATH_BASE);
        }
        let level = if self.level == DATA_LEVEL {
            "data".to_string()
        } else {
            self.level.to_string()
        };
        let partial = if self.is_full() {
            String::new()
        } else {
            format!(".p/{}", self.width)
        };
        format!("tile/{}/{level}/{number}{partial}", self.height)
    }

    /// Parses a tile path; only the exact form that `path` produces is accepted.
    pub fn parse(path: &str) -> Result<Tile, TlogError> {
        let invalid = || TlogError::InvalidTilePath { path: path.to_string() };
        let mut fields: Vec<&str> = path.split('/').collect();
        if fields.len() < 4 || fields[0] != "tile" {
            return Err(invalid());
        }
        let height: u32 = fields[1].parse().map_err(|_| invalid())?;
        if !(1..=30).contains(&height) {
            return Err(invalid());
        }
        let level: i32 = match fields[2] {
            "data" => DATA_LEVEL,
            text => text
                .parse()
                .ok()
                .filter(|level| (0..64).contains(level))
                .ok_or_else(invalid)?,
        };

        let mut width = 1u32 << height;
        let last_number = fields.len() - 2;
        if let Some(stripped) = fields[last_number].strip_suffix(".p") {
            let partial: u32 = fields[fields.len() - 1].parse().map_err(|_| invalid())?;
            if partial == 0 || partial >= width {
                return Err(invalid());
            }
            width = partial;
            fields[last_number] = stripped;
            fields.pop();
        }

        let mut n: u64 = 0;
        for group in &fields[3..] {
            let digits: u64 = group.trim_start_matches('x').parse().map_err(|_| invalid())?;
            if digits >= PATH_BASE {
                return Err(invalid());
            }
            n = n
                .checked_mul(PATH_BASE)
                .and_then(|n| n.checked_add(digits))
                .ok_or_else(invalid)?;
        }
        let tile = Tile {
            height,
            level,
            n,
            width,
        };
        if tile.path() != path {
            return Err(invalid());
        }
        Ok(tile)
    }
}

/// Returns the tile holding stored hash `index` and the byte range in its data
/// whose tile hash is that stored hash.
fn tile_for_index(height: u32, index: u64) -> (Tile, usize, usize) {
    let (level, n) = split_stored_hash_index(index);
    let tile_level = level / height;
    let level_in_tile = level - tile_level * height;
    let tile_n = (n << level_in_tile) >> height;
    let n_in_tile = n - ((tile_n << height) >> level_in_tile);
    let tile = Tile {
        height,
        level: tile_level as i32,
        n: tile_n,
        width: ((n_in_tile + 1) << level_in_tile) as u32,
    };
    let start = (n_in_tile << level_in_tile) as usize * HASH_SIZE;
    let end = ((n_in_tile + 1) << level_in_tile) as usize * HASH_SIZE;
    (tile, start, end)
}

/// Returns the stored hash `index` from the data of `tile`, which must be the
/// tile `Tile::for_index` names or a wider one at the same coordinates.
pub fn hash_from_tile(tile: &Tile, data: &[u8], index: u64) -> Result<Hash, TlogError> {
    let path = tile.path();
    if !(1..=30).contains(&tile.height)
        || !(0..64).contains(&tile.level)
        || tile.width == 0
        || tile.width > 1 << tile.height
    {
        return Err(TlogError::InvalidTile { path });
    }
    let want = tile.width as usize * HASH_SIZE;
    if data.len() < want {
        return Err(TlogError::TileDataLength {
            path,
            got: data.len(),
            want,
        });
    }
    let (needed, start, end) = tile_for_index(tile.height, index);
    if tile.level != needed.level || tile.n != needed.n || tile.width < needed.width {
        return Err(TlogError::Internal(format!(
            "index {index} is in {} not {path}",
            needed.path()
        )));
    }
    Ok(tile_hash(&data[start..end]))
}

/// Computes the subtree hash of the 2^k hashes in `data`.
fn tile_hash(data: &[u8]) -> Hash {
    if data.len() <= HASH_SIZE {
        let mut hash = Hash::default();
        hash.0[..data.len()].copy_from_slice(data);
        return hash;
    }
    let half = data.len() / 2;
    node_hash(&tile_hash(&data[..half]), &tile_hash(&data[half..]))
}

/// Returns the tiles of `height` to publish when the tree grows from
/// `old_size` to `new_size` records.
pub fn new_tiles(height: u32, old_size: u64, new_size: u64) -> Vec<Tile> {
    let mut tiles = Vec::new();
    let mut level = 0u32;
    while height * level < 64 && new_size >> (height * level) > 0 {
        let old_n = old_size >> (height * level);
        let new_n = new_size >> (height * level);
        for n in (old_n >> height)..(new_n >> height) {
            tiles.push(Tile {
                height,
                level: level as i32,
                n,
                width: 1 << height,
            });
        }
        let n = new_n >> height;
        let max_width = (new_n - (n << height)) as u32;
        let min_width = if old_n > n << height {
            (old_n - (n << height)) as u32
        } else {
            1
        };
        for width in min_width..=max_width {
            tiles.push(Tile {
                height,
                level: level as i32,
                n,
                width,
            });
        }
        level += 1;
    }
    tiles
}

/// Returns tile data (the tile's hashes, concatenated) from stored hashes.
pub fn read_tile_data(tile: &Tile, reader: &(impl HashReader + ?Sized)) -> Result<Vec<u8>, TlogError> {
    if tile.level < 0 {
        return Err(TlogError::InvalidTile { path: tile.path() });
    }
    let start = tile.n << tile.height;
    let level = tile.height * tile.level as u32;
    let indexes: Vec<u64> = (0..u64::from(tile.width))
        .map(|i| stored_hash_index(level, start + i))
        .collect();
    let hashes = reader.read_hashes(&indexes)?;
    Ok(hashes.iter().flat_map(|hash| hash.0).collect())
}

/// Returns the `k`th tile parent of `tile` in the tiles of a tree of `size`
/// records, cut to the width that exists, or `None` when there is none.
fn tile_parent(tile: Tile, k: u32, size: u64) -> Option<Tile> {
    let level = tile.level + k as i32;
    let shift = u64::from(k * tile.height);
    let n = if shift >= 64 { 0 } else { tile.n >> shift };
    let mut parent = Tile {
        height: tile.height,
        level,
        n,
        width: 1 << tile.height,
    };
    let level_shift = u64::from(level as u32 * tile.height);
    let max = if level_shift >= 64 { 0 } else { size >> level_shift };
    let start = parent.n << parent.height;
    if start + u64::from(parent.width) >= max {
        if start >= max {
            return None;
        }
        parent.width = (max - start) as u32;
    }
    Some(parent)
}

/// The tiles needed to read stored hashes of a tree and prove them against its
/// root hash. Fetch `tiles()` (from any source) and pass their data, in that
/// order, to `verify`. This follows Go's `TileHashReader`: the tiles that give
/// the root are checked against the root hash, and every other tile against
/// its parent tile.
#[derive(Debug, Clone)]
pub struct TileHashPlan {
    tree: Tree,
    tiles: Vec<Tile>,
    root_indexes: Vec<u64>,
    root_tiles: Vec<usize>,
    indexes: Vec<u64>,
    index_tiles: Vec<usize>,
}

/// Plans the tiles of `height` that prove the stored hashes at `indexes`
/// against `tree`.
pub fn plan_tile_hashes(tree: Tree, height: u32, indexes: &[u64]) -> Result<TileHashPlan, TlogError> {
    let mut plan = TileHashPlan {
        tree,
        tiles: Vec::new(),
        root_indexes: tree_hash_indexes(tree.size),
        root_tiles: Vec::new(),
        indexes: indexes.to_vec(),
        index_tiles: Vec::new(),
    };
    let find = |tiles: &[Tile], tile: &Tile| tiles.iter().position(|other| other == tile);

    for &index in &plan.root_indexes {
        let tile = tile_parent(Tile::for_index(height, index), 0, tree.size)
            .ok_or_else(|| TlogError::Internal("root hash tile is outside the tree".to_string()))?;
        let position = find(&plan.tiles, &tile).unwrap_or_else(|| {
            plan.tiles.push(tile);
            plan.tiles.len() - 1
        });
        plan.root_tiles.push(position);
    }

    let end = stored_hash_index(0, tree.size);
    for &index in indexes {
        if index >= end {
            return Err(TlogError::IndexNotInTree { index, size: tree.size });
        }
        let tile = Tile::for_index(height, index);
        // Walk up until a tile already planned: it is authenticated.
        let mut k = 0;
        let found = loop {
            if k > 64 {
                return Err(TlogError::Internal(format!("no planned parent for index {index}")));
            }
            if let Some(parent) = tile_parent(tile, k, tree.size) {
                if let Some(position) = find(&plan.tiles, &parent) {
                    break position;
                }
            }
            k += 1;
        };
        if k == 0 {
            plan.index_tiles.push(found);
            continue;
        }
        // Walk back down, adding children after their parents.
        for level in (0..k).rev() {
            let child = tile_parent(tile, level, tree.size)
                .filter(Tile::is_full)
                .ok_or_else(|| TlogError::Internal(format!("tile below a parent is not full for index {index}")))?;
            plan.tiles.push(child);
        }
        plan.index_tiles.push(plan.tiles.len() - 1);
    }
    Ok(plan)
}

impl TileHashPlan {
    /// Returns the tiles to fetch, in the order `verify` expects their data.
    pub fn tiles(&self) -> &[Tile] {
        &self.tiles
    }

    /// Checks the tile data against the tree and returns the requested hashes.
    pub fn verify(&self, data: &[Vec<u8>]) -> Result<Vec<Hash>, TlogError> {
        if data.len() != self.tiles.len() {
            return Err(TlogError::Internal(
                "tile data count does not match the plan".to_string(),
            ));
        }
        for (tile, bytes) in self.tiles.iter().zip(data) {
            let want = tile.width as usize * HASH_SIZE;
            if bytes.len() != want {
                return Err(TlogError::TileDataLength {
                    path: tile.path(),
                    got: bytes.len(),
                    want,
                });
            }
        }
        if self.tree.size == 0 {
            return Ok(Vec::new());
        }

        // The tiles that give the root hash come first; check them together.
        let root_hash = |i: usize| {
            let position = self.root_tiles[i];
            hash_from_tile(&self.tiles[position], &data[position], self.root_indexes[i])
        };
        let last = self.root_indexes.len() - 1;
        let mut root = root_hash(last)?;
        for i in (0..last).rev() {
            root = node_hash(&root_hash(i)?, &root);
        }
        if root != self.tree.hash {
            return Err(TlogError::InconsistentTile);
        }

        // Every later tile is full and is checked against its parent.
        let first_child = self.root_tiles.iter().max().map_or(0, |&max| max + 1);
        for i in first_child..self.tiles.len() {
            let tile = self.tiles[i];
            let parent = tile_parent(tile, 1, self.tree.size)
                .ok_or_else(|| TlogError::Internal(format!("lost parent of {}", tile.path())))?;
            let position = self.tiles[..i]
                .iter()
                .position(|other| *other == parent)
                .ok_or_else(|| TlogError::Internal(format!("lost parent of {}", tile.path())))?;
            let level = parent.level as u32 * parent.height;
            let expected = hash_from_tile(&parent, &data[position], stored_hash_index(level, tile.n))?;
            if expected != tile_hash(&data[i]) {
                return Err(TlogError::InconsistentTile);
            }
        }

        self.indexes
            .iter()
            .zip(&self.index_tiles)
            .map(|(&index, &position)| hash_from_tile(&self.tiles[position], &data[position], index))
            .collect()
    }
}

/// An append-only log in memory that serves hash and data tiles, for test
/// checksum databases.
#[derive(Debug, Clone, Default)]
pub struct MemoryLog {
    records: Vec<Vec<u8>>,
    hashes: Vec<Hash>,
}

impl MemoryLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a record (valid record text) and returns its id.
    pub fn append(&mut self, text: &[u8]) -> Result<u64, TlogError> {
        if !is_valid_record_text(text) {
            return Err(TlogError::MalformedRecord);
        }
        let id = self.records.len() as u64;
        let new = stored_hashes_for_record_hash(id, record_hash(text), self.hashes.as_slice())?;
        self.hashes.extend(new);
        self.records.push(text.to_vec());
        Ok(id)
    }

    pub fn len(&self) -> u64 {
        self.records.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn record(&self, id: u64) -> Option<&[u8]> {
        self.records.get(usize::try_from(id).ok()?).map(Vec::as_slice)
    }

    /// Returns the current tree head.
    pub fn tree(&self) -> Tree {
        let hash =
            tree_hash(self.len(), self.hashes.as_slice()).expect("a memory log stores every hash its tree needs");
        Tree { size: self.len(), hash }
    }

    /// Returns every tile that exists for the current tree, as Go's server
    /// would publish them: full tiles and the partial tile at each level.
    pub fn tiles(&self) -> Vec<Tile> {
        new_tiles(TILE_HEIGHT, 0, self.len())
    }

    /// Returns the data of a hash or data tile, or `None` when the tile does
    /// not exist at the current size (a partial tile narrower than the current
    /// one still exists: it is a prefix).
    pub fn tile_data(&self, tile: &Tile) -> Option<Vec<u8>> {
        let start = tile.n.checked_mul(1 << tile.height)?;
        let stop = start.checked_add(u64::from(tile.width))?;
        if tile.level == DATA_LEVEL {
            if stop > self.len() {
                return None;
            }
            let mut data = Vec::new();
            for id in start..stop {
                data.extend_from_slice(self.record(id)?);
                data.push(b'\n');
            }
            return Some(data);
        }
        let level_shift = u64::from(tile.height) * u64::try_from(tile.level).ok()?;
        let available = if level_shift >= 64 {
            0
        } else {
            self.len() >> level_shift
        };
        if stop > available {
            return None;
        }
        read_tile_data(tile, self.hashes.as_slice()).ok()
    }
}

impl HashReader for MemoryLog {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, TlogError> {
        self.hashes.as_slice().read_hashes(indexes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computes the RFC 6962 root of leaf hashes directly.
    fn reference_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => Hash::default(),
            1 => leaves[0],
            n => {
                let (k, _) = max_pow2(n as u64);
                let k = k as usize;
                node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
            }
        }
    }

    fn log_of(size: u64) -> (MemoryLog, Vec<Hash>) {
        let mut log = MemoryLog::new();
        let mut leaves = Vec::new();
        for i in 0..size {
            let text = format!("record {i}\n");
            log.append(text.as_bytes()).unwrap();
            leaves.push(record_hash(text.as_bytes()));
        }
        (log, leaves)
    }

    /// Fetches the tiles of a plan from the log itself.
    fn fetch(log: &MemoryLog, plan: &TileHashPlan) -> Vec<Vec<u8>> {
        plan.tiles()
            .iter()
            .map(|tile| log.tile_data(tile).expect("tile exists"))
            .collect()
    }

    #[test]
    fn stored_hash_index_round_trips() {
        for index in 0..5000 {
            let (level, n) = split_stored_hash_index(index);
            assert_eq!(stored_hash_index(level, n), index);
        }
        assert_eq!(stored_hash_index(0, 0), 0);
        assert_eq!(stored_hash_index(0, 1), 1);
        assert_eq!(stored_hash_index(1, 0), 2);
        assert_eq!(stored_hash_index(0, 2), 3);
    }

    #[test]
    fn memory_log_root_matches_rfc6962() {
        for size in [0, 1, 2, 3, 7, 8, 9, 255, 256, 257, 1000] {
            let (log, leaves) = log_of(size);
            assert_eq!(log.tree().hash, reference_root(&leaves), "size {size}");
            assert_eq!(stored_hash_count(size), log.hashes.len() as u64, "size {size}");
        }
    }

    #[test]
    fn tile_paths_match_go() {
        let tile = Tile {
            height: 8,
            level: 0,
            n: 1_234_067,
            width: 5,
        };
        assert_eq!(tile.path(), "tile/8/0/x001/x234/067.p/5");
        assert_eq!(Tile::parse("tile/8/0/x001/x234/067.p/5").unwrap(), tile);
        let data = Tile {
            height: 8,
            level: DATA_LEVEL,
            n: 3,
            width: 256,
        };
        assert_eq!(data.path(), "tile/8/data/003");
        assert_eq!(Tile::parse("tile/8/data/003").unwrap(), data);
        assert_eq!(
            Tile {
                height: 3,
                level: 4,
                n: 1_234_067,
                width: 8
            }
            .path(),
            "tile/3/4/x001/x234/067"
        );
        for bad in [
            "tile/8/0/67",
            "tile/8/0/067.p/256",
            "tile/8/0/067.p/0",
            "tile/8/-1/067",
            "tile/0/0/067",
            "tile/8/0/x000/067",
            "tile/8/0/1067",
            "tiles/8/0/067",
            "tile/8/0",
            "tile/8/0/x999/x999/x999/x999/x999/x999/x999/999",
        ] {
            assert!(Tile::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn new_tiles_lists_full_and_partial_tiles() {
        let tiles: Vec<String> = new_tiles(8, 0, 600).iter().map(Tile::path).collect();
        assert_eq!(tiles.len(), 2 + 88 + 2);
        assert_eq!(&tiles[..3], ["tile/8/0/000", "tile/8/0/001", "tile/8/0/002.p/1"]);
        assert_eq!(tiles.last().unwrap(), "tile/8/1/000.p/2");
        // Go republishes the current partial tiles even when the size is unchanged.
        let same: Vec<String> = new_tiles(8, 600, 600).iter().map(Tile::path).collect();
        assert_eq!(same, ["tile/8/0/002.p/88", "tile/8/1/000.p/2"]);
    }

    #[test]
    fn tree_note_round_trips() {
        let (log, _) = log_of(5);
        let text = format_tree(&log.tree());
        assert!(text.starts_with("go.sum database tree\n5\n"));
        assert_eq!(parse_tree(&text).unwrap(), log.tree());
        assert_eq!(parse_tree(&format!("{text}extra line\n")).unwrap(), log.tree());
        for bad in [
            "go.sum database tree\n05\nAAAA\n",
            "go.sum database tree\n5\n",
            "tree\n5\nx\n",
        ] {
            assert_eq!(parse_tree(bad), Err(TlogError::MalformedTree), "{bad:?}");
        }
    }

    #[test]
    fn record_round_trips() {
        let msg = format_record(42, b"a b h1:x\n").unwrap();
        assert_eq!(msg, b"42\na b h1:x\n\n");
        let mut body = msg.clone();
        body.extend_from_slice(b"rest");
        assert_eq!(parse_record(&body).unwrap(), (42, &b"a b h1:x\n"[..], &b"rest"[..]));
        assert!(format_record(1, b"no newline").is_err());
        assert!(format_record(1, b"a\n\nb\n").is_err());
        assert!(parse_record(b"-1\nx\n\n").is_err());
        assert!(parse_record(b"1\nx\n").is_err());
        assert!(parse_record(b"x\ny\n\n").is_err());
    }

    #[test]
    fn tiles_prove_every_leaf() {
        for size in [1, 2, 3, 255, 256, 257, 600, 65_537] {
            let (log, leaves) = log_of(size);
            for id in [0, size / 2, size - 1] {
                let plan = plan_tile_hashes(log.tree(), TILE_HEIGHT, &[stored_hash_index(0, id)]).unwrap();
                let hashes = plan.verify(&fetch(&log, &plan)).unwrap();
                assert_eq!(hashes, [leaves[id as usize]], "size {size} id {id}");
            }
        }
    }

    #[test]
    fn tiles_prove_older_tree_roots() {
        let (log, leaves) = log_of(65_600);
        for old_size in [1, 255, 256, 65_536, 65_537, 65_599, 65_600] {
            let indexes = tree_hash_indexes(old_size);
            let plan = plan_tile_hashes(log.tree(), TILE_HEIGHT, &indexes).unwrap();
            let hashes = plan.verify(&fetch(&log, &plan)).unwrap();
            let root = tree_hash_from_hashes(old_size, &hashes).unwrap();
            assert_eq!(
                root,
                reference_root(&leaves[..old_size as usize]),
                "old size {old_size}"
            );
        }
    }

    #[test]
    fn tampered_tile_is_rejected() {
        let (log, _) = log_of(600);
        let plan = plan_tile_hashes(log.tree(), TILE_HEIGHT, &[stored_hash_index(0, 10)]).unwrap();
        let good = fetch(&log, &plan);
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i][0] ^= 1;
            assert!(plan.verify(&bad).is_err(), "tile {i}");
            let mut short = good.clone();
            short[i].pop();
            assert!(matches!(plan.verify(&short), Err(TlogError::TileDataLength { .. })));
        }
    }

    #[test]
    fn index_outside_tree_is_rejected() {
        let (log, _) = log_of(3);
        let err = plan_tile_hashes(log.tree(), TILE_HEIGHT, &[stored_hash_index(0, 3)]).unwrap_err();
        assert!(matches!(err, TlogError::IndexNotInTree { .. }));
    }

    #[test]
    fn data_tiles_hold_records_with_blank_lines() {
        let (log, _) = log_of(3);
        let tile = Tile {
            height: 8,
            level: DATA_LEVEL,
            n: 0,
            width: 3,
        };
        assert_eq!(log.tile_data(&tile).unwrap(), b"record 0\n\nrecord 1\n\nrecord 2\n\n");
        assert_eq!(log.tile_data(&Tile { width: 4, ..tile }), None);
        assert!(log.tile_data(&Tile { width: 2, ..tile }).is_some());
    }
}
